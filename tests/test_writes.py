"""Atomic writes: a new file gets the mode any program's new file gets, a replaced one keeps its own."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

from conftest import EXAMPLES
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


def test_a_device_or_fifo_is_written_into_never_replaced(tmp_path: Path):
    """`-o /dev/null` (or /dev/stdout, a FIFO): the rename that makes a file's write atomic would put a
    regular file where the device was (as root, the system's /dev/null). A null device of our own stands in."""
    null = tmp_path / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    write_atomic(null, "report\n")
    assert stat.S_ISCHR(null.stat().st_mode)
    lint = [sys.executable, "-m", "mailcfg", "lint", str(EXAMPLES / "broken-submission"), "-o", str(null)]
    run = subprocess.run(lint, capture_output=True, text=True, check=False)
    assert run.returncode == 1 and stat.S_ISCHR(null.stat().st_mode), run.stderr

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    write_atomic(fifo, "through the pipe\n")
    reader.join(timeout=10)
    assert got == ["through the pipe\n"] and stat.S_ISFIFO(fifo.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "null"]  # no temporary left
