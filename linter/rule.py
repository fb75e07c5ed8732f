"""A rule: metadata, a doc page, and a check that yields findings for one mail system."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mailcfg import packaged
from mailcfg.findings import Finding, Location, Severity
from mailcfg.fix import Fix

TAGS = ("relay", "auth", "tls", "deliverability", "syntax", "deprecated")


@dataclass
class Rule:
    """One check: its id, severity, tags, the system it reads and how it fixes."""

    id: str
    title: str
    severity: Severity
    tags: tuple[str, ...]
    system: str  # postfix, exim, plesk
    aliases: tuple[str, ...] = ()
    check: Callable[[Any], Iterable[Finding]] = field(default=lambda _ctx: (), repr=False)
    fix: Callable[[Any, Finding], Fix | None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        unknown = set(self.tags) - set(TAGS)
        if unknown:
            raise ValueError(f"rule {self.id}: unknown tags {sorted(unknown)}")

    def checker(self, func: Callable[[Any], Iterable[Finding]]) -> Callable[[Any], Iterable[Finding]]:
        """Decorator: `func(context)` is this rule's check."""
        self.check = func
        return func

    def fixer(self, func: Callable[[Any, Finding], Fix | None]) -> Callable[[Any, Finding], Fix | None]:
        """Decorator: `func(context, finding)` returns the fix for one of this rule's findings, or
        None when no correct fix exists for it."""
        self.fix = func
        return func

    def finding(self, message: str, location: Location | None = None, *, service: str | None = None,
                severity: Severity | None = None, fix: str | None = None) -> Finding:
        return Finding(self.id, severity or self.severity, message, location or Location(), service, fix)

    @property
    def doc(self) -> str:
        return packaged.text("mailcfg.rules", "docs", f"{self.id}.md")
