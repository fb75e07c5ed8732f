"""Edits to configuration files: whole physical lines replaced, inserted or removed.

A fix is a list of `Edit`s. Each names a snapshot-relative file and a range of physical lines;
every line outside the ranges is kept byte for byte, so comments, blank lines and the formatting
of untouched settings survive. Replacement text is rendered from the Jinja templates in
`templates/` (`render`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from itertools import pairwise

from mailcfg import packaged


class Edit:
    """Replace physical lines `first`..`last` (from 1) of `file` by `text` (whole lines, each
    ending in a newline). `last == first - 1` inserts before line `first`; empty `text` removes.

    `text` may be given as a function that makes it, called the first time the text is read: a lint
    reports which findings have a fix and how safe it is, and only `--show-fixes`, `fix` and the like
    read the text, so the lint of one Postfix snapshot never imports jinja2 (a fifth of its start-up).
    An edit sent to another process (a lint of many targets on every core) is sent with its text."""

    __slots__ = ("_text", "file", "first", "last")

    def __init__(self, file: str, first: int, last: int, text: str | Callable[[], str]) -> None:
        if first < 1 or last < first - 1:
            raise ValueError(f"bad line range {first}..{last}")
        self.file, self.first, self.last = file, first, last
        self._text = _whole_lines(text) if isinstance(text, str) else text

    @property
    def text(self) -> str:
        if not isinstance(self._text, str):
            self._text = _whole_lines(self._text())
        return self._text

    def _key(self) -> tuple[str, int, int, str]:
        return self.file, self.first, self.last, self.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Edit) and self._key() == other._key()

    def __hash__(self) -> int:  # without the text: a set of edits renders only those of the same lines
        return hash((self.file, self.first, self.last))

    def __repr__(self) -> str:
        return f"Edit(file={self.file!r}, first={self.first!r}, last={self.last!r}, text={self.text!r})"

    def __reduce__(self):  # to another process (parallel lint) as text: a function may not pickle
        return Edit, self._key()


def _whole_lines(text: str) -> str:
    if text and not text.endswith("\n"):
        raise ValueError("edit text must end with a newline")
    return text


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
