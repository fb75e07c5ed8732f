"""Text for people: findings grouped by target and file, each with the line it is about.

Written as plain strings (a styled console per line costs milliseconds, and reports can hold
tens of thousands of findings); everything taken from the input goes through `visible`.
Long messages wrap at `width` under their finding; the quoted line is never wrapped (it is
shown around the column instead), so what the caret points at stays in view.
"""

from __future__ import annotations

import textwrap

from mailcfg.findings import Finding, Severity
from mailcfg.lint import TargetResult
from mailcfg.reporters.visible import visible

STYLE = {Severity.ERROR: "1;31", Severity.WARNING: "33", Severity.INFO: "36"}
BOLD, BOLD_RED, DIM, GREEN, RED = "1", "1;31", "2", "32", "31"
GUTTER = " " * 13  # under the severity column: where a wrapped message and a quoted line go
MIN_WIDTH = 60  # narrower than this, wrapping would leave a few words a line
MIN_TEXT = 30  # a message starts beside its head only when that leaves it this many columns


class Out:
    """Lines of a report, painted with SGR codes only when colour is on."""

    def __init__(self, color: bool) -> None:
        self.color = color
        self.lines: list[str] = []

    def paint(self, text: str, sgr: str) -> str:
        return f"\x1b[{sgr}m{text}\x1b[0m" if self.color else text

    def add(self, line: str = "") -> None:
        self.lines.append(line)

    def diff(self, text: str, indent: str) -> None:
        """A unified diff, input text made visible, added and removed lines coloured."""
        for line in visible(text, keep_lines=True).splitlines():
            sgr = GREEN if line.startswith("+") and not line.startswith("+++") else \
                RED if line.startswith("-") and not line.startswith("---") else ""
            self.add(indent + (self.paint(line, sgr) if sgr else line))

    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)


def render(results: list[TargetResult], color: bool = False, *, width: int | None = None, quiet: bool = False,
           show_fixes: bool = False) -> str:
    """The grouped report; `width` wraps messages (None: never), `quiet` shows the findings and failed
    targets only (no summary, no assumptions, no target without findings), `show_fixes` shows each
    fix's diff under its finding."""
    out = Out(color)
    for result in results:
        if not (quiet and result.status == "ok" and not result.findings):
            _target(out, result, width, show_fixes, quiet)
    if not quiet:
        summary(out, results)
    return out.text()


def summary(out: Out, results: list[TargetResult]) -> None:
    """The closing lines: counts per severity, or "All checks passed", and what `mailcfg fix` can do."""
    counts = {s: sum(1 for r in results for f in r.findings if f.severity == s) for s in Severity}
    failed = sum(1 for r in results if r.status != "ok")
    targets = f"{len(results)} target{'s' if len(results) != 1 else ''}"
    hidden = [f"{n} {what}" for n, what in ((sum(r.suppressed for r in results), "suppressed"),
                                             (sum(r.baselined for r in results), "in the baseline")) if n]
    if not failed and not any(counts.values()):
        out.add(f"All checks passed ({'; '.join([targets, *hidden])}).")
        return
    found = ", ".join(f"{counts[s]} {s.value}{'s' if counts[s] != 1 and s != Severity.INFO else ''}"
                      for s in Severity)
    out.add(f"{found} in {targets}" + (f"; {failed} could not be checked" if failed else "")
            + (f" ({', '.join(hidden)} not shown)" if hidden else ""))
    fixes = {kind: sum(1 for r in results for f in r.findings if f.fix == kind) for kind in ("safe", "unsafe")}
    if fixes["safe"] or fixes["unsafe"]:
        out.add(f"[*] {fixes['safe']} fixable with `mailcfg fix`"
                + (f" ({fixes['unsafe']} more with --unsafe-fixes)" if fixes["unsafe"] else ""))


