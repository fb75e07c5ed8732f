"""What a rule reports: one problem at one place."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"info": 1, "warning": 2, "error": 3}[self.value]


@dataclass(frozen=True)
class Location:
    """A place in a snapshot file; `file` is snapshot-relative, line and column count from 1."""

    file: str | None = None
    line: int | None = None
    column: int | None = None


@dataclass(frozen=True)
class Finding:
    """One problem a rule found, where it is, and the fix it offers if any."""

    rule: str
    severity: Severity
    message: str
    location: Location = Location()
    service: str | None = None
    fix: str | None = None  # None, "safe" or "unsafe"
    # what the finding is about, line-independent: a main.cf parameter, a master.cf service, an Exim
    # option or ACL statement (set by the rule, or by the mail system's seam from the location)
    subject: str | None = None
    fingerprint: str | None = None  # mailcfg.fingerprint, set once a target's findings are complete

    @property
    def docs(self) -> str:
        """The rule's doc page, as a path in the repository."""
        return f"rules/docs/{self.rule}.md"

    def to_json(self) -> dict:
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "message": self.message,
            "file": self.location.file,
            "line": self.location.line,
            "column": self.location.column,
            "service": self.service,
            "fix": self.fix,
            "subject": self.subject,
            "fingerprint": self.fingerprint,
            "docs": self.docs,
        }
