"""`$name` expansion as Postfix's mac_expand() does it.

Forms: `$name`, `${name}`, `$(name)`, `$$`, `${name?value}`, `${name:value}`, and the 3.0+
`${name?{v1}:{v2}}` and `${{a} op {b} ? {x} : {y}}` (numeric when both sides are digits,
`<level`-style operators compare compatibility levels). Undefined names expand to empty.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from mailcfg.asciidigits import digits

Lookup = Callable[[str], "str | None"]

NAME_CHARS = re.compile(r"[A-Za-z0-9_]+")
MAX_DEPTH = 100
BLANKS = " \t\r\n"


@dataclass
class Expansion:
    """The value of an expansion and what it read on the way."""

    value: str
    references: set[str] = field(default_factory=set)  # every name looked up
    undefined: set[str] = field(default_factory=set)  # plain references to undefined names
    errors: list[str] = field(default_factory=list)


def references(text: str) -> set[str]:
    """Names that `text` refers to, without needing their values."""
    result = Expansion("")
    _Expander(lambda name: "", result).run(text, 0, recurse=False)
    return result.references


def expand(text: str, lookup: Lookup) -> Expansion:
    result = Expansion("")
    result.value = _Expander(lookup, result).run(text, 0)
    return result


# Expanded values remembered across configurations: text -> (the names read, in order, with their raw values;
# the result). A fleet's hosts, and the services of one host, expand the same defaults over the same values.
_KNOWN: dict[str, list[tuple[tuple[tuple[str, str | None], ...], str]]] = {}
_KNOWN_TEXTS = 4096
_KNOWN_PER_TEXT = 8


def expanded(text: str, lookup: Lookup) -> str:
    """`expand(text, lookup).value`, reused where every name it read has the same raw value again.
    The expander reads names in an order fixed by the values read before, so equal values read in
    order mean the same path and the same result; `lookup` is still called for each of them."""
    known = _KNOWN.get(text)
    if known is not None:
        for reads, value in known:
            if all(lookup(name) == raw for name, raw in reads):
                return value
    reads: list[tuple[str, str | None]] = []

    def recorded(name: str) -> str | None:
        raw = lookup(name)
        reads.append((name, raw))
        return raw

    value = expand(text, recorded).value
    if known is None:
        if len(_KNOWN) >= _KNOWN_TEXTS:
            _KNOWN.clear()
        known = _KNOWN[text] = []
    if len(known) < _KNOWN_PER_TEXT:
        known.append((tuple(reads), value))
    return value


def compat_level(text: str) -> tuple[int, ...]:
    """`3.6` -> (3, 6, 0); bad text compares as level 0."""
    parts = text.strip().split(".")
    if not all(digits(p) for p in parts) or len(parts) > 3:
        return (0, 0, 0)
    nums = [int(p) for p in parts]
    return tuple(nums + [0] * (3 - len(nums)))


class _Expander:
    def __init__(self, lookup: Lookup, result: Expansion) -> None:
        self.lookup = lookup
        self.result = result

    def run(self, text: str, depth: int, recurse: bool = True) -> str:
        if depth > MAX_DEPTH:
            self.result.errors.append("unreasonable macro call nesting")
            return ""
        out: list[str] = []
        i, n = 0, len(text)
        while i < n:
            ch = text[i]
            if ch != "$":
                j = text.find("$", i)
                j = n if j < 0 else j
                out.append(text[i:j])
                i = j
                continue
            nxt = text[i + 1] if i + 1 < n else ""
            if nxt == "$":
                out.append("$")
                i += 2
            elif nxt and nxt in "{(":
                close = _matching(text, i + 1)
                if close < 0:
                    self.result.errors.append(f"missing '{'}' if nxt == '{' else ')'}' in {text[i:]!r}")
                    out.append(text[i:])
                    break
                body = text[i + 2 : close]
                out.append(self._braced(body, depth, recurse) if nxt == "{" else
                           self._name(body.strip(BLANKS), depth, recurse, plain=True))
                i = close + 1
            else:
                m = NAME_CHARS.match(text, i + 1)
                if not m:
                    self.result.errors.append(f"empty macro name after '$' in {text!r}")
                    out.append("$")
                    i += 1
                    continue
                out.append(self._name(m.group(0), depth, recurse, plain=True))
                i = m.end()
        return "".join(out)

    def _name(self, name: str, depth: int, recurse: bool, plain: bool) -> str:
        self.result.references.add(name)
        raw = self.lookup(name)
        if raw is None:
            if plain:
                self.result.undefined.add(name)
            return ""
        return self.run(raw, depth + 1, recurse) if recurse else raw

    def _braced(self, body: str, depth: int, recurse: bool) -> str:
        stripped = body.lstrip(BLANKS)
        if stripped.startswith("{"):
            return self._relational(stripped, depth, recurse)
        m = NAME_CHARS.match(stripped)
        if not m:
            self.result.errors.append(f"bad parameter name in '${{{body}}}'")
            return ""
        name, rest = m.group(0), stripped[m.end():].lstrip(BLANKS)
        if not rest:
            return self._name(name, depth, recurse, plain=True)
        op = rest[0]
        if op == "{":  # named function such as domain_to_ascii{...}: value passes through
            self.result.references.add(name)
            return self.run(_unbrace(rest), depth + 1, recurse)
        if op not in "?:":
            self.result.errors.append(f"unknown operator {op!r} in '${{{body}}}'")
            return ""
        value = self._name(name, depth, recurse, plain=False) if recurse else ""
        defined = bool(value) if recurse else True
        first, second = _branches(rest[1:].lstrip(BLANKS))
        # `?` picks the first branch when the value is non-empty, `:` when it is empty.
        chosen = first if defined == (op == "?") else (second or "")
        if not recurse:  # scanning for references: look into both branches
            for part in (first, second):
                if part:
                    self.run(part, depth + 1, recurse)
            return ""
        return self.run(chosen, depth + 1, recurse) if chosen else ""

    def _relational(self, text: str, depth: int, recurse: bool) -> str:
        m = re.fullmatch(
            r"\s*(\{.*?\})\s*(==|!=|<=|>=|<level|<=level|>level|>=level|==level|!=level|<|>)\s*(\{.*?\})"
            r"\s*\?\s*(.*)", text, re.S)
        if not m:
            self.result.errors.append(f"bad relational expression '${{{text}}}'")
            return ""
        left = self.run(_unbrace(m.group(1)), depth + 1, recurse)
        right = self.run(_unbrace(m.group(3)), depth + 1, recurse)
        when_true, when_false = _branches(m.group(4))
        if not recurse:
            for part in (when_true, when_false):
                if part:
                    self.run(part, depth + 1, recurse)
            return ""
        chosen = when_true if _compare(left.strip(), m.group(2), right.strip()) else (when_false or "")
        return self.run(chosen, depth + 1, recurse) if chosen else ""


def _compare(left: str, op: str, right: str) -> bool:
    base = op.removesuffix("level")
    a: object
    b: object
    if op.endswith("level"):
        a, b = compat_level(left), compat_level(right)
    elif digits(left) and digits(right):
        a, b = int(left), int(right)
    else:
        a, b = left, right
    return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[base]


def _matching(text: str, open_at: int) -> int:
    """Index of the bracket closing the one at `open_at`, or -1."""
    opener = text[open_at]
    closer = "}" if opener == "{" else ")"
    level = 0
    for i in range(open_at, len(text)):
        if text[i] == opener:
            level += 1
        elif text[i] == closer:
            level -= 1
            if level == 0:
                return i
    return -1


def _unbrace(text: str) -> str:
    text = text.strip(BLANKS)
    if text.startswith("{"):
        close = _matching(text, 0)
        if close >= 0:
            return text[1:close].strip(BLANKS)
    return text


def _branches(text: str) -> tuple[str, str | None]:
    """`{v1}:{v2}`, `{v1}` or plain text after `?` / `:`."""
    if not text.startswith("{"):
        return text, None
    close = _matching(text, 0)
    if close < 0:
        return text, None
    first = text[1:close].strip(BLANKS)
    rest = text[close + 1 :].lstrip(BLANKS)
    if rest.startswith(":"):
        return first, _unbrace(rest[1:])
    return first, None