def _target(out: Out, result: TargetResult, width: int | None, show_fixes: bool, quiet: bool = False) -> None:
    systems = ", ".join(result.systems) or "nothing recognised"
    out.add(f"{out.paint(visible(result.target), BOLD)} ({systems})")
    if result.status != "ok":  # an SSH reason may already start with the status: say it once
        error = (result.error or "").removeprefix(f"{result.status}: ")
        out.add(f"  {out.paint(result.status + ':', BOLD_RED)} {visible(error)}")
    by_file: dict[str, list[Finding]] = {}
    lines: dict[tuple[str, int], str | None] = {}
    fixes = fixes_of(result) if show_fixes else {}
    for f in result.findings:
        by_file.setdefault(f.location.file or "(configuration as a whole)", []).append(f)
    for file, findings in by_file.items():
        out.add(f"  {visible(file)}")
        for f in findings:
            _finding(out, f, width)
            shown = _line(result, f, lines)
            if shown is not None:
                before, text = _window(shown, f.location.column or 1)
                out.add(f"{GUTTER}| {visible(text)}")
                if f.location.column:
                    # the caret sits under the same character however wide the escapes before it are
                    out.add(f"{GUTTER}| " + " " * len(visible(text[:before])) + "^")
            if f in fixes:
                label = f"fix ({fixes[f].safety}): "
                _wrapped(out, GUTTER + label, GUTTER + out.paint(label, BOLD), visible(fixes[f].summary), width)
                out.diff(fix_text(result, fixes[f]), GUTTER)
    for note in () if quiet else result.assumptions:
        text = f"assumed: {visible(note)}"
        for line in (textwrap.wrap(text, max(width, MIN_WIDTH) - 2, subsequent_indent="  ", break_long_words=False,
                                   break_on_hyphens=False) if width else [text]):
            out.add("  " + out.paint(line, DIM))
    out.add()


def _finding(out: Out, f: Finding, width: int | None) -> None:
    where = f"{f.location.line}:{f.location.column or 1}" if f.location.line else "-"
    service = f" [{visible(f.service)}]" if f.service else ""
    mark = " [*]" if f.fix == "safe" else " [unsafe fix]" if f.fix == "unsafe" else ""
    left, right = f"    {where:>7}  ", f"  {f.rule}{service}{mark}  "
    severity = f"{f.severity.value:<7}"
    _wrapped(out, left + severity + right, left + out.paint(severity, STYLE[f.severity]) + right,
             visible(f.message), width)


def _wrapped(out: Out, plain: str, painted: str, text: str, width: int | None) -> None:
    """`painted` (whose text without colour is `plain`) and `text` after it, wrapped at `width` under GUTTER."""
    width = max(width, MIN_WIDTH) if width else None
    if width and len(plain) + len(text) > width and len(plain) > width - MIN_TEXT:
        out.add(painted.rstrip())  # no room beside a long head: the text goes under it
        plain = painted = GUTTER
    lines = textwrap.wrap(text, width, initial_indent=plain, subsequent_indent=GUTTER, break_long_words=False,
                          break_on_hyphens=False) if width and text else []
    if len(lines) < 2:  # fits, or nothing to wrap: the text as it is
        lines = [plain + text]
    out.add(painted + lines[0][len(plain):])
    for line in lines[1:]:
        out.add(line)


WIDTH = 160  # of a quoted line: a long value is shown around the column (output stays linear in the input)


def _window(line: str, column: int) -> tuple[int, str]:
    """(characters before the column, the text shown): the whole line, or WIDTH characters of it
    around the column with "..." where it was cut."""
    if len(line) <= WIDTH:
        return column - 1, line
    start = max(0, min(column - 1 - WIDTH // 2, len(line) - WIDTH))
    head = "..." if start else ""
    tail = "..." if start + WIDTH < len(line) else ""
    return len(head) + column - 1 - start, head + line[start:start + WIDTH] + tail


def _line(result: TargetResult, f: Finding, seen: dict[tuple[str, int], str | None]) -> str | None:
    """The line a finding is on, tabs as single blanks; each line worked out once (many findings can
    be about one long line)."""
    key = (f.location.file or "", f.location.line or 0)
    if key not in seen:
        source = result.sources.get(key[0])
        seen[key] = None if source is None or not key[1] or key[1] > len(source.lines) else \
            source.line_text(key[1]).expandtabs(1)
    return seen[key]


def fixes_of(result: TargetResult) -> dict:
    from mailcfg.reporters.fixdiff import fixes_by_finding  # loads the fix machinery: only for --show-fixes

    return fixes_by_finding(result)


def fix_text(result: TargetResult, fix) -> str:
    from mailcfg.reporters.fixdiff import fix_diff

    return fix_diff(result, fix)
