"""Checking many targets at once: a bounded pool of workers, results in the order given.

Hosts spend their time waiting on the network, so threads are enough; one host's failure is a
result like any other and never stops the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed

from mailcfg.lint import TargetResult
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def run_all(targets: list[str], check: Callable[[str], TargetResult], forks: int,
            progress: bool = False) -> list[TargetResult]:
    """`check` every target with at most `forks` running at once; a progress bar on stderr if asked."""
    results: list[TargetResult | None] = [None] * len(targets)
    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(targets) or 1))) as pool:
        futures = {pool.submit(check, t): i for i, t in enumerate(targets)}
        if not progress:
            for future in as_completed(futures):
                results[futures[future]] = future.result()
        else:
            columns = (TextColumn("checking"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                       TextColumn("{task.description}"))
            with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
                task = bar.add_task("", total=len(targets))
                for future in as_completed(futures):
                    i = futures[future]
                    results[i] = future.result()
                    bar.update(task, advance=1, description=targets[i])
    return [r for r in results if r is not None]
