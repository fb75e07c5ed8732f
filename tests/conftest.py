"""Shared test helpers: build snapshots on disk and lint them."""

from __future__ import annotations

import compileall
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from mailcfg.findings import Finding
from mailcfg.lint import lint_snapshot
from mailcfg.snapshot import load_local

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus" / "realworld"
EXAMPLES = REPO / "examples"


def pytest_sessionstart(session) -> None:
    """Bytecode for the package before the tests start their many `mailcfg` processes: with
    PYTHONDONTWRITEBYTECODE set, each would otherwise compile every module again (~80 ms a process)."""
    for folder in ("linter", "rules"):
        compileall.compile_dir(REPO / folder, quiet=2)


# The files that take longest (real daemons, apply's timeouts, differential batches) go first: the parallel
# run hands out whole files in collection order, so a long one left for last would run alone at the end.
LONGEST_FIRST = ("test_apply_faults", "test_exim_fix_real", "test_ssh", "test_fix_real_postfix", "test_scale",
                 "test_relay_rules_differential", "test_postconf_differential", "test_hostile", "test_apply_exim",
                 "test_postfix_differential", "test_apply", "test_ansible", "test_fix", "test_plesk_host")


def pytest_collection_modifyitems(items) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))


def named_apart(findings: list[dict]) -> list[dict]:
    """JSON findings without their fingerprints: a fingerprint hashes the target's name, so the same host
    under another name (URL, snapshot path, inventory alias) has other fingerprints and the same findings."""
    return [{k: v for k, v in f.items() if k != "fingerprint"} for f in findings]


def make_snapshot(root: Path, main: str | None = None, master: str | None = None,
                  facts: dict | None = None, files: dict[str, str] | None = None) -> Path:
    """A snapshot directory: etc/postfix/{main,master}.cf, other host files, facts."""
    etc = root / "etc" / "postfix"
    etc.mkdir(parents=True, exist_ok=True)
    if main is not None:
        (etc / "main.cf").write_text(main)
    if master is not None:
        (etc / "master.cf").write_text(master)
    for path, text in (files or {}).items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    if facts is not None:
        (root / ".mailcfg-host").mkdir(exist_ok=True)
        (root / ".mailcfg-host" / "facts.json").write_text(json.dumps(facts))
    return root


@pytest.fixture
def lint(tmp_path: Path) -> Callable[..., list[Finding]]:
    """lint(main=..., master=..., facts=..., files=...) -> findings of that snapshot."""
    counter = iter(range(1000))

    def run(**kwargs) -> list[Finding]:
        root = make_snapshot(tmp_path / f"snap{next(counter)}", **kwargs)
        return lint_snapshot(load_local(str(root))).findings

    return run


def by_rule(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    """Dovecot and two real Postfix instances in their own namespaces (tests/realpostfix.py), per module."""
    import realpostfix as rp

    why = rp.available()
    if why:  # not a skip: CI installs Postfix and Dovecot (scripts/setup.sh) and runs as root
        pytest.fail(f"the real-Postfix harness cannot run: {why}")
    with rp.Harness(tmp_path_factory.mktemp("postfix-harness"), instances=2) as h:
        yield h
