"""What Plesk's analysis asks of the Postfix model it is handed (the Postfix system's PostfixConfig):
described here as a protocol, so that this package never imports Postfix's."""

from __future__ import annotations

from typing import Protocol

from mailcfg.findings import Location


class Smtpd(Protocol):
    name: str

    def value(self, name: str) -> str: ...

    def where(self, name: str) -> Location | None: ...

    def enabled(self, name: str) -> bool: ...

    def restrictions(self, *lists: str) -> list[str]: ...


class Postfix(Protocol):
    def smtpd_on_port(self, port: int) -> Smtpd | None: ...
