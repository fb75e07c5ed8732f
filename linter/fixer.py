"""Fixing a target: lint, apply one fix, lint again, until no selected fix is left.

The work happens on a private copy of the target's files, so nothing the user has is touched
until they ask (`--write`, `--apply`). One fix per round, then a fresh lint: a fix is always
computed on the configuration as the previous fixes left it, which keeps fixes that touch the
same list from fighting, and a fix that does not make its finding go away is not tried twice. A
finding that an earlier fix caused (a narrower mynetworks that leaves users unable to send) is
fixed as well, whatever --rule says; if it cannot be, nothing is written.
The result holds each changed file before and after, relative to the target's root (the
snapshot root, the config directory, or a single file's directory): what `patch -p1` there takes.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mailcfg.edits import Edit, apply
from mailcfg.errors import MailcfgError
from mailcfg.findings import Finding
from mailcfg.fix import SAFE, Fix
from mailcfg.lint import TargetResult, lint_snapshot
from mailcfg.registry import canonical_ids
from mailcfg.snapshot import Snapshot, load_local
from mailcfg.source import read_text

MAX_ROUNDS = 50
# When several findings have a fix, the one that unblocks the others goes first: a server that
# cannot run, then relaying, then authentication, then the rest.
ORDER = ("exim-no-rcpt-acl", "exim-open-relay", "exim-users-cannot-relay", "exim-auth-without-tls",
         "exim-relay-from-any", "postfix-no-relay-check", "postfix-open-relay", "postfix-submission-no-auth",
         "postfix-users-cannot-relay", "postfix-sasl-anonymous", "postfix-auth-without-tls",
         "postfix-mynetworks-too-wide", "postfix-permit-mx-backup", "postfix-soft-bounce")


@dataclass
class FileChange:
    path: str  # relative to the target's root
    before: str
    after: str


RANK = {rule: i for i, rule in enumerate(ORDER)}


@dataclass
class FixRun:
    target: str
    root: Path  # where the target's files are: --write writes here, patch -p1 applies here
    before: TargetResult  # the lint before any fix
    after: TargetResult  # the lint after the last one
    applied: list[Fix] = field(default_factory=list)
    changes: list[FileChange] = field(default_factory=list)
    unsafe_skipped: list[Fix] = field(default_factory=list)  # offered, but --unsafe-fixes was not given

    @property
    def introduced(self) -> list[Finding]:
        """Findings after the fixes that were not there before (a fix must never cause one)."""
        old = self.before.keys()
        return [f for f in self.after.findings if (f.rule, f.service) not in old]


def fix_target(target: str, rules: list[str] | None = None, unsafe: bool = False,
               snapshot: Snapshot | None = None) -> FixRun:
    """Compute the fixes for local `target` (or an already loaded snapshot, such as a fetched one)."""
    snap = snapshot or load_local(target)
    selected = set().union(*(canonical_ids(r) for r in rules)) if rules else None
    with tempfile.TemporaryDirectory(prefix="mailcfg-fix-") as tmp:
        work = Path(tmp) / "work"
        if snap.is_snapshot or snap.root in (snap.postfix_dir, snap.exim_dir):
            shutil.copytree(snap.root, work, symlinks=True)
            entry = str(work)
        else:  # a single file: only it is part of the target
            work.mkdir()
            for path in (snap.main_cf, snap.master_cf, snap.exim_file):
                if path is not None:
                    shutil.copy2(path, work / path.name)
            entry = str(work / Path(target).name)
        first = lint_snapshot(_reload(entry, snap, target))
        run = FixRun(target, snap.root, first, first)
        had = first.keys()
        tried: set[tuple[Edit, ...]] = set()
        touched: set[str] = set()
        for _ in range(MAX_ROUNDS):
            fix = _next_fix(run, selected, had, unsafe, tried)
            if fix is None:
                break
            tried.add(fix.edits)
            touched |= _write(fix, run.after, work)
            for host_path in fix.stale:  # rebuilt after the fix from the edited files: the copy here is out of date
                stale = load_local(entry).resolve(host_path)
                if stale is not None:
                    stale.unlink()
            run.applied.append(fix)
            run.after = lint_snapshot(_reload(entry, snap, target))
        run.changes = _changes(snap.root, work, touched)
    return run


def _reload(entry: str, original: Snapshot, target: str) -> Snapshot:
    snap = load_local(entry, name=target)
    snap.facts = original.facts  # a fetched host's facts (roles, unreadable files) stay what they were
    return snap


def _next_fix(run: FixRun, selected: set[str] | None, had: set[tuple[str, str | None]], unsafe: bool,
              tried: set[tuple[Edit, ...]]) -> Fix | None:
    candidates = []
    for finding, fix in run.after.fixes:
        # what an earlier fix caused is repaired too, whatever --rule selected
        if selected is not None and finding.rule not in selected and (finding.rule, finding.service) in had:
            continue
        if fix.edits in tried:  # offered again unchanged: it changes nothing
            continue
        if fix.safety != SAFE and not unsafe:
            # once per finding: after other fixes the same fix may come back with its lines moved
            if all((f.rule, f.summary) != (fix.rule, fix.summary) for f in run.unsafe_skipped):
                run.unsafe_skipped.append(fix)
            continue
        candidates.append(fix)
    candidates.sort(key=lambda f: RANK.get(f.rule, len(ORDER)))
    return candidates[0] if candidates else None


def _write(fix: Fix, result: TargetResult, work: Path) -> set[str]:
    """Apply `fix` to the files in `work`; return the changed files relative to `work`."""
    by_file: dict[str, list[Edit]] = {}
    for e in fix.edits:
        by_file.setdefault(e.file, []).append(e)
    changed = set()
    for name, edits in by_file.items():
        source = result.sources.get(name)
        if source is None or source.real_path is None:
            raise MailcfgError(f"fix for {fix.rule}: {name} is not a file of this target")
        lines = apply(source.lines, edits)
        source.real_path.write_text("".join(lines), encoding="utf-8", errors="surrogateescape", newline="")
        changed.add(str(source.real_path.relative_to(work)))
    return changed


def _changes(root: Path, work: Path, touched: set[str]) -> list[FileChange]:
    changes = []
    for rel in sorted(touched):
        before = read_text(root / rel) if (root / rel).exists() else ""
        after = read_text(work / rel)
        if before != after:
            changes.append(FileChange(rel, before, after))
    return changes
