"""Fixing a target: lint, apply one fix, lint again, until no selected fix is left.

The work happens on a private copy of the target's files, so nothing the user has is touched
until they ask (`--write`, `--apply`). One fix per round, then a fresh lint: a fix is always
computed on the configuration as the previous fixes left it, which keeps fixes that touch the
same list from fighting, and a fix that does not make its finding go away is not tried twice.
Each fix is judged on its own: one whose result has a finding the configuration did not have is
undone alone, with that finding as the reason, and the others are kept. Closing an open relay
comes first, though: a fix that closes one is kept even when that reveals another problem
(inbound mail that only came in through the hole), which is then reported, and fixed as well
where a fix exists, whatever --rule says.
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
ORDER = ("exim-no-rcpt-acl", "exim-open-relay", "exim-relay-from-any", "exim-users-cannot-relay",
         "exim-auth-without-tls", "postfix-no-relay-check", "postfix-syntax", "postfix-open-relay",
         "postfix-mynetworks-too-wide",
         "postfix-permit-mx-backup", "postfix-submission-no-auth", "postfix-users-cannot-relay",
         "postfix-inbound-rejected", "postfix-sasl-anonymous", "postfix-auth-without-tls", "postfix-soft-bounce")
# A fix that makes fewer of these findings closes an open relay: it is kept whatever it reveals.
OPEN_RELAY = ("postfix-open-relay", "exim-open-relay", "exim-relay-from-any")


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
            saved = _saved(fix, run.after, load_local(entry))
            touched |= _write(fix, run.after, work)
            for host_path in fix.stale:  # rebuilt after the fix from the edited files: the copy here is out of date
                stale = load_local(entry).resolve(host_path)
                if stale is not None:
                    stale.unlink()
            _judge(run, fix, lint_snapshot(_reload(entry, snap, target)), saved)
        run.changes = _changes(snap.root, work, touched)
    return run


def _reload(entry: str, original: Snapshot, target: str) -> Snapshot:
    snap = load_local(entry, name=target)
    snap.facts = original.facts  # a fetched host's facts (roles, unreadable files) stay what they were
    return snap


def _judge(run: FixRun, fix: Fix, result: TargetResult, saved: dict[Path, bytes]) -> None:
    """Keep `fix` (its result is `result`) unless it causes a finding and closes no open relay; an
    undone fix gets the files it changed or removed back from `saved`."""
    now = run.after.keys()
    caused = [f for f in result.findings if (f.rule, f.service) not in now]
    later = result.keys()
    closes = {k for k in later if k[0] in OPEN_RELAY} < {k for k in now if k[0] in OPEN_RELAY}
    if caused and not closes:
        for path, data in saved.items():
            path.write_bytes(data)
        run.dropped.append((fix, caused))
        return
    if caused:
        run.revealed.append((fix, caused))
    run.applied.append(fix)
    run.after = result


def _saved(fix: Fix, result: TargetResult, snap: Snapshot) -> dict[Path, bytes]:
    """The bytes of every file `fix` edits or makes stale, to undo it."""
    paths = [s.real_path for e in fix.edits if (s := result.sources.get(e.file)) is not None and s.real_path]
    paths += [p for host_path in fix.stale if (p := snap.resolve(host_path)) is not None]
    return {p: p.read_bytes() for p in paths}


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
