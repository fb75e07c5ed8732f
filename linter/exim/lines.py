"""Physical configuration lines with the file and line each came from.

Exim reads its configuration a physical line at a time (macro substitution, `.ifdef`, `.include`
and continuation all work on physical lines), so everything downstream keeps the origin of each.
Debian's generator produces lines too: those it writes itself point at the setting that made them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from mailcfg.findings import Location


@dataclass(frozen=True)
class Origin:
    """A file and line of the configuration."""

    file: str  # snapshot-relative path, as findings report it
    line: int  # from 1

    @cached_property  # every step of every decision's trace points somewhere (Location is frozen)
    def location(self) -> Location:
        return Location(self.file, self.line)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class PhysicalLine:
    """One line of a configuration file as written."""

    text: str  # without its line ending
    origin: Origin
