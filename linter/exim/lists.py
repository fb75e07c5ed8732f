"""Exim lists: splitting them as string_nextinlist does, and the answer of one list for a subject.

A list match is three-valued: True, False, or None when the answer needs what the snapshot cannot
show (DNS, a lookup file that is not there, an expansion this model does not evaluate). The engine
names what it could not decide.
"""

from __future__ import annotations

import functools
from typing import NamedTuple


def split_list(text: str) -> list[str]:
    """The items of an Exim list: `:` or a `<x` separator, doubled separators taken literally,
    blanks around items removed, an empty last item dropped."""
    return list(_split(text))


@functools.lru_cache(maxsize=4096)  # the same lists are split again for every probe
def _split(text: str) -> tuple[str, ...]:
    sep = ":"
    i = 0
    s = text.lstrip()
    if len(s) >= 2 and s[0] == "<" and (_ispunct(s[1]) or ord(s[1]) < 32):
        sep = s[1]
        i = 2
        while i < len(s) and s[i].isspace() and s[i] != sep:
            i += 1
    items: list[str] = []
    while True:
        while i < len(s) and s[i].isspace() and s[i] != sep:
            i += 1
        if i >= len(s):
            return tuple(items)
        pieces = []  # up to each doubled separator, which stands for one taken literally
        while True:
            end = s.find(sep, i)
            if end < 0:
                end = len(s)
            pieces.append(s[i:end])
            if s[end + 1:end + 2] != sep:
                break
            pieces.append(sep)
            i = end + 2
        items.append("".join(pieces).rstrip())
        i = end + 1  # past the separator
        if i > len(s):
            return tuple(items)


def _ispunct(c: str) -> bool:
    return c.isascii() and not c.isalnum() and not c.isspace() and c.isprintable()


def join_list(items: list[str], sep: str = ":") -> str:
    """Items written back as a list with `sep`, doubling it inside items."""
    if sep == ":":
        return " : ".join(i.replace(":", "::") for i in items)
    return f"<{sep} " + f" {sep} ".join(items)


def list_separator(text: str) -> str:
    s = text.lstrip()
    return s[1] if len(s) >= 2 and s[0] == "<" and (_ispunct(s[1]) or ord(s[1]) < 32) else ":"


class Outcome(NamedTuple):  # a tuple: made for every list a new subject is matched against
    """How a list answered: the result, the item that decided it, and what could not be decided."""

    result: bool | None
    item: str = ""  # the item that matched (with its `!`), or "" at the end of the list
    undecided: str = ""  # why the result is None
