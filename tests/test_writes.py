"""Atomic writes: a new file gets the mode any program's new file gets, a replaced one keeps its own."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from mailcfg.writes import write_atomic


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_file_follows_the_umask_and_a_replaced_one_keeps_its_mode(tmp_path: Path):
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "report.sarif", "{}\n")  # a report or baseline CI steps read as other users
        (tmp_path / "main.cf").write_text("a = 1\n")
        os.chmod(tmp_path / "main.cf", 0o640)
        write_atomic(tmp_path / "main.cf", "a = 2\n")
    finally:
        os.umask(old)
    assert mode(tmp_path / "report.sarif") == 0o644
    assert mode(tmp_path / "main.cf") == 0o640 and (tmp_path / "main.cf").read_text() == "a = 2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["main.cf", "report.sarif"]  # no temporary left
