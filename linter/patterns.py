"""Examples of what a pattern matches, for probes that try the values a configuration names."""

from __future__ import annotations

import re


def regex_example(pattern: str) -> str | None:
    """A short string the regular expression matches, or None when it is beyond this sketch."""
    try:
        parsed = re._parser.parse(pattern)  # type: ignore[attr-defined]
    except (re.error, AttributeError, RecursionError):
        return None
    try:
        text = _walk(parsed)
    except (ValueError, TypeError):
        return None
    return text if re.search(pattern, text, re.I) else None


def _walk(items) -> str:
    out = []
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "ANY":
            out.append("x")
        elif name == "IN":
            out.append(_member(arg))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _high, sub = arg
            out.append(_walk(sub) * max(low, 0))
        elif name == "SUBPATTERN":
            out.append(_walk(arg[-1]))
        elif name == "BRANCH":
            out.append(_walk(arg[1][-1]))  # the last alternative: the first is often an anchor
        elif name in ("AT", "GROUPREF"):
            continue
        else:
            raise ValueError(name)
    return "".join(out)


def _member(items) -> str:
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            return chr(arg)
        if name == "RANGE":
            return chr(arg[0])
        if name == "CATEGORY":
            return {"CATEGORY_DIGIT": "0", "CATEGORY_WORD": "a", "CATEGORY_SPACE": " "}.get(str(arg), "a")
        if name == "NEGATE":
            return "#"
    raise ValueError("empty class")
