"""Targets are what the user means: directories of hosts, single files with their siblings, files that
are no mail configuration, and bare words that are neither a path nor a configured host."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import realexim
from conftest import EXAMPLES, make_snapshot
from mailcfg.lint import lint_snapshot
from mailcfg.reporters.formats import FORMATS
from mailcfg.snapshot import load_local

UE4CC = ("dc_eximconfig_configtype='internet'\ndc_other_hostnames='example.org'\ndc_local_interfaces=''\n"
         "dc_readhost=''\ndc_relay_domains=''\ndc_minimaldns='false'\ndc_relay_nets='192.0.2.0/24'\n"
         "dc_smarthost=''\nCFILEMODE='644'\ndc_use_split_config='{split}'\ndc_hide_mailname=''\n"
         "dc_mailname_in_oh='true'\ndc_localdelivery='mail_spool'\n")


def run(*args: str, home: Path | None = None) -> subprocess.CompletedProcess:
    env = {"NO_COLOR": "1", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}
    if home is not None:
        env["HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "mailcfg", *args], capture_output=True, text=True, check=False,
                          timeout=120, env=env)


def lint_json(*args: str) -> dict:
    return json.loads(run("lint", "--format", "json", *args).stdout)


def findings(target: dict) -> list[tuple]:
    return sorted((f["rule"], f["file"], f["line"], f["message"]) for f in target["findings"])


def test_a_directory_of_hosts_is_each_host(tmp_path: Path):
    fleet = tmp_path / "fleet"
    shutil.copytree(EXAMPLES / "open-relay", fleet / "site-a" / "mx1")
    shutil.copytree(EXAMPLES / "exim-hosting", fleet / "site-a" / "mx2")
    shutil.copytree(EXAMPLES / "office-relay" / "etc", fleet / "relay-etc")  # a copied /etc
    shutil.copy(EXAMPLES / "inventory.yml", fleet / "inventory.yml")
    (fleet / "README.md").write_text("# our mail hosts\n")
    data = lint_json(str(fleet))
    labels = [t["target"] for t in data["targets"]]
    assert labels == [str(fleet / "relay-etc"), str(fleet / "site-a/mx1"), str(fleet / "site-a/mx2")]
    assert all(t["status"] == "ok" for t in data["targets"])
    # each is linted as it is alone: the same findings (a copied /etc names its files from there)
    for target, alone in zip(data["targets"], (fleet / "relay-etc", fleet / "site-a/mx1", fleet / "site-a/mx2"),
                             strict=True):
        assert findings(target) == findings(lint_json(str(alone))["targets"][0])
    relay = {f["rule"]: f for f in data["targets"][0]["findings"]}
    assert relay["postfix-mynetworks-too-wide"]["file"] == "postfix/main.cf"


def test_the_examples_directory_lints_every_example():
    data = lint_json(str(EXAMPLES))
    expected = sorted(str(p.parent) for p in EXAMPLES.glob("*/expected.tsv"))
    assert [t["target"] for t in data["targets"]] == expected


@pytest.mark.parametrize(("name", "text", "hint"), [
    ("README.md", "# Mail\n\nSet `mynetworks = 10.0.0.0/8` in main.cf, then:\n\n    postfix reload\n",
     "give a main.cf"),
    ("inventory.yml", (EXAMPLES / "inventory.yml").read_text(), "an inventory?"),
    ("hosts.ini", "[mx]\nmx1 ansible_host=192.0.2.25\n", "an inventory?"),
    ("policy.yml", (EXAMPLES / "open-relay" / "policy.yml").read_text(), "a policy file?"),
    ("helo_access", (EXAMPLES / "open-relay" / "etc/postfix/helo_access").read_text(), "give a main.cf"),
    ("mysql-virtual.cf", "hosts = 127.0.0.1\nuser = mail\ndbname = mail\nquery = SELECT 1\n", "give a main.cf"),
    ("empty", "", "give a main.cf"),
])
def test_a_file_that_is_no_mail_configuration_says_so(tmp_path: Path, name: str, text: str, hint: str):
    path = tmp_path / name
    path.write_text(text)
    proc = run("lint", "--format", "json", str(path))
    assert proc.returncode == 2
    [target] = json.loads(proc.stdout)["targets"]
    assert target["status"] == "error" and target["findings"] == []
    assert target["error"].startswith("not a mail configuration (") and hint in target["error"]
    assert proc.stderr == f"mailcfg: {path}: {target['error']}\n"


@pytest.mark.parametrize(("name", "text", "system"), [
    ("postfix.conf", "myhostname = mx.example.org\nmynetworks = 127.0.0.0/8\n", "postfix"),
    ("mail.conf", "primary_hostname = mx.example.org\nbegin acl\nacl_check_rcpt:\n  accept\n", "exim"),
    ("exim-main", "primary_hostname = mx.example.org\nqualify_domain = example.org\n", "exim"),
])
def test_a_configuration_under_another_name_is_recognised_by_its_content(tmp_path: Path, name, text, system):
    path = tmp_path / name
    path.write_text(text)
    data = lint_json(str(path))
    assert data["targets"][0]["systems"] == [system] and data["targets"][0]["status"] == "ok"


def test_a_bare_word_is_a_host_only_when_ssh_config_names_it(tmp_path: Path):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    # port 1 on loopback: nothing listens, the connection is refused at once
    (home / ".ssh/config").write_text("Host mx1\n  HostName 127.0.0.1\n  Port 1\n\nHost *\n  User ops\n")
    typo = run("lint", "mx2", home=home)
    assert typo.returncode == 2
    assert typo.stderr == "mailcfg: mx2: no such file or directory (use ssh://mx2 for a host)\n"
    known = run("lint", "mx1", home=home)
    assert known.returncode == 3  # a host: tried, unreachable


def test_a_missing_path_is_named_once(tmp_path: Path):
    missing = tmp_path / "nope" / "main.cf"
    proc = run("lint", str(missing))
    assert proc.returncode == 2 and proc.stderr == f"mailcfg: {missing}: no such file or directory\n"


def test_single_master_cf_reads_main_cf_beside_it(tmp_path: Path):
    root = make_snapshot(tmp_path / "s", main="compatibility_level = 3.6\nmynetworks = 0.0.0.0/0\n",
                         master="smtp inet n - y - - smtpd\nsubmission inet n - y - - smtpd\n")
    etc = root / "etc/postfix"
    alone = lint_json(str(etc / "master.cf"))["targets"][0]
    assert findings(alone) == findings(lint_json(str(etc))["targets"][0])
    assert {"main.cf", "master.cf"} <= {f["file"] for f in alone["findings"]}  # main.cf's mynetworks was read


@pytest.mark.parametrize("split", ["true", "false"])
def test_update_exim4_conf_conf_reads_conf_d_and_the_template(tmp_path: Path, split: str):
    confdir = realexim.stock_confdir(tmp_path / "exim4")
    (confdir / "update-exim4.conf.conf").write_text(UE4CC.format(split=split))
    alone = lint_json(str(confdir / "update-exim4.conf.conf"))["targets"][0]
    together = lint_json(str(confdir))["targets"][0]
    assert alone["status"] == "ok" and findings(alone) == findings(together)
    assert not [f for f in alone["findings"] if f["rule"] == "exim-syntax" and f["severity"] == "error"]
    assert "None" not in json.dumps(alone)


def test_a_temporary_snapshot_is_never_named_in_reports(tmp_path: Path):
    """A fetched host is linted from a snapshot in a temporary directory that is gone when the report
    is written: reports name its files as the snapshot does, never by the temporary path."""
    temporary = tmp_path / "mailcfg-fetch-tmp"
    shutil.copytree(EXAMPLES / "open-relay", temporary)
    result = lint_snapshot(load_local(str(temporary), name="mx1.example.org"))
    shutil.rmtree(temporary)
    for fmt, render in FORMATS.items():
        report = render([result], False)
        assert "mailcfg-fetch-tmp" not in report, fmt
        assert "etc/postfix/helo_access" in report, fmt


def test_a_copied_etc_names_files_from_its_root_and_its_patch_applies_there(tmp_path: Path):
    etc = tmp_path / "etc-copy"
    shutil.copytree(EXAMPLES / "exim-hosting" / "etc", etc)
    shutil.copytree(EXAMPLES / "open-relay" / "etc" / "postfix", etc / "postfix")
    [target] = lint_json(str(etc))["targets"]
    assert target["systems"] == ["postfix", "exim"]
    assert {f["file"] for f in target["findings"]} == {"exim4/exim4.conf", "postfix/helo_access"}
    patch = tmp_path / "fix.patch"
    run("fix", str(etc), "--unsafe-fixes", "--patch", str(patch))
    written = tmp_path / "written"
    shutil.copytree(etc, written)
    run("fix", str(written), "--unsafe-fixes", "--write")
    subprocess.run(["patch", "-p1", "-s", "-i", str(patch)], cwd=etc, check=True)
    def texts(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}

    assert texts(etc) == texts(written)
    assert (etc / "exim4/exim4.conf").read_text() != (EXAMPLES / "exim-hosting/etc/exim4/exim4.conf").read_text()
