"""The mail systems mailcfg knows, in the order they are asked (see mailcfg.system).

Each is imported by module name, lazily: the neutral modules that ask them (snapshot, lint, fix)
are imported by the systems' own modules too.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING

from mailcfg.errors import MailcfgError
from mailcfg.registry import rule_by_id

if TYPE_CHECKING:
    from mailcfg.fixer import FixRun
    from mailcfg.snapshot import Snapshot
    from mailcfg.system import MailSystem, Model

# Earlier ones decide explain/test first and claim a config directory first.
SYSTEMS: tuple[str, ...] = ("mailcfg.postfix.system", "mailcfg.exim.system", "mailcfg.plesk.system")


@cache
def mail_systems() -> tuple[MailSystem, ...]:
    return tuple(importlib.import_module(module).SYSTEM for module in SYSTEMS)


def by_name(name: str) -> MailSystem:
    return next(s for s in mail_systems() if s.name == name)


def present(snapshot: Snapshot) -> list[MailSystem]:
    """The snapshot's systems, each after those it requires."""
    ordered: list[MailSystem] = []

    def add(system: MailSystem) -> None:
        if system not in ordered:
            for name in system.requires:
                if name in snapshot.systems:
                    add(by_name(name))
            ordered.append(system)

    for system in mail_systems():
        if system.name in snapshot.systems:
            add(system)
    return ordered


def load_models(snapshot: Snapshot, systems: Iterable[MailSystem] | None = None) -> dict[str, Model]:
    """The configuration model of each system of the snapshot (or of `systems` and what they require)."""
    models: dict[str, Model] = {}
    wanted = {s.name for s in systems} if systems is not None else None
    for system in present(snapshot):
        if wanted is None or system.name in wanted or any(system.name in by_name(w).requires for w in wanted):
            models[system.name] = system.load(snapshot, {r: models[r] for r in system.requires if r in models})
    return models


def applying(run: FixRun) -> MailSystem:
    """The system that applies a fix run on a host: the one whose rules' fixes it holds, or whose
    configuration the changed files are (a run made by hand); else the first."""
    names = {rule_by_id(fix.rule).system for fix in run.applied}
    names |= {s.name for s in mail_systems() for c in run.changes if ("/" + c.path).startswith(s.owns)}
    if len(names) > 1:
        raise MailcfgError(f"the fixes change several mail systems ({', '.join(sorted(names))}): apply them "
                           f"one system at a time (--rule)")
    return by_name(names.pop()) if names else mail_systems()[0]


def creatable(host_path: str) -> bool:
    """Whether a fix may create `host_path` where the snapshot has no such file."""
    return any(host_path in s.layout.creatable for s in mail_systems())


def is_setting(name: str) -> bool:
    return any(s.is_setting(name) for s in mail_systems())
