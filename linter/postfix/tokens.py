"""Splitting Postfix values into list items the way mystrtokq() and extpar() do.

Separators are commas and blanks (main.cf lists) or blanks only (master.cf arguments); a
`{`...`}` group keeps its separators, and nested groups are counted. An unbalanced `{`
swallows the rest of the value; a `}` with no open group is an ordinary character.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

LIST_SEPARATORS = ", \t\r\n"
BLANK_SEPARATORS = " \t\r\n"
_RUNS = {separators: re.compile(f"[^{separators}]+") for separators in (LIST_SEPARATORS, BLANK_SEPARATORS)}


@dataclass(frozen=True)
class Token:
    """One item of a split value, with where it starts."""

    text: str
    start: int  # offset in the string that was split
    unbalanced: str | None = None  # "{" when a group is never closed, "}" for a stray close

    @property
    def end(self) -> int:
        return self.start + len(self.text)

    @property
    def braced(self) -> bool:
        return self.text.startswith("{")

    def inner(self) -> str:
        """The item with one level of `{ }` removed and surrounding blanks trimmed (extpar)."""
        if self.braced and self.text.endswith("}") and self.unbalanced is None:
            return self.text[1:-1].strip(" \t\r\n")
        return self.text


def split(value: str, separators: str = LIST_SEPARATORS) -> list[Token]:
    return list(_split(value, separators))


@functools.lru_cache(maxsize=8192)  # the same values are split by every rule and every decision
def _split(value: str, separators: str) -> tuple[Token, ...]:
    if "{" in value or "}" in value:
        return _grouped(value, separators)
    return _runs(value, separators)


def _runs(value: str, separators: str) -> tuple[Token, ...]:
    """A value without braces (most of them): its items are the runs between separators."""
    return tuple(Token(m.group(), m.start()) for m in _RUNS[separators].finditer(value))


def _grouped(value: str, separators: str) -> tuple[Token, ...]:
    tokens: list[Token] = []
    i, n = 0, len(value)
    while i < n:
        if value[i] in separators:
            i += 1
            continue
        start, level, stray = i, 0, False
        while i < n:
            ch = value[i]
            if ch == "{":
                level += 1
            elif ch == "}" and level > 0:
                level -= 1
            elif ch == "}":
                stray = True
            elif level == 0 and ch in separators:
                break
            i += 1
        problem = "{" if level > 0 else "}" if stray else None
        tokens.append(Token(value[start:i], start, problem))
    return tuple(tokens)


def split_list(value: str) -> list[str]:
    """Plain item texts of a comma/blank separated list."""
    return [t.text for t in split(value)]
