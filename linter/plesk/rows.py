"""Tab-separated rows as `plesk db -N -B -e` prints them ([V-3p]: one row a line, columns split by a tab)."""

from __future__ import annotations

from dataclasses import dataclass

from mailcfg.errors import MailcfgError
from mailcfg.findings import Location
from mailcfg.source import SourceFile


@dataclass(frozen=True)
class Row:
    """One row of a `plesk db` table, and where it is in the collected output."""

    cells: tuple[str, ...]
    location: Location  # the row's first cell

    def at(self, cell: int) -> Location:
        """Where cell `cell` (from 0) starts."""
        column = 1 + sum(len(c) + 1 for c in self.cells[:cell])
        return Location(self.location.file, self.location.line, column)


def rows(source: SourceFile, columns: int, fewest: int | None = None) -> list[Row]:
    """The rows of `source`, each with `fewest` (default `columns`) to `columns` cells, missing ones empty;
    blank lines are skipped. A row of another shape is bad input: one line naming file and line."""
    found = []
    for number, line in enumerate(source.lines, 1):
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        cells = tuple(text.split("\t"))
        if not (fewest or columns) <= len(cells) <= columns:
            raise MailcfgError(f"{source.path}, line {number}: expected {columns} tab-separated columns, "
                               f"found {len(cells)}")
        cells += ("",) * (columns - len(cells))
        found.append(Row(cells, Location(source.path, number, 1)))
    return found
