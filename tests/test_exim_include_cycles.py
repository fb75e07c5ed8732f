"""An Exim file that includes itself, or files that include each other: the error real `exim -bV` gives,
at its line, never a hang or a crash."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import realexim


def lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mailcfg", "lint", "--format", "json", str(root)],
                          capture_output=True, text=True, check=False, timeout=120)


def real_error(tmp_path: Path, files: dict[str, str]) -> tuple[str, int, str]:
    """(file name, line, message) of `exim -bV` on `files` written under tmp_path/real, the first one read."""
    where = tmp_path / "real"
    for name, text in files.items():
        realexim.write_config(where / name, text.replace("/etc/exim4/", f"{where}/"))
    check = realexim.check_config(where / next(iter(files)))
    m = re.search(r"error in line (\d+) of (\S+):\n\s*(.*)", check.error)
    assert not check.ok and m, check.error
    return Path(m[2]).name, int(m[1]), m[3].replace(f"{where}/", "/etc/exim4/")


def our_error(tmp_path: Path, files: dict[str, str]) -> tuple[str, int, str]:
    root = tmp_path / "snap"
    for name, text in files.items():
        (root / "etc/exim4").mkdir(parents=True, exist_ok=True)
        (root / "etc/exim4" / name).write_text(text)
    proc = lint(root)
    assert "internal error" not in proc.stderr
    [error] = [f for f in json.loads(proc.stdout)["targets"][0]["findings"]
               if f["rule"] == "exim-syntax" and f["severity"] == "error"]
    return Path(error["file"]).name, error["line"], error["message"]


def test_a_file_including_itself_fails_where_exim_fails(tmp_path: Path):
    files = {"exim4.conf": "# a\nprimary_hostname = mx.example.org\n.include /etc/exim4/exim4.conf\n"}
    name, line, message = real_error(tmp_path, files)
    ours = our_error(tmp_path, files)
    assert (ours[0], ours[1]) == (name, line) and message in ours[2]  # the option set a second time


def test_files_including_each_other_fail_at_an_include_line_as_exim_does(tmp_path: Path):
    files = {"exim4.conf": "# a\n.include /etc/exim4/b.conf\n", "b.conf": "# b\n\n.include /etc/exim4/exim4.conf\n"}
    includes = {("exim4.conf", 2), ("b.conf", 3)}
    name, line, message = real_error(tmp_path, files)  # Exim runs out of descriptors: which line, depends
    assert (name, line) in includes and message.startswith("failed to open included configuration file")
    ours = our_error(tmp_path, files)
    assert (ours[0], ours[1]) in includes and "failed to open included configuration file /etc/exim4/" in ours[2]
