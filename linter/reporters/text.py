"""Text for people: findings grouped by target and file, each with the line it is about.

Written as plain strings (a styled console per line costs milliseconds, and reports can hold
tens of thousands of findings); everything taken from the input goes through `visible`.
"""

from __future__ import annotations

from mailcfg.findings import Finding, Severity
from mailcfg.lint import TargetResult
from mailcfg.reporters.visible import visible

STYLE = {Severity.ERROR: "1;31", Severity.WARNING: "33", Severity.INFO: "36"}
BOLD, BOLD_RED, DIM = "1", "1;31", "2"


class _Out:
    def __init__(self, color: bool) -> None:
        self.color = color
        self.lines: list[str] = []

    def paint(self, text: str, sgr: str) -> str:
        return f"\x1b[{sgr}m{text}\x1b[0m" if self.color else text

    def add(self, line: str = "") -> None:
        self.lines.append(line)


def render(results: list[TargetResult], color: bool = False) -> str:
    out = _Out(color)
    for result in results:
        _target(out, result)
    counts = {s: sum(1 for r in results for f in r.findings if f.severity == s) for s in Severity}
    failed = sum(1 for r in results if r.status != "ok")
    summary = ", ".join(f"{counts[s]} {s.value}{'s' if counts[s] != 1 and s != Severity.INFO else ''}"
                        for s in Severity)
    out.add(f"{summary} in {len(results)} target{'s' if len(results) != 1 else ''}"
            + (f"; {failed} could not be checked" if failed else ""))
    fixes = {kind: sum(1 for r in results for f in r.findings if f.fix == kind) for kind in ("safe", "unsafe")}
    if fixes["safe"] or fixes["unsafe"]:
        out.add(f"[*] {fixes['safe']} fixable with `mailcfg fix`"
                + (f" ({fixes['unsafe']} more with --unsafe-fixes)" if fixes["unsafe"] else ""))
    return "".join(line + "\n" for line in out.lines)


def _target(out: _Out, result: TargetResult) -> None:
    systems = ", ".join(result.systems) or "nothing recognised"
    out.add(f"{out.paint(visible(result.target), BOLD)} ({systems})")
    if result.status != "ok":  # an SSH reason may already start with the status: say it once
        error = (result.error or "").removeprefix(f"{result.status}: ")
        out.add(f"  {out.paint(result.status + ':', BOLD_RED)} {visible(error)}")
    by_file: dict[str, list[Finding]] = {}
    lines: dict[tuple[str, int], str | None] = {}
    for f in result.findings:
        by_file.setdefault(f.location.file or "(configuration as a whole)", []).append(f)
    for file, findings in by_file.items():
        out.add(f"  {visible(file)}")
        for f in findings:
            where = f"{f.location.line}:{f.location.column or 1}" if f.location.line else "-"
            service = f" [{visible(f.service)}]" if f.service else ""
            mark = " [*]" if f.fix == "safe" else " [unsafe fix]" if f.fix == "unsafe" else ""
            out.add(f"    {where:>7}  {out.paint(f'{f.severity.value:<7}', STYLE[f.severity])}  "
                    f"{f.rule}{service}{mark}  {visible(f.message)}")
            shown = _line(result, f, lines)
            if shown is not None:
                before, text = _window(shown, f.location.column or 1)
                out.add(f"             | {visible(text)}")
                if f.location.column:
                    # the caret sits under the same character however wide the escapes before it are
                    out.add("             | " + " " * len(visible(text[:before])) + "^")
    for note in result.assumptions:
        out.add("  " + out.paint(f"assumed: {visible(note)}", DIM))
    out.add()


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
