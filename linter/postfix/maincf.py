"""main.cf: `name = value` logical lines, last definition wins."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from mailcfg.findings import Location
from mailcfg.source import BLANKS, LogicalLine, OrphanLine, SourceFile, logical_lines, rstrip_blanks


@dataclass(frozen=True)
class Problem:
    """Something Postfix rejects or reads differently from how it looks."""

    message: str
    location: Location
    fatal: bool = False  # Postfix refuses to run with it


@dataclass
class Parameter:
    """One `name = value` of main.cf."""

    name: str
    value: str  # as written, trailing blanks trimmed, `$` not expanded
    line: LogicalLine
    value_offset: int  # where the value starts in line.text
    file: str

    @cached_property  # asked for by every step of every decision that names the parameter
    def location(self) -> Location:
        return Location(self.file, self.line.first_line, 1)

    def at(self, offset: int = 0) -> Location:
        """Location of the character `offset` into the value."""
        line, column = self.line.position(self.value_offset + offset)
        return Location(self.file, line, column)


@dataclass
class MainCf:
    """main.cf, parsed."""

    source: SourceFile
    entries: list[Parameter] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def path(self) -> str:
        return self.source.path

    def definitions(self, name: str) -> list[Parameter]:
        return [e for e in self.entries if e.name == name]

    def get(self, name: str) -> Parameter | None:
        """The definition Postfix uses: the last one."""
        return self.last.get(name)

    @cached_property
    def last(self) -> dict[str, Parameter]:
        return {e.name: e for e in self.entries}


def parse_main_cf(source: SourceFile) -> MainCf:
    result = MainCf(source)
    for item in logical_lines(source):
        if isinstance(item, OrphanLine):
            result.problems.append(Problem(
                "line starts with whitespace but continues nothing; Postfix skips it",
                Location(source.path, item.line, 1)))
            continue
        parsed = _split_nameval(item, source.path)
        if isinstance(parsed, Problem):
            result.problems.append(parsed)
        else:
            result.entries.append(parsed)
    return result


def _split_nameval(line: LogicalLine, path: str) -> Parameter | Problem:
    text = line.text
    end = 0
    while end < len(text) and text[end] not in BLANKS and text[end] != "=":
        end += 1
    name = text[:end]
    eq = end
    while eq < len(text) and text[eq] in BLANKS:
        eq += 1
    where = Location(path, line.first_line, 1)
    if not name:
        return Problem("missing parameter name before '='", where, fatal=True)
    if eq >= len(text) or text[eq] != "=":
        return Problem(f"missing '=' after parameter name {name!r}: Postfix stops reading main.cf here",
                       where, fatal=True)
    start = eq + 1
    while start < len(text) and text[start] in BLANKS:
        start += 1
    return Parameter(name, rstrip_blanks(text[start:]), line, start, path)
