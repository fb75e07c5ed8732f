"""The hooks of .pre-commit-hooks.yaml, run by the real `pre-commit` in a scratch git repository.

Offline: the hooks are declared `repo: local` with the manifest's own fields (entry, arguments,
pass_filenames, ...), `language: system` and the installed `mailcfg`, instead of pre-commit
building a virtualenv from the package index."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, make_snapshot
from ruamel.yaml import YAML

MAILCFG = Path(sys.executable).with_name("mailcfg")
PRE_COMMIT = Path(sys.executable).with_name("pre-commit")
MASTER = "smtp      inet  n       -       y       -       -       smtpd\n"
RELAY = "smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination\n"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def _local_hooks() -> list[dict]:
    """The manifest's hooks as `repo: local` ones run by the installed mailcfg."""
    hooks = YAML(typ="safe").load((REPO / ".pre-commit-hooks.yaml").read_text())
    local = []
    for hook in hooks:
        program, _, args = hook["entry"].partition(" ")
        assert program == "mailcfg" and hook["language"] == "python"
        local.append({**hook, "entry": f"{MAILCFG} {args}", "language": "system"})
    return local


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    if not PRE_COMMIT.exists() or not shutil.which("git"):
        pytest.fail("pre-commit and git are needed: install the test extras (scripts/setup.sh)")
    repo = tmp_path / "configs"
    make_snapshot(repo / "hosts/mx1", main=RELAY + "soft_bounce = yes\n", master=MASTER)
    make_snapshot(repo / "hosts/mx2", main=RELAY + "soft_bounce = yes\n", master=MASTER)
    (repo / "README.md").write_text("mail hosts\n")
    yaml = YAML()
    with (repo / ".pre-commit-config.yaml").open("w") as out:
        yaml.dump({"repos": [{"repo": "local", "hooks": _local_hooks()}]}, out)
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "t@example.org")
    _git(repo, "config", "user.name", "t")
    return repo


def _run(repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PRE_COMMIT_HOME": str(repo.parent / "pre-commit-home"), "NO_COLOR": "1"}
    env.pop("MAILCFG_DEBUG", None)
    return subprocess.run([str(PRE_COMMIT), "run", *args], cwd=repo, env=env, capture_output=True, text=True,
                          check=False)


def test_changed_files_hook_lints_their_targets_and_reports_only_their_findings(repo):
    # staged: mx1's master.cf (clean) and the README; mx1's main.cf and all of mx2 are not
    _git(repo, "add", ".pre-commit-config.yaml", "README.md", "hosts/mx1/etc/postfix/master.cf")
    clean = _run(repo, "mailcfg")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "Passed" in clean.stdout and "soft_bounce" not in clean.stdout

    (repo / "hosts/mx1/etc/postfix/main.cf").write_text(RELAY + "\n# moved down\nsoft_bounce = yes\n")
    _git(repo, "add", "hosts/mx1/etc/postfix/main.cf")
    failed = _run(repo, "mailcfg")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Failed" in failed.stdout
    assert "hosts/mx1 (postfix)" in failed.stdout and "hosts/mx2" not in failed.stdout  # linted once, alone
    assert "4:1  warning  postfix-soft-bounce" in failed.stdout


def test_whole_repository_hook(repo):
    _git(repo, "add", ".")
    proc = _run(repo, "mailcfg-all")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "hosts/mx1 (postfix)" in proc.stdout and "hosts/mx2 (postfix)" in proc.stdout
