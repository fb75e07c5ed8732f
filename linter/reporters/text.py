"""Text for people: findings grouped by target and file, each with the line it is about."""

from __future__ import annotations

from io import StringIO

from mailcfg.findings import Finding, Severity
from mailcfg.lint import TargetResult
from rich.console import Console
from rich.markup import escape

STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def render(results: list[TargetResult], color: bool = False) -> str:
    out = StringIO()
    console = Console(file=out, force_terminal=color, no_color=not color, highlight=False, width=200,
                      soft_wrap=True)
    for result in results:
        _target(console, result)
    counts = {s: sum(1 for r in results for f in r.findings if f.severity == s) for s in Severity}
    failed = sum(1 for r in results if r.status != "ok")
    summary = ", ".join(f"{counts[s]} {s.value}{'s' if counts[s] != 1 and s != Severity.INFO else ''}"
                        for s in Severity)
    console.print(f"{summary} in {len(results)} target{'s' if len(results) != 1 else ''}"
                  + (f"; {failed} could not be checked" if failed else ""))
    fixes = {kind: sum(1 for r in results for f in r.findings if f.fix == kind) for kind in ("safe", "unsafe")}
    if fixes["safe"] or fixes["unsafe"]:
        console.print(f"[*] {fixes['safe']} fixable with `mailcfg fix`"
                      + (f" ({fixes['unsafe']} more with --unsafe-fixes)" if fixes["unsafe"] else ""))
    return out.getvalue()


def _target(console: Console, result: TargetResult) -> None:
    systems = ", ".join(result.systems) or "nothing recognised"
    console.print(f"[bold]{escape(result.target)}[/bold] ({systems})")
    if result.status != "ok":  # an SSH reason may already start with the status: say it once
        error = (result.error or "").removeprefix(f"{result.status}: ")
        console.print(f"  [bold red]{result.status}:[/bold red] {escape(error)}")
    by_file: dict[str, list[Finding]] = {}
    for f in result.findings:
        by_file.setdefault(f.location.file or "(configuration as a whole)", []).append(f)
    for file, findings in by_file.items():
        console.print(f"  {escape(file)}")
        for f in findings:
            where = f"{f.location.line}:{f.location.column or 1}" if f.location.line else "-"
            service = f" [{escape(f.service)}]" if f.service else ""
            mark = " [*]" if f.fix == "safe" else " [unsafe fix]" if f.fix == "unsafe" else ""
            console.print(f"    {where:>7}  [{STYLE[f.severity]}]{f.severity.value:<7}[/]  "
                          f"{f.rule}{escape(service)}{escape(mark)}  {escape(f.message)}")
            shown = _line(result, f)
            if shown is not None:
                console.print(f"             | {escape(shown)}")
                if f.location.column:
                    console.print("             | " + " " * (f.location.column - 1) + "^")
    for note in result.assumptions:
        console.print(f"  [dim]assumed: {escape(note)}[/dim]")
    console.print()


def _line(result: TargetResult, f: Finding) -> str | None:
    source = result.sources.get(f.location.file or "")
    if source is None or not f.location.line or f.location.line > len(source.lines):
        return None
    return source.line_text(f.location.line).expandtabs(1)
