"""`mailcfg lint --changed FILE...` (the pre-commit hook): each changed file mapped to the target that
holds it, each target linted once, only the findings in the changed files reported.

A file's target is the nearest directory above it that is a target (a snapshot, a copy of /etc, a
Postfix or Exim config directory), widened to the /etc copy and the snapshot it sits in: the whole
configuration a setting takes effect in, so a lookup table or a master.cf change is
judged with the main.cf beside it. A file in no target (a README) is not mail configuration and is
left out. Findings about the configuration as a whole (no file, or a file the target lacks such as
an assumed stock master.cf) are kept: the change may be what caused them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from mailcfg.lint import TargetResult
from mailcfg.snapshot import dir_kind
from mailcfg.systems import mail_systems

SNAPSHOT, ETC = "snapshot", "etc"


@dataclasses.dataclass(frozen=True)
class Unit:
    """A directory the hook lints, and the changed files in it."""

    target: str  # the directory to lint, as the changed files' paths spell it
    files: frozenset[Path]  # the changed files in it, resolved


def _etc_slots() -> set[str]:
    """The /etc subdirectories the mail systems' configurations live in (mailcfg.system.Layout): a config
    directory in one of them is linted as part of the /etc copy, and that copy as part of its snapshot."""
    return {d.removeprefix("/etc/") for s in mail_systems() for d in s.layout.directories if d.startswith("/etc/")}


def units(files: list[str]) -> list[Unit]:
    """The targets holding `files`, in the order first named, each with the files changed in it."""
    kinds: dict[Path, str | None] = {}

    def kind(directory: Path) -> str | None:
        if directory not in kinds:
            kinds[directory] = dir_kind(directory) if directory.is_dir() else None
        return kinds[directory]

    found: dict[str, set[Path]] = {}
    for name in files:
        target = _target_of(Path(name), kind)
        if target is not None:
            found.setdefault(target, set()).add(Path(name).resolve())
    return [Unit(target, frozenset(changed)) for target, changed in found.items()]


def _target_of(file: Path, kind: Callable[[Path], str | None]) -> str | None:
    """The nearest directory above `file` that is a target, widened to the /etc copy and the snapshot
    it is part of."""
    for directory in file.parents:
        found = kind(directory)
        if found is None:
            continue
        if found not in (SNAPSHOT, ETC) and directory.name in _etc_slots() and kind(directory.parent) == ETC:
            directory, found = directory.parent, ETC
        if found == ETC and directory.name == "etc" and kind(directory.parent) == SNAPSHOT:
            directory = directory.parent
        return str(directory)
    return None


def only_changed(result: TargetResult, unit: Unit) -> TargetResult:
    """`result` with only the findings in the unit's changed files (or in no file)."""
    def changed(file: str | None) -> bool:
        if not file:
            return True
        source = result.sources.get(file)
        real = source.real_path if source is not None and source.real_path is not None else Path(unit.target, file)
        return real.resolve() in unit.files or not real.exists()  # a file it lacks: about the whole

    return dataclasses.replace(result, findings=[f for f in result.findings if changed(f.location.file)],
                               fixes=[(f, fix) for f, fix in result.fixes if changed(f.location.file)])

