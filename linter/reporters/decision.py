"""Decisions for people: the answer, then every step that led to it with file and line."""

from __future__ import annotations

from io import StringIO

from mailcfg.decisions import Explained, TestRun
from mailcfg.dependence import Dependency
from mailcfg.reporters.visible import visible
from mailcfg.systems import is_setting
from mailcfg.transaction import Decision
from rich.console import Console
from rich.markup import escape as markup_escape


def escape(text: str) -> str:
    """Input text as rich shows it literally, with terminal controls made visible."""
    return markup_escape(visible(text))


STYLE = {"accept": "green", "reject": "bold red", "defer": "yellow", "error": "bold magenta"}


def _console(out: StringIO, color: bool) -> Console:
    return Console(file=out, force_terminal=color, no_color=not color, highlight=False, emoji=False, width=200,
                   soft_wrap=True)


def _trace(console: Console, decision: Decision, indent: str) -> None:
    for step in decision.trace:
        where = step.location
        if where and where.file:
            place = f"{where.file}:{where.line}" if where.line else where.file
        elif step.default_of:
            place = f"(built-in default of {step.default_of})"
        else:
            place = "(built-in default)" if is_setting(step.what) else ""
        note = f" — {step.note}" if step.note else ""
        console.print(f"{indent}{step.stage:<7} {escape(step.what)}: {escape(step.result)}{escape(note)}"
                      f"  [dim]{escape(place)}[/dim]")
    for item in decision.undecided:
        console.print(f"{indent}[yellow]not decided offline:[/yellow] {escape(item)}")


def render_explained(result: Explained, color: bool = False) -> str:
    out = StringIO()
    console = _console(out, color)
    d = result.decision
    p = result.probe
    who = p.client + (f" ({p.client_name})" if p.client_name else "") + \
        (f", authenticated as {p.sasl_user}" if p.sasl_user else "") + (", TLS" if p.tls else "")
    console.print(f"[bold]{escape(result.target)}[/bold] service {escape(d.service or '?')}: "
                  f"client {escape(who)}, RCPT TO:<{escape(p.rcpt)}>")
    console.print(f"  [{STYLE[d.action]}]{d.action.upper()}[/] at {d.stage}: {escape(d.reply or 'no reply')}"
                  + _conditional(result.depends_on))
    _trace(console, d, "    ")
    for note in result.assumptions:
        console.print(f"  [dim]assumed: {escape(note)}[/dim]")
    return out.getvalue()


def _conditional(depends_on: list[Dependency]) -> str:
    """The headline's note that the answer holds only if what the snapshot lacks does not say otherwise."""
    if not depends_on:
        return ""
    return f" [yellow](conditional: {escape('; '.join(d.text() for d in depends_on))})[/yellow]"


def render_test(run: TestRun, color: bool = False) -> str:
    out = StringIO()
    console = _console(out, color)
    console.print(f"[bold]{escape(run.target)}[/bold]")
    for r in run.results:
        d = r.decision
        if d is None:
            console.print(f"  [bold magenta]INVALID[/bold magenta] {escape(r.expectation.name)}: "
                          f"{escape(r.error or '')}")
            continue
        mark = "[green]PASS[/green]" if r.passed else "[bold red]FAIL[/bold red]"
        if r.depends_on:  # a pass only where allowed; a failure only for being undecided reads as such
            mark = "[green]PASS[/green] (undecided, allowed)" if r.passed else \
                "[yellow]UNDECIDED[/yellow]" if d.action == r.expectation.expect else mark
        console.print(f"  {mark} {escape(r.expectation.name)}: expected {r.expectation.expect}, "
                      f"got {d.action} ({escape(d.reply or 'no reply')})" + _conditional(r.depends_on))
        for problem in r.problems:
            console.print(f"      {escape(problem)}")
        if not r.passed:
            _trace(console, d, "      ")
    for note in run.assumptions:
        console.print(f"  [dim]assumed: {escape(note)}[/dim]")
    invalid = f", {run.invalid} invalid" if run.invalid else ""
    console.print(f"{len(run.results) - run.failed} passed, {run.failed - run.invalid} failed{invalid}")
    return out.getvalue()
