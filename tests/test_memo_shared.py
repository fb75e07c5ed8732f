"""memo.Shared: a run-wide result is computed once, even when threads ask for it together (a fleet's first hosts)."""

from __future__ import annotations

import threading

import pytest
from mailcfg.memo import Shared


def test_threads_asking_together_compute_once():
    shared: Shared[int] = Shared()
    calls: list[int] = []
    started, release = threading.Event(), threading.Event()

    def compute() -> int:
        calls.append(1)
        started.set()
        release.wait(5)  # the other threads arrive while this one computes
        return 42

    got: list[int] = []
    first = threading.Thread(target=lambda: got.append(shared.get("k", compute)))
    first.start()
    started.wait(5)
    others = [threading.Thread(target=lambda: got.append(shared.get("k", compute))) for _ in range(4)]
    for t in others:
        t.start()
    # give the others the chance to compute too (they would, each, without the wait for the first)
    pause = threading.Event()  # never set: a bounded wait
    for _ in range(50):
        if len(calls) == 5 or pause.wait(0.01):
            break
    release.set()
    for t in (first, *others):
        t.join(5)
    assert got == [42] * 5
    assert len(calls) == 1


def test_a_failed_computation_is_not_kept():
    shared: Shared[int] = Shared()

    def fail() -> int:
        raise ValueError("no")

    with pytest.raises(ValueError):
        shared.get("k", fail)
    assert shared.get("k", lambda: 7) == 7


def test_only_the_last_used_are_kept():
    shared: Shared[str] = Shared(size=2)
    for key in ("a", "b", "c"):
        shared.get(key, lambda key=key: key)
    assert shared.get("a", lambda: "again") == "again"  # evicted: computed anew
    assert shared.get("c", lambda: "again") == "c"
