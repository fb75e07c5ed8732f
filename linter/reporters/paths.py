"""Where a finding's file is on this machine, as CI annotations want it."""

from __future__ import annotations

import os
from pathlib import Path

from mailcfg.lint import TargetResult


def local_path(target: TargetResult, file: str) -> Path | None:
    """The real file behind a snapshot-relative `file`, when the target was read from local files (a
    fetched host's snapshot was temporary and is gone: its files are named as the snapshot names them)."""
    source = target.sources.get(file)
    real = source.real_path.resolve() if source and source.real_path else None
    return real if real is not None and real.exists() else None


def working_path(target: TargetResult, file: str) -> str:
    """The file relative to the working directory when it lies below it, else its absolute path
    (or the snapshot-relative name when no local file stands behind it)."""
    real = local_path(target, file)
    if real is None:
        return file
    cwd = Path.cwd().resolve()
    return Path(os.path.relpath(real, cwd)).as_posix() if real.is_relative_to(cwd) else str(real)
