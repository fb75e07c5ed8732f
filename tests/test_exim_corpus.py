"""The public Exim configurations of the corpus (../shared/corpus/realworld/exim), read as they are.

Each must lint without an error status or a traceback. Where MANIFEST.tsv documents what a
configuration does about relaying, the findings must say the same. Debian hosts whose repository
holds only update-exim4.conf.conf are completed with the package's own /etc/exim4 (as installed
from exim4-config 4.96), which is what such a host runs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import realexim as rx
from conftest import CORPUS
from mailcfg.lint import lint_path

EXIM = CORPUS / "exim"
FILES = sorted(p for p in EXIM.glob("*/*") if p.is_file())


def _rules(result) -> set[str]:
    return {f.rule for f in result.findings}


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_every_corpus_file_lints(path: Path):
    result = lint_path(str(path))
    if path.name.startswith("conf.d__"):
        # one part of a Debian split configuration (drivers without their `begin`): not linted alone
        assert result.status == "error" and "part of Debian's split Exim configuration" in result.error
        return
    assert result.status == "ok", result.error
    assert all(f.location.file for f in result.findings if f.rule != "exim-no-rcpt-acl")


def test_documented_relay_behaviour():
    assert "exim-open-relay" in _rules(lint_path(str(EXIM / "bambocher__docker-exim-relay/exim.conf")))
    for closed in ("Exim__exim/src__src__configure.default", "leafac__kill-the-newsletter/exim.conf",
                   "hestiacp__hestiacp/install__deb__exim__exim4.conf.template"):
        assert "exim-open-relay" not in _rules(lint_path(str(EXIM / closed))), closed


@pytest.mark.parametrize(("repo", "open_relay"), [("infinum__exim4-docker", True), ("samsheff__exim4-docker", True),
                                                  ("isaacphysics__isaac-exim", False)])
def test_debian_settings_with_the_package_files(tmp_path: Path, repo: str, open_relay: bool):
    confdir = rx.stock_confdir(tmp_path / "etc" / "exim4")
    shutil.copy(EXIM / repo / "update-exim4.conf.conf", confdir / "update-exim4.conf.conf")
    result = lint_path(str(tmp_path))
    assert result.status == "ok" and "exim-syntax" not in _rules(result), result.findings
    assert ("exim-open-relay" in _rules(result)) == open_relay, result.findings
    if repo == "isaacphysics__isaac-exim":  # dc_relay_nets='10.0.0.0/9'
        [wide] = [f for f in result.findings if f.rule == "exim-relay-from-any"]
        assert wide.location.file == "etc/exim4/update-exim4.conf.conf" and "10.0.0.0/9" in wide.message
