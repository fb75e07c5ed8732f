"""JSON text as `json.dumps(value, indent=2)` writes it, made about twice as fast.

With an indent, the standard library falls back from its C encoder to one built of Python
generators; a decision's trace makes `mailcfg test -f json` output megabytes of it. This writer
gives the same text (tests/test_jsontext.py holds it to that) by appending pieces to one list.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii as _quoted

# The scalars a report holds, by exact type (bool before int: True is an int too).
_SCALARS = {str: _quoted, type(None): lambda _: "null", bool: lambda b: "true" if b else "false", int: int.__repr__}


def dumps(value: object) -> str:
    parts: list[str] = []
    _write(value, parts, "\n")
    return "".join(parts)


def _write(value: object, parts: list[str], newline: str) -> None:
    scalar = _SCALARS.get(type(value))
    if scalar is not None:
        parts.append(scalar(value))
    elif isinstance(value, dict):
        if not value:
            parts.append("{}")
            return
        inner = newline + "  "
        before = "{" + inner
        for key, item in value.items():
            name = _quoted(key) if type(key) is str else _key(key)
            if type(item) is str:  # most values: written here, not through another call
                parts.append(before + name + ": " + _quoted(item))
            else:
                parts.append(before + name + ": ")
                _write(item, parts, inner)
            before = "," + inner
        parts.append(newline + "}")
    elif isinstance(value, list | tuple):
        if not value:
            parts.append("[]")
            return
        inner = newline + "  "
        before = "[" + inner
        for item in value:
            parts.append(before)
            _write(item, parts, inner)
            before = "," + inner
        parts.append(newline + "]")
    else:  # floats, subclasses of str and int; a TypeError for what JSON cannot hold
        parts.append(json.dumps(value))


def _key(key: object) -> str:
    if isinstance(key, str):
        return _quoted(key)
    if key is None or isinstance(key, int | float):  # as json.dumps turns them into strings
        return _quoted(json.dumps(key))
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
