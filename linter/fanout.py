"""Checking many targets at once: a bounded pool of workers, results in the order given.

Hosts spend their time waiting on the network, so threads are enough; one host's failure is a
result like any other and never stops the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TypeVar

from mailcfg.lint import TargetResult
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

T = TypeVar("T")


def run_all(items: list[T], check: Callable[[T], TargetResult], forks: int, names: list[str] | None = None,
            progress: bool = False) -> list[TargetResult]:
    """`check` every item with at most `forks` running at once; a progress bar on stderr if asked."""
    results: list[TargetResult | None] = [None] * len(items)
    names = names or [str(i) for i in items]
    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(items) or 1))) as pool:
        futures = {pool.submit(check, item): i for i, item in enumerate(items)}
        if not progress:
            for future in as_completed(futures):
                results[futures[future]] = future.result()
        else:
            columns = (TextColumn("checking"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                       TextColumn("{task.description}"))
            with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
                task = bar.add_task("", total=len(items))
                for future in as_completed(futures):
                    i = futures[future]
                    results[i] = future.result()
                    bar.update(task, advance=1, description=names[i])
    return [r for r in results if r is not None]
