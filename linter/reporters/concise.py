"""One line per finding, `path:line:col: severity [rule] message`, as ruff's and yamllint's
parsable formats: for grep, editors' error lists and CI log matchers.

A finding without a line is `path: severity [rule] message`; a target that could not be checked
is `target: error [STATUS] reason`. The path is the local file (relative to the working
directory when below it); a fetched host's file is `HOST:/etc/...` (scp's notation), the host
as the command line named it. Only the closing summary is more than one line per finding.
"""

from __future__ import annotations

import os

from mailcfg.findings import Finding, Severity
from mailcfg.lint import TargetResult
from mailcfg.reporters.paths import Places
from mailcfg.reporters.text import STYLE, Out, fix_text, fixes_of, summary
from mailcfg.reporters.visible import visible


def render(results: list[TargetResult], color: bool = False, *, quiet: bool = False, show_fixes: bool = False,
           width: int | None = None) -> str:
    """The findings one a line; `quiet` leaves out the summary, `show_fixes` adds each fix's diff after
    the findings. `width` is taken for the text reporter's sake and ignored: nothing wraps here."""
    out = Out(color)
    places = Places()
    diffs: list[tuple[str, str]] = []
    for result in results:
        local = os.path.lexists(result.target)  # else a host: its files are named after it
        if result.status != "ok":
            error = (result.error or "").removeprefix(f"{result.status}: ")
            out.add(f"{visible(result.target)}: {out.paint('error', STYLE[Severity.ERROR])} [{result.status}] "
                    f"{visible(error)}")
        fixes = fixes_of(result) if show_fixes else {}
        for f in result.findings:
            where = _place(places, result, f, local)
            out.add(f"{where}: {out.paint(f.severity.value, STYLE[f.severity])} [{f.rule}] {visible(f.message)}")
            if f in fixes:
                diffs.append((f"{where}: fix ({fixes[f].safety}) [{f.rule}] {visible(fixes[f].summary)}",
                              fix_text(result, fixes[f])))
    for head, diff in diffs:
        out.add()
        out.add(head)
        out.diff(diff, "")
    if not quiet:
        if out.lines:
            out.add()
        summary(out, results)
    return out.text()


def _place(places: Places, result: TargetResult, f: Finding, local: bool) -> str:
    """`path:line:col`, `path` alone without a line, the target when the finding is about no file."""
    if not f.location.file:
        return visible(result.target)
    path = visible(_path(places, result, f.location.file, local))
    if not f.location.line:
        return path
    return f"{path}:{f.location.line}:{f.location.column or 1}"


def _path(places: Places, result: TargetResult, file: str, local: bool) -> str:
    if places.local(result, file) is not None:
        return places.working(result, file)
    if local:  # a file the target lacks (a stock master.cf assumed): where it would be
        base = result.target if os.path.isdir(result.target) else os.path.dirname(result.target)
        return os.path.join(base, file)
    return f"{result.target}:/{file}"

