"""Own-line suppression comments: `# mailcfg: ignore RULE[, RULE] -- reason` directly above a setting.

main.cf and master.cf have no trailing comments, so the directive is a comment line (or one of
a block of comment lines) directly above the setting; it covers every line of that setting.
"""

from __future__ import annotations

import re

from mailcfg.registry import canonical_ids
from mailcfg.source import LogicalLine, OrphanLine, SourceFile, logical_lines

DIRECTIVE = re.compile(r"^\s*#\s*mailcfg:\s*ignore\s+([A-Za-z0-9_,\s-]+?)\s*(?:--.*)?$")


def suppressed_lines(source: SourceFile) -> dict[int, set[str]]:
    """Physical line number -> rule ids suppressed there."""
    result: dict[int, set[str]] = {}
    for item in logical_lines(source):
        if isinstance(item, OrphanLine):
            continue
        ids = _ids_above(item, source)
        if ids:
            for line in range(item.first_line, item.last_line + 1):
                result.setdefault(line, set()).update(ids)
    return result


def _ids_above(line: LogicalLine, source: SourceFile) -> set[str]:
    ids: set[str] = set()
    for number in line.comments_above:
        m = DIRECTIVE.match(source.line_text(number))
        if m:
            for rule_id in re.split(r"[,\s]+", m.group(1).strip()):
                if rule_id:
                    ids |= canonical_ids(rule_id)
    return ids
