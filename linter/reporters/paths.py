"""Where a finding's file is on this machine, as CI annotations want it."""

from __future__ import annotations

import os
from pathlib import Path

from mailcfg.lint import TargetResult


class Places:
    """The local and working-directory paths of one report's files, each worked out once (resolving
    a path costs system calls, and a report can hold tens of thousands of findings)."""

    def __init__(self) -> None:
        self._cwd = Path.cwd().resolve()
        self._local: dict[tuple[str, str], Path | None] = {}
        self._working: dict[tuple[str, str], str] = {}

    def local(self, target: TargetResult, file: str) -> Path | None:
        """The real file behind a snapshot-relative `file`, when the target was read from local files (a
        fetched host's snapshot was temporary and is gone: its files are named as the snapshot names them)."""
        key = (target.target, file)
        if key not in self._local:
            source = target.sources.get(file)
            real = source.real_path.resolve() if source and source.real_path else None
            self._local[key] = real if real is not None and real.exists() else None
        return self._local[key]

    def below_cwd(self, real: Path) -> bool:
        return real.is_relative_to(self._cwd)

    def working(self, target: TargetResult, file: str) -> str:
        """The file relative to the working directory when it lies below it, else its absolute path
        (or the snapshot-relative name when no local file stands behind it)."""
        key = (target.target, file)
        if key not in self._working:
            real = self.local(target, file)
            self._working[key] = file if real is None else Path(os.path.relpath(real, self._cwd)).as_posix() \
                if self.below_cwd(real) else str(real)
        return self._working[key]
