"""Plesk's server-wide mail settings (psa `misc` rows) and what each means.

Tags (../shared/reference/plesk.md §2.2, plesk-postfix.md §0 and §4):
- [V] `relay` is `auth` when relaying needs authorization; [I] `open` and `closed` are the other modes.
- [V] Plesk reads disable_smtp_auth and disable_pop_auth as Perl truth: a missing row, an empty value
  or `0` means the authorization type is ON. [I] `false` (the value the reference lists as the other
  state) is read as "not disabled" too, like `no` and `off`.
- [V] The two authorization types only count in relay mode `auth` (Plesk's backup writes them only then).
- [V] message_submission is on only when it is exactly `true`.
- [I] poplock_time is in minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailcfg.asciidigits import digits
from mailcfg.findings import Location
from mailcfg.plesk.rows import Row

FALSE_WORDS = ("", "0", "false", "no", "off")
MODES = ("open", "closed", "auth")


@dataclass
class MailSettings:
    """Plesk's mail settings (the misc table's mail parameters), by name."""

    rows: dict[str, Row]  # param -> its row (the last one, as a key/value table holds one)

    def value(self, param: str) -> str | None:
        row = self.rows.get(param)
        return row.cells[1].strip() if row is not None else None

    def location(self, param: str) -> Location | None:
        row = self.rows.get(param)
        return row.at(1) if row is not None else None

    @property
    def relay(self) -> str | None:
        """open, closed or auth; None when the row is missing or holds another word (nothing guessed)."""
        value = (self.value("relay") or "").lower()
        return value if value in MODES else None

    def _disabled(self, param: str) -> bool:
        return (self.value(param) or "").lower() not in FALSE_WORDS

    @property
    def smtp_auth(self) -> bool:
        """SMTP AUTH lets a logged-in user relay (relay mode auth only)."""
        return self.relay == "auth" and not self._disabled("disable_smtp_auth")

    @property
    def pop_auth(self) -> bool:
        """POP3 authorization (POP-before-SMTP) lets an address relay after a POP login (relay mode auth only)."""
        return self.relay == "auth" and not self._disabled("disable_pop_auth")

    @property
    def poplock_minutes(self) -> int | None:
        value = self.value("poplock_time")
        return int(value) if value is not None and digits(value) else None

    @property
    def submission(self) -> bool:
        return self.value("message_submission") == "true"

    def auth_type(self, stored: bool = False) -> str | None:
        """The `-auth-type` of `plesk bin mailserver --set-relay auth` these settings amount to (`stored`:
        the rows as they are, which Plesk keeps in the other modes too, where they have no effect)."""
        pop = not self._disabled("disable_pop_auth") if stored else self.pop_auth
        smtp = not self._disabled("disable_smtp_auth") if stored else self.smtp_auth
        if pop and smtp:
            return "both"
        return "pop3" if pop else "smtp" if smtp else None

    def why(self, param: str) -> str:
        """How a row reads, for a message: `disable_smtp_auth = true` or `no disable_pop_auth row`."""
        value = self.value(param)
        return f"no {param} row" if value is None else f"{param} = {value or '(empty)'}"
