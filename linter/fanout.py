"""Checking many targets at once: a bounded pool of workers, results in the order given.

Hosts spend their time waiting on the network, so threads are enough; one host's failure is a
result like any other and never stops the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import nullcontext
from typing import TypeVar

from mailcfg.lint import TargetResult
from mailcfg.reporters.visible import visible

T = TypeVar("T")


def run_all(items: list[T], check: Callable[[T], TargetResult], forks: int, names: list[str],
            progress: bool = False) -> list[TargetResult]:
    """`check` every item with at most `forks` running at once; a progress bar on stderr if asked."""
    done: dict[int, TargetResult] = {}
    bar = _bar() if progress else None
    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(items) or 1))) as pool, bar or nullcontext():
        task = bar.add_task("", total=len(items)) if bar else None
        futures = {pool.submit(check, item): i for i, item in enumerate(items)}
        for future in as_completed(futures):
            i = futures[future]
            done[i] = future.result()  # a check never raises: failures are results
            if bar is not None and task is not None:
                bar.update(task, advance=1, description=_escape(visible(names[i])))  # shown as written
    return [done[i] for i in range(len(items))]


def _bar():
    # rich loads only when a bar is shown (a terminal and hosts): a plain run starts faster without it.
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("checking"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.description}"))
    return Progress(*columns, console=Console(stderr=True), transient=True)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
