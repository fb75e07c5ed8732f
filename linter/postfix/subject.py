"""What a Postfix finding is about, from where it is: the subject of its fingerprint.

main.cf: the parameter; master.cf: the service (`name/type`), with the `-o` parameter when the
finding is on an override; a lookup table: the key; a line Postfix cannot read: its text. Line
numbers and values never enter it.
"""

from __future__ import annotations

from mailcfg.postfix.config import PostfixConfig
from mailcfg.source import LogicalLine


def subject(config: PostfixConfig, file: str, line: int) -> str | None:
    found = config.remember(("subject-index",), lambda: _index(config)).get((file, line))
    if found is not None:
        return found
    for source in (config.main.source, config.master.source):
        if file == source.path and 0 < line <= len(source.lines):
            # a line Postfix cannot read names no parameter or service: it stands for itself
            return "line " + " ".join(source.line_text(line).split())
    return None


def _index(config: PostfixConfig) -> dict[tuple[str, int], str]:
    index: dict[tuple[str, int], str] = {}
    for p in config.main.entries:
        _cover(index, p.file, p.line, p.name)
    for s in config.master.services:
        _cover(index, s.file, s.line, s.key)
        for o in s.overrides:
            if o.location.line is not None and o.location.line != s.line.first_line:
                index[(s.file, o.location.line)] = f"{s.key} -o {o.name}"
    for table in config.tables():
        if table.source is not None:
            for entry in table.entries:
                if entry.location is not None and entry.location.line is not None:
                    index.setdefault((table.source.path, entry.location.line), entry.key)
    return index


def _cover(index: dict[tuple[str, int], str], file: str, line: LogicalLine, name: str) -> None:
    for number in line.lines:
        index[(file, number)] = name
