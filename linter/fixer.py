"""Fixing a target: lint, apply one fix, lint again, until no selected fix is left.

The edited files are kept in a private directory and laid over the target (mailcfg.overlay), so
nothing the user has is copied or touched until they ask (`--write`, `--apply`). One fix per
round, then a fresh lint: a fix is always computed on the configuration as the previous fixes
left it, which keeps fixes that touch the same list from fighting, and a fix that does not make
its finding go away is not tried twice.
Each fix is judged on its own: one whose result has a finding the configuration did not have is
undone alone, with that finding as the reason, and the others are kept. Closing an open relay,
and letting a server run that could not, come first, though: such a fix is kept even when that
reveals another problem (inbound mail that only came in through the hole, users the now working
list refuses), which is then reported, and fixed as well where a fix exists, whatever --rule says.
The result holds each changed file before and after, relative to the target's root (the
snapshot root, the config directory, or a single file's directory): what `patch -p1` there takes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from mailcfg.edits import Edit
from mailcfg.findings import Finding
from mailcfg.fix import SAFE, Fix
from mailcfg.lint import TargetResult, lint_snapshot
from mailcfg.overlay import FileChange, Overlay
from mailcfg.registry import canonical_ids
from mailcfg.snapshot import Snapshot, load_local
from mailcfg.systems import mail_systems

MAX_ROUNDS = 50


@dataclass
class FixRun:
    """The fixes of one target: the lint before and after, and the changed files."""

    target: str
    root: Path  # where the target's files are: --write writes here, patch -p1 applies here
    before: TargetResult  # the lint before any fix
    after: TargetResult  # the lint after the last one
    applied: list[Fix] = field(default_factory=list)
    changes: list[FileChange] = field(default_factory=list)
    unsafe_skipped: list[Fix] = field(default_factory=list)  # offered, but --unsafe-fixes was not given
    dropped: list[tuple[Fix, list[Finding]]] = field(default_factory=list)  # undone: the findings it would cause
    revealed: list[tuple[Fix, list[Finding]]] = field(default_factory=list)  # relay closed: what that uncovered

    @property
    def introduced(self) -> list[Finding]:
        """Findings after the fixes that were not there before: only what closing a relay revealed and
        no fix could repair (any other fix that causes a finding is undone)."""
        old = self.before.keys()
        return [f for f in self.after.findings if (f.rule, f.service) not in old]


def fix_target(target: str, rules: list[str] | None = None, unsafe: bool = False,
               snapshot: Snapshot | None = None) -> FixRun:
    """Compute the fixes for local `target` (or an already loaded snapshot, such as a fetched one)."""
    snap = snapshot or load_local(target)
    selected = set().union(*(canonical_ids(r) for r in rules)) if rules else None
    with tempfile.TemporaryDirectory(prefix="mailcfg-fix-") as tmp:
        overlay = Overlay(snap, Path(tmp))  # nothing of the target is copied or written
        first = lint_snapshot(overlay.snapshot())
        run = FixRun(target, snap.root, first, first)
        had = first.keys()
        tried: set[tuple[tuple[Edit, ...], tuple[str, ...]]] = set()
        for _ in range(MAX_ROUNDS):
            fix = _next_fix(run, selected, had, unsafe, tried)
            if fix is None:
                break
            tried.add((fix.edits, fix.commands))
            saved = overlay.state()
            overlay.edit(fix.edits, run.after.sources, fix.rule)
            overlay.remove(fix.stale)  # rebuilt on the host from the edited files: out of date here
            _judge(run, fix, lint_snapshot(overlay.snapshot()), partial(overlay.restore, saved))
        run.changes = overlay.changes()
    # a fix made of commands (a system's own tool) changes nothing the overlay shows: what it fixes is gone
    # once it has run, which the host's re-check after --apply confirms
    ran = {f.rule for f in run.applied if f.commands and not f.edits}
    run.after = replace(run.after, findings=[f for f in run.after.findings if f.rule not in ran])
    return run


def _judge(run: FixRun, fix: Fix, result: TargetResult, undo: Callable[[], None]) -> None:
    """Keep `fix` (its result is `result`) unless it causes a finding and fixes none of the rules whose
    fewer findings close a relay or let a server run (each system's `fix_first`); an
    undone fix gets the files it changed or removed back through `undo`."""
    now = run.after.keys()
    caused = [f for f in result.findings if (f.rule, f.service) not in now]
    later = result.keys()
    first = {rule for system in mail_systems() for rule in system.fix_first}
    closes = {k for k in later if k[0] in first} < {k for k in now if k[0] in first}
    if caused and not closes:
        undo()
        run.dropped.append((fix, caused))
        return
    if caused:
        run.revealed.append((fix, caused))
    run.applied.append(fix)
    run.after = result


def _next_fix(run: FixRun, selected: set[str] | None, had: set[tuple[str, str | None]], unsafe: bool,
              tried: set[tuple[tuple[Edit, ...], tuple[str, ...]]]) -> Fix | None:
    candidates = []
    for finding, fix in run.after.fixes:
        # what an earlier fix caused is repaired too, whatever --rule selected
        if selected is not None and finding.rule not in selected and (finding.rule, finding.service) in had:
            continue
        if (fix.edits, fix.commands) in tried:  # offered again unchanged: it changes nothing
            continue
        if fix.safety != SAFE and not unsafe:
            # once per finding: after other fixes the same fix may come back with its lines moved
            if all((f.rule, f.summary) != (fix.rule, fix.summary) for f in run.unsafe_skipped):
                run.unsafe_skipped.append(fix)
            continue
        candidates.append(fix)
    # the fix that unblocks the others goes first (each system's `fix_order`)
    rank = {rule: i for system in mail_systems() for i, rule in enumerate(system.fix_order)}
    candidates.sort(key=lambda f: rank.get(f.rule, len(rank)))
    return candidates[0] if candidates else None
