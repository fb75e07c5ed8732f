"""A fix: the edits that repair one finding, and whether they are safe to apply unasked.

Safe fixes keep every legitimate client working; unsafe ones can lock some out (a narrower
mynetworks) or drop a function the admin may rely on, and run only with --unsafe-fixes.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailcfg.edits import Edit

SAFE, UNSAFE = "safe", "unsafe"
RELOAD_POSTFIX = ("postfix reload",)  # Fix.after for changes to main.cf or master.cf


@dataclass(frozen=True)
class Fix:
    rule: str
    safety: str  # SAFE or UNSAFE
    summary: str  # what it changes, one line
    edits: tuple[Edit, ...]
    after: tuple[str, ...] = ()  # what must run once the files are in place (reload, update-exim4.conf)

    def __post_init__(self) -> None:
        if self.safety not in (SAFE, UNSAFE):
            raise ValueError(f"fix for {self.rule}: safety must be safe or unsafe")
        if not self.edits:
            raise ValueError(f"fix for {self.rule}: no edits")
