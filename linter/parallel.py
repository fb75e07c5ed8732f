"""Local targets analysed on every core: worker processes, results in the order given.

The analysis is pure Python and CPU-bound, so threads would share one core; processes forked from
this one start with everything already imported. Each result is handed on as soon as it and those
before it are done, so a caller that reports as it goes holds little; one target's failure is its
own result, as in the single-process run.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

MIN_ITEMS = 4  # below this, starting workers costs more than it saves


def workers() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def in_order(func: Callable[[T], R], items: Iterable[T], jobs: int | None = None) -> Iterator[R]:
    """`func(item)` for each item, on up to `jobs` processes (default: one per core), yielded in input order.

    `func` must be a module-level function (it is sent to the workers by name) that never raises for
    bad input (a result says what went wrong)."""
    items = list(items)
    jobs = min(jobs or workers(), len(items))
    if jobs < 2 or len(items) < MIN_ITEMS or "fork" not in multiprocessing.get_all_start_methods():
        yield from map(func, items)
        return
    # Chunks amortise the round trips; several per worker keep the cores even when some targets are slow.
    chunk = max(1, min(16, len(items) // (jobs * 8)))
    # What is loaded so far (modules, rules) is left out of the workers' garbage collections: they neither
    # scan it again and again nor touch (and so copy) the pages they share with this process.
    gc.freeze()
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        yield from pool.imap(func, items, chunksize=chunk)
