"""Fixes through Plesk's own CLI: short `plesk bin mailserver` scripts rendered from templates/plesk/.

Plesk regenerates main.cf and master.cf from its settings, so a Plesk fix never edits them. A switch is
used only when the host's `plesk bin mailserver --help` lists it (the names are [V-3p] at best); without
it there is no automatic fix and the finding says why. Each fix carries the commands that set back what
it changes, from the values in the snapshot (the host's state before the change).

Facts ([V-3p], plesk.md §1.2): `--set-relay auth -auth-type pop3|smtp|both [-lock-time N]`.
[I]: `--set-relay open|closed` (the GUI's mode names), `--set-message-submission true|false`,
`--remove-from-white-list` / `--add-to-white-list` (recalled, feature-detected).
"""

from __future__ import annotations

import shlex

from mailcfg.edits import render
from mailcfg.findings import Finding
from mailcfg.fix import SAFE, UNSAFE, Fix
from mailcfg.plesk.config import PleskConfig
from mailcfg.plesk.settings import MailSettings

SET_RELAY = ("--set-relay", "-auth-type")
SUBMISSION = ("--set-message-submission",)
WHITE_LIST = ("--remove-from-white-list", "--add-to-white-list")


def missing_switches(config: PleskConfig, needed: tuple[str, ...]) -> str | None:
    """Why a fix needing these switches cannot be made on this host, or None when it can."""
    if config.switches is None:
        return "no automatic fix: the snapshot lacks `plesk bin mailserver --help`, which says which switches " \
               "this Plesk has"
    absent = [s for s in needed if s not in config.switches]
    if absent:
        return f"no automatic fix: this Plesk's `plesk bin mailserver --help` lists no {', '.join(absent)}; " \
               "change it in Tools & Settings > Mail Server Settings"
    return None


def note(config: PleskConfig, needed: tuple[str, ...]) -> str:
    """What a finding adds when its fix cannot be made on this host."""
    why = missing_switches(config, needed)
    return f" ({why})" if why else ""


def _lines(text: str) -> tuple[str, ...]:
    return tuple(line for line in text.splitlines() if line.strip())


def _relay(mode: str, auth_type: str | None = None, lock_time: int | None = None) -> str:
    return render("plesk/set_relay.j2", q=shlex.quote, mode=mode, auth_type=auth_type,
                  lock_time=None if lock_time is None else str(lock_time))


def _lock_time(config: PleskConfig, settings: MailSettings) -> int | None:
    """The POP lock time to give with -lock-time where the host's help has it."""
    switches = config.switches or frozenset()
    return settings.poplock_minutes if "-lock-time" in switches else None


def restore_relay(config: PleskConfig, settings: MailSettings) -> list[str]:
    """Commands that bring the relay settings back to `settings`: the authorization types first (Plesk
    keeps them in every mode), then the mode. Relay mode auth with no type at all is set back as closed,
    which lets the same clients relay (the white list only); in the other modes stored types that
    -auth-type cannot express (none) come back as smtp, which has no effect there."""
    kind = settings.auth_type(stored=True)
    lock = _lock_time(config, settings) if kind in ("pop3", "both") else None
    if settings.relay == "auth":
        return [_relay("auth", kind, lock)] if kind else [_relay("closed")]
    return [_relay("auth", kind or "smtp", lock), _relay(settings.relay or "auth")]


def auth_fix(config: PleskConfig, finding: Finding) -> Fix | None:
    """Relay mode auth with SMTP AUTH: from open or closed (safe: nobody who may send now is refused; an
    open relay's strangers are refused, which is the point), adding SMTP AUTH to POP3 (safe), or dropping
    POP-before-SMTP (unsafe: clients that never log in to SMTP must now)."""
    settings = config.settings
    if settings is None or settings.relay is None or missing_switches(config, SET_RELAY):
        return None
    keep_pop = finding.rule != "plesk-pop-before-smtp" and settings.pop_auth
    lock = _lock_time(config, settings) if keep_pop else None
    command = _relay("auth", "both" if keep_pop else "smtp", lock).strip()
    safety = UNSAFE if finding.rule == "plesk-pop-before-smtp" else SAFE
    summary = {"plesk-pop-before-smtp": "Plesk: POP-before-SMTP off, users relay after SMTP AUTH",
               "plesk-relay-open": "Plesk: relay mode auth (SMTP AUTH) instead of open",
               }.get(finding.rule, "Plesk: users relay after SMTP AUTH")
    restore = tuple(c.strip() for c in restore_relay(config, settings))
    return Fix(finding.rule, safety, summary, (), commands=(command,), restore=restore)


def submission_fix(config: PleskConfig, finding: Finding) -> Fix | None:
    if config.settings is None or missing_switches(config, SUBMISSION):
        return None
    def script(value: str) -> tuple[str, ...]:
        return _lines(render("plesk/message_submission.j2", q=shlex.quote, value=value))

    return Fix(finding.rule, SAFE, "Plesk: message submission on (port 587)", (), commands=script("true"),
               restore=script("false"))


def whitelist_fix(config: PleskConfig, finding: Finding, networks: list[str]) -> Fix | None:
    """The white-list entries judged too wide removed (unsafe: hosts there must authenticate from now on)."""
    if not networks or missing_switches(config, WHITE_LIST):
        return None

    def script(switch: str) -> tuple[str, ...]:
        return _lines(render("plesk/white_list.j2", q=shlex.quote, switch=switch, networks=networks))

    return Fix(finding.rule, UNSAFE, f"Plesk: {', '.join(networks)} removed from the white list", (),
               commands=script("--remove-from-white-list"), restore=script("--add-to-white-list"))
