"""Results computed once: per configuration (what several rules and fixes ask for again), or per input
across a run (`Shared`: what many equal hosts of a fleet would each compute again)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Memo:
    """Mixed into a configuration dataclass that declares `memo: dict = field(default_factory=dict)`."""

    memo: dict

    def remember(self, key: object, compute: Callable[[], T]) -> T:
        """`compute()` once per configuration, then its result again for the same key."""
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]


class Shared(Generic[T]):
    """Results kept by key for the whole run, the `size` last used of them; safe to use from threads.
    A result is computed once: threads asking for a key being computed wait for it (a fleet's first
    hosts arrive together, and each would otherwise compute what the others are computing)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._kept: OrderedDict[str, T] = OrderedDict()
        self._computing: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def _kept_value(self, key: str) -> tuple[bool, T | None]:
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return True, self._kept[key]
            return False, None

    def get(self, key: str, compute: Callable[[], T]) -> T:
        found, value = self._kept_value(key)
        if found:
            return value  # type: ignore[return-value]
        with self._lock:
            gate = self._computing.setdefault(key, threading.Lock())
        with gate:
            found, value = self._kept_value(key)  # computed while this thread waited
            if found:
                return value  # type: ignore[return-value]
            try:
                value = compute()  # when it raises, the next waiter computes for itself
                with self._lock:
                    self._kept[key] = value
                    while len(self._kept) > self.size:
                        self._kept.popitem(last=False)
                return value
            finally:
                with self._lock:
                    self._computing.pop(key, None)
