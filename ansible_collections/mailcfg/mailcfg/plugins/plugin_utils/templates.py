# Copyright: mailcfg developers. MIT License (see the repository's pyproject.toml).
"""Tracing a finding in rendered content back to the template line that produced it (pre-deploy lint).

A finding names a line of the rendered file. That line is traced to the template by text, never by
guessing:
1. the rendered line (or the line it continues, see 3), stripped, equals exactly one template line,
   stripped (a line without Jinja);
2. otherwise its setting name (the text before the first "=", e.g. `smtpd_relay_restrictions` or
   `-o smtpd_recipient_restrictions`) starts exactly one template line, followed by "=" (the
   template line that sets it, whatever Jinja computes its value);
3. an indented line that has no name of its own (a continuation line) is traced as the nearest line
   above it that is less indented, which it continues.
Anything else (a name that several template lines set, a name Jinja computes, a line a loop wrote)
is left pointing at the rendered file and reported as not traced: a wrong template line is worse
than none.
"""

from __future__ import annotations

import re

KEY = re.compile(r"^\s*([^=#\s][^=]*?)\s*=")


def _key(text):
    match = KEY.match(text)
    return " ".join(match.group(1).split()) if match else None


def _indent(text):
    return len(text) - len(text.lstrip())


def _owner(lines, index):
    """The line that `lines[index]` belongs to: itself, or for a nameless indented line the nearest
    less-indented non-blank line above it."""
    line = lines[index]
    if _key(line) is not None or _indent(line) == 0:
        return index
    for above in range(index - 1, -1, -1):
        if lines[above].strip() and _indent(lines[above]) < _indent(line):
            return above
    return index


def trace_line(rendered, line, template):
    """(template line, column), both 1-based, of rendered line `line`; None where it cannot be traced."""
    lines = rendered.splitlines()
    if not 1 <= line <= len(lines):
        return None
    tlines = template.splitlines()
    own = lines[_owner(lines, line - 1)]
    for text in dict.fromkeys((lines[line - 1], own)):  # the line itself first, then the line it continues
        same = [i for i, t in enumerate(tlines) if t.strip() and t.strip() == text.strip()]
        if len(same) == 1:
            return same[0] + 1, _indent(tlines[same[0]]) + 1
    key = _key(own)
    if key is None:
        return None
    named = [i for i, t in enumerate(tlines) if _key(t) == key]
    if len(named) == 1:
        return named[0] + 1, _indent(tlines[named[0]]) + 1
    return None


def trace(findings, rendered, templates):
    """Findings with those in templated files pointing at the template line (the rendered place kept
    under "rendered"), and a sentence for each one that could not be traced.

    rendered: host path -> rendered content; templates: host path -> (shown template path, template text).
    """
    traced, untraced = [], []
    for finding in findings:
        host_path = "/" + (finding.get("file") or "").lstrip("/")
        if host_path not in templates:
            traced.append(finding)
            continue
        shown, text = templates[host_path]
        line = finding.get("line")
        place = trace_line(rendered.get(host_path, ""), line, text) if line else (None, None)
        if place is None:
            traced.append(dict(finding, template=shown))
            untraced.append(f"{finding.get('rule')} at {host_path}:{line} is not traced to a line of {shown} "
                            "(its setting is written by Jinja or set on several lines)")
            continue
        traced.append(dict(finding, file=shown, line=place[0], column=place[1],
                           rendered={"file": finding.get("file"), "line": line, "column": finding.get("column")}))
    return traced, untraced
