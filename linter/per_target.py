"""Work on each target's configuration, whatever the target: `explain`, `test` and `fix` take what
`lint` takes (local paths, ssh:// hosts, ~/.ssh/config names, inventory hosts).

A local target is handed over as its path (the work loads it); a host is collected read-only into
a temporary snapshot, as `lint` collects it, which the work gets while it runs. One target's
failure (unreachable, bad input) is an outcome like any other and never stops the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from mailcfg.errors import MailcfgError
from mailcfg.snapshot import Snapshot
from mailcfg.targets import Target

if TYPE_CHECKING:
    from mailcfg.remote.knownhosts import KnownHosts
    from mailcfg.remote.sshtarget import SshOptions

R = TypeVar("R")


@dataclass
class Outcome(Generic[R]):
    """What a command gave for one target, or why it could not."""

    target: str
    value: R | None = None
    status: str = "ok"  # ok, unreachable, error
    error: str | None = None


def each(items: list[Target], work: Callable[[Target, Snapshot | None], R], forks: int = 1,
         ssh: SshOptions | None = None, known: KnownHosts | None = None) -> list[Outcome[R]]:
    """`work(target, snapshot)` for every target (snapshot None for a local one), at most `forks` at
    once, outcomes in the order given; `ssh` and `known` reach the hosts."""
    def one(t: Target) -> Outcome[R]:
        try:
            return Outcome(t.label, work(t, None)) if t.host is None else _on_host(t, work, ssh, known)
        except MailcfgError as exc:
            return Outcome(t.label, status="error", error=str(exc).removeprefix(f"{t.label}: "))

    if len(items) == 1 or forks <= 1:
        return [one(t) for t in items]
    with ThreadPoolExecutor(max_workers=min(forks, len(items))) as pool:
        return list(pool.map(one, items))


def _on_host(t: Target, work: Callable[[Target, Snapshot | None], R], ssh: SshOptions | None,
             known: KnownHosts | None) -> Outcome[R]:
    # the SSH stack loads only when there is a host to reach
    from mailcfg.remote.fetch import fetched
    from mailcfg.remote.sshtarget import SshError

    try:
        with fetched(t.host, ssh, known, t.label) as snapshot:
            return Outcome(t.label, work(t, snapshot))
    except SshError as exc:
        return Outcome(t.label, status="unreachable", error=exc.reason)
