"""Results computed once per configuration: what several rules and fixes ask for again."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Memo:
    """Mixed into a configuration dataclass that declares `memo: dict = field(default_factory=dict)`."""

    memo: dict

    def remember(self, key: object, compute: Callable[[], T]) -> T:
        """`compute()` once per configuration, then its result again for the same key."""
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]
