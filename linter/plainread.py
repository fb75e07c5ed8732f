"""Policy files read fast: JSON, and the plain block YAML people write probe lists in.

A YAML library builds every scalar through Python code, which for a policy of thousands of probes
takes longer than deciding them. Most policy files are JSON or block YAML of the plainest kind: a
top-level `probes:` list of `key: value` mappings with single-line values (and comments).
Those are read here, each list item with the line it starts on. Anything else (escapes, flow
collections, anchors, tags, multi-line values, duplicate keys, a value whose YAML type is not
plainly text, a number or true/false) returns None: the caller then reads the file with
the full YAML parser, which also names file:line on an error.
"""

from __future__ import annotations

import json
import re

from mailcfg.asciidigits import digits

Item = dict[str, object]

_LINE = re.compile(r"( *)(- +)?([A-Za-z_][A-Za-z0-9_]*):(?: +(.*))?\Z")  # "- key: value" or "key: value"
_TRUE, _FALSE, _NULL = ("true", "True", "TRUE"), ("false", "False", "FALSE"), ("", "~", "null", "Null", "NULL")
_INDICATORS = set("-?:,[]{}#&*!|>'\"%@`")  # a plain scalar starting with one is no plain text
# What a YAML reader could take for a number, a special float or a date rather than text.
_NUMBERISH = re.compile(r"[-+]?(?:[0-9_]*\.?[0-9_]*(?:[eE][-+]?[0-9_]+)?|0[oxb][0-9a-fA-F_]+"
                        r"|\.(?:inf|Inf|INF|nan|NaN|NAN))\Z|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}")

_SINGLE = re.compile(r"'((?:[^']|'')*)'(?: +#.*| *)\Z")  # 'text', '' for a quote
_DOUBLE = re.compile(r'"([^"\\]*)"(?: +#.*| *)\Z')  # "text" without escapes


def read(text: str) -> tuple[list[Item], list[int]] | None:
    """The probes (plain dicts) and the line each starts on, or None when the file needs the YAML parser."""
    if text.lstrip().startswith("{"):
        return _json(text)
    return _yaml(text)


def _json(text: str) -> tuple[list[Item], list[int]] | None:
    """Each item of the top-level "probes" array is decoded on its own, so that where it starts is
    known without decoding the file twice."""
    def unique(pairs: list[tuple[str, object]]) -> dict:
        if len({k for k, _ in pairs}) != len(pairs):
            raise ValueError("duplicate key")  # the YAML parser names where
        return dict(pairs)

    if "\r" in text and "\r" in text.replace("\r\n", ""):
        return None  # a bare CR ends a line too: the YAML parser counts the lines then
    decoder = json.JSONDecoder(object_pairs_hook=unique)
    try:
        found = _json_probes(decoder, text)
    except ValueError:
        return None
    if found is None or not found[0]:
        return None
    probes, starts = found
    lines, line, last = [], 1, 0
    for at in starts:  # counted on from the item before: one pass over the text
        line += text.count("\n", last, at)
        lines.append(line)
        last = at
    return probes, lines


_BLANK = re.compile(r"[ \t\r\n]*")


def _json_probes(decoder: json.JSONDecoder, text: str) -> tuple[list[Item], list[int]] | None:
    """The items of the top-level object's "probes" array and where each starts (offsets into
    `text`); None when the file is some other JSON. Raises ValueError where it is no JSON."""
    blank = _BLANK.match
    i = blank(text).end()
    if text[i:i + 1] != "{":
        return None
    keys: set[str] = set()
    probes: list[Item] | None = None
    starts: list[int] = []
    i = blank(text, i + 1).end()
    if text[i:i + 1] == "}":
        return None
    while True:
        if text[i:i + 1] != '"':
            raise ValueError("not an object key")
        key, i = decoder.raw_decode(text, i)
        if key in keys:
            raise ValueError("duplicate key")
        keys.add(key)
        i = blank(text, i).end()
        if text[i:i + 1] != ":":
            raise ValueError("no colon")
        i = blank(text, i + 1).end()
        if key != "probes" or text[i:i + 1] != "[":
            _, i = decoder.raw_decode(text, i)
        else:
            probes, i = [], blank(text, i + 1).end()
            while text[i:i + 1] != "]":
                starts.append(i)
                item, i = decoder.raw_decode(text, i)
                probes.append(item)
                i = blank(text, i).end()
                if text[i:i + 1] == ",":
                    i = blank(text, i + 1).end()
                    if text[i:i + 1] == "]":
                        raise ValueError("trailing comma")
                elif text[i:i + 1] != "]":
                    raise ValueError("no comma")
            i += 1
        i = blank(text, i).end()
        if text[i:i + 1] == "}":
            break
        if text[i:i + 1] != ",":
            raise ValueError("no comma")
        i = blank(text, i + 1).end()
    if text[i + 1:].strip(" \t\r\n"):
        raise ValueError("extra data")
    return (probes, starts) if probes is not None else None


