"""Edits to configuration files: whole physical lines replaced, inserted or removed.

A fix is a list of `Edit`s. Each names a snapshot-relative file and a range of physical lines;
every line outside the ranges is kept byte for byte, so comments, blank lines and the formatting
of untouched settings survive. Replacement text is rendered from the Jinja templates in
`templates/` (`render`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from itertools import pairwise

from mailcfg import packaged


@dataclass(frozen=True)
class Edit:
    """Replace physical lines `first`..`last` (from 1) of `file` by `text` (whole lines, each
    ending in a newline). `last == first - 1` inserts before line `first`; empty `text` removes."""

    file: str
    first: int
    last: int
    text: str

    def __post_init__(self) -> None:
        if self.first < 1 or self.last < self.first - 1:
            raise ValueError(f"bad line range {self.first}..{self.last}")
        if self.text and not self.text.endswith("\n"):
            raise ValueError("edit text must end with a newline")


def apply(lines: list[str], edits: list[Edit]) -> list[str]:
    """`lines` (one file's physical lines, with their endings) after `edits`, which must not overlap."""
    result = list(lines)
    if result and not result[-1].endswith("\n") and any(e.first > len(result) for e in edits):
        result[-1] += "\n"  # appending after a last line that had no newline
    ordered = sorted(edits, key=lambda e: (e.first, e.last))
    for a, b in pairwise(ordered):
        if b.first <= a.last or (a.first == b.first and a.last < a.first and b.last < b.first):
            raise ValueError(f"overlapping edits in {a.file} at line {b.first}")
    for e in reversed(ordered):
        result[e.first - 1:e.last] = e.text.splitlines(keepends=True)
    return result


@cache
def _environment():
    # Imported here: only fixes render, and every command loads this module through the rules.
    import jinja2

    # Config files, not HTML: no autoescaping; a missing value is an error, never an empty string.
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(packaged.folder("mailcfg.templates"))),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True, autoescape=False)


def render(template: str, **values) -> str:
    """Render `templates/<template>` (a whole number of lines)."""
    return _environment().get_template(template).render(**values)
