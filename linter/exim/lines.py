"""Physical configuration lines with the file and line each came from.

Exim reads its configuration a physical line at a time (macro substitution, `.ifdef`, `.include`
and continuation all work on physical lines), so everything downstream keeps the origin of each.
Debian's generator produces lines too: those it writes itself point at the setting that made them.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailcfg.findings import Location


class _Location:
    """Origin.location, made on first read and kept in the origin, as functools.cached_property would keep it
    but without the lock Python 3.11's takes at every first read: a configuration's first decisions read a
    hundred origins' locations for their traces."""

    def __get__(self, origin: Origin | None, owner: type | None = None) -> Location:
        if origin is None:
            raise AttributeError("location is an origin's")
        location = origin.__dict__["location"] = Location(origin.file, origin.line)  # read from there on
        return location


@dataclass(frozen=True)
class Origin:
    """A file and line of the configuration."""

    file: str  # snapshot-relative path, as findings report it
    line: int  # from 1
    location = _Location()  # every step of every decision's trace points somewhere (Location is frozen)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class PhysicalLine:
    """One line of a configuration file as written."""

    text: str  # without its line ending
    origin: Origin