def _yaml(text: str) -> tuple[list[Item], list[int]] | None:
    text = text.replace("\r\n", "\n")
    if "\t" in text or "\r" in text:
        return None
    rows = text.split("\n")
    start = _after_probes(rows)
    if start is None:
        return None
    probes: list[Item] = []
    lines: list[int] = []
    item: Item | None = None
    key_indent = dash_indent = -1
    scalars: dict[str | None, object] = {}  # probes repeat most values: each is read once
    for number in range(start + 1, len(rows) + 1):
        m = _LINE.match(rows[number - 1])  # the line as it is: a value's trailing blanks are the scalar's to drop
        if m is None:
            content = rows[number - 1].strip(" ")
            if not content or content[0] == "#":
                continue
            return None
        indent, dash, key, written = m.groups()
        if dash is not None:  # "- key: value" starts an item
            if dash_indent >= 0 and len(indent) != dash_indent:
                return None
            dash_indent = len(indent)
            key_indent = dash_indent + len(dash)
            item = {}
            probes.append(item)
            lines.append(number)
        elif item is None or len(indent) != key_indent:
            return None
        value = scalars.get(written, _UNREAD)
        if value is _UNREAD:
            value = scalars[written] = _scalar(written or "")
        if key in item or value is _NOT_PLAIN:
            return None
        item[key] = value
    return (probes, lines) if probes else None


def _after_probes(rows: list[str]) -> int | None:
    """The number of the `probes:` line (only blank and comment lines before it), or None."""
    for number, raw in enumerate(rows, 1):
        line = raw.rstrip(" ")
        content = line.lstrip(" ")
        if not content or content[0] == "#":
            continue
        return number if line == "probes:" or re.fullmatch(r"probes: +#.*", line) else None
    return None


_UNREAD = object()
_NOT_PLAIN = object()


def _scalar(text: str) -> object:
    if text[:1] == "'":
        quoted = _SINGLE.match(text)
        return quoted.group(1).replace("''", "'") if quoted else _NOT_PLAIN
    if text[:1] == '"':
        quoted = _DOUBLE.match(text)
        return quoted.group(1) if quoted else _NOT_PLAIN
    if " #" in text:
        text = text[:text.index(" #")]
    text = text.rstrip(" ")
    if text in _NULL:
        return None
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    if digits(text) and (text == "0" or not text.startswith("0")):
        return int(text)
    if text[0] in _INDICATORS or ": " in text or text.endswith(":") or _NUMBERISH.match(text):
        return _NOT_PLAIN
    return text


_MAP_KEY = re.compile(r"( *)([A-Za-z0-9_][A-Za-z0-9_.-]*):(?: +(.*))?\Z")


class LineCol:
    """Where each key of a mapping is (0-based line, column), as ruamel.yaml's `lc` answers."""

    def __init__(self) -> None:
        self.keys: dict[str, tuple[int, int]] = {}

    def key(self, key: str) -> tuple[int, int]:
        return self.keys[key]

    value = key  # asked only of a value that should have been a mapping: a scalar, on its key's line


class Mapping(dict):
    """A block mapping read here, with where its keys are."""

    def __init__(self) -> None:
        super().__init__()
        self.lc = LineCol()


def block_mapping(text: str) -> Mapping | None:
    """Nested block mappings of plain keys (names: letters, digits, `_.-`) and single-line values, as
    inventories are written; None for anything else (lists, flow style, anchors, tags, multi-line or
    number-like values, duplicate keys, odd indentation): the caller then uses the YAML parser."""
    if "\t" in text or "\r" in text:
        return None
    top = Mapping()
    stack: list[tuple[int, Mapping]] = [(0, top)]
    pending: tuple[Mapping, str] | None = None  # a key with no value yet: a mapping may follow, indented
    for number, raw in enumerate(text.split("\n")):
        content = raw.strip(" ")
        if not content or content[0] == "#":
            continue
        m = _MAP_KEY.match(raw.rstrip(" "))
        if m is None or _NUMBERISH.match(m.group(2)) or m.group(2) in (*_TRUE, *_FALSE, *_NULL):
            return None
        indent, key = len(m.group(1)), m.group(2)
        if pending is not None and indent > stack[-1][0]:
            parent, name = pending
            child = parent[name] = Mapping()
            stack.append((indent, child))
        while indent < stack[-1][0]:
            stack.pop()
        if indent != stack[-1][0]:
            return None
        mapping = stack[-1][1]
        value = _scalar(m.group(3)) if m.group(3) else None
        if key in mapping or value is _NOT_PLAIN:
            return None
        mapping[key] = value
        mapping.lc.keys[key] = (number, indent)
        pending = (mapping, key) if not m.group(3) else None
    return top if top else None
