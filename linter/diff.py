"""Unified diffs of fixed files, in the form `patch -p1` applies at the target's root."""

from __future__ import annotations

import difflib

from mailcfg.fixer import FileChange

NO_NEWLINE = "\\ No newline at end of file\n"


def unified(changes: list[FileChange]) -> str:
    out: list[str] = []
    for c in changes:
        before = c.before.splitlines(keepends=True)
        after = c.after.splitlines(keepends=True)
        old = f"a/{c.path}" if c.before else "/dev/null"
        for line in difflib.unified_diff(before, after, old, f"b/{c.path}"):
            out.append(line if line.endswith("\n") else line + "\n" + NO_NEWLINE)
    return "".join(out)
