"""Decisions for people: the answer, then every step that led to it with file and line."""

from __future__ import annotations

from io import StringIO

from mailcfg.decisions import Explained, TestRun
from mailcfg.postfix.known import is_known
from mailcfg.postfix.probe import Decision
from rich.console import Console
from rich.markup import escape

STYLE = {"accept": "green", "reject": "bold red", "defer": "yellow", "error": "bold magenta"}


def _console(out: StringIO, color: bool) -> Console:
    return Console(file=out, force_terminal=color, no_color=not color, highlight=False, width=200, soft_wrap=True)


def _trace(console: Console, decision: Decision, indent: str) -> None:
    for step in decision.trace:
        where = step.location
        if where and where.file:
            place = f"{where.file}:{where.line}" if where.line else where.file
        elif step.default_of:
            place = f"(built-in default of {step.default_of})"
        else:
            place = "(built-in default)" if is_known(step.what) else ""
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
    console.print(f"  [{STYLE[d.action]}]{d.action.upper()}[/] at {d.stage}: {escape(d.reply or 'no reply')}")
    _trace(console, d, "    ")
    for note in result.assumptions:
        console.print(f"  [dim]assumed: {escape(note)}[/dim]")
    return out.getvalue()


def render_test(run: TestRun, color: bool = False) -> str:
    out = StringIO()
    console = _console(out, color)
    console.print(f"[bold]{escape(run.target)}[/bold]")
    for r in run.results:
        mark = "[green]PASS[/green]" if r.passed else "[bold red]FAIL[/bold red]"
        console.print(f"  {mark} {escape(r.expectation.name)}: expected {r.expectation.expect}, "
                      f"got {r.decision.action} ({escape(r.decision.reply or 'no reply')})")
        if not r.passed:
            _trace(console, r.decision, "      ")
    for note in run.assumptions:
        console.print(f"  [dim]assumed: {escape(note)}[/dim]")
    console.print(f"{len(run.results) - run.failed} passed, {run.failed} failed")
    return out.getvalue()
