"""A snapshot never reaches outside itself, never hangs, never crashes: hostile snapshots through the CLI.

A canary file outside the snapshot holds a unique string in a form that would change the verdict if
it were read (a table that permits everyone); it must appear in no output of lint, explain, test or
fix, in any format, and each way of naming it is reported at the line that names it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES, make_snapshot
from mailcfg.errors import MailcfgError
from mailcfg.lint import lint_path
from mailcfg.writes import write_inside

CANARY = "CANARY-4f1e9b"
FORMATS = ("text", "json", "sarif", "junit", "github", "codeclimate")
OUTSIDE = "mailcfg-path-outside-snapshot"
SPECIAL = "mailcfg-not-a-regular-file"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    # a hang is a failure, not a stuck suite: the limit is far above any normal run
    return subprocess.run([sys.executable, "-m", "mailcfg", *args], capture_output=True, text=True, cwd=cwd,
                          check=False, timeout=120, env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})


def up_to_root(path: Path) -> str:
    """`path` as a host path that climbs out of /etc/postfix with `..` first."""
    return "/etc/postfix/" + "../" * 12 + str(path).lstrip("/")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory beside the snapshots with files that would open the relay if they were read."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "table").write_text(f"0.0.0.0/0 OK {CANARY}\n")
    (out / "hash").write_text(f"victim.example OK\n{CANARY} OK\n")
    (out / "list").write_text(f"0.0.0.0/0 # {CANARY}\n")
    (out / "exim.conf").write_text(f"hostlist canary_hosts = 0.0.0.0/0 : {CANARY}\n")
    return out


@pytest.fixture
def postfix_snapshot(tmp_path: Path, outside: Path) -> Path:
    root = make_snapshot(tmp_path / "pf", main=(
        "compatibility_level = 3.6\nmyhostname = mx.example.org\nmydestination = example.org\n"
        "mynetworks = 127.0.0.0/8 /etc/postfix/netlist\n"
        f"smtpd_client_restrictions = check_client_access cidr:{up_to_root(outside / 'table')}\n"
        "smtpd_relay_restrictions = check_client_access cidr:/etc/postfix/linked.cidr,\n"
        "    check_recipient_access hash:/etc/postfix/sub/hash,\n"
        "    permit_mynetworks, reject_unauth_destination\n"),
        master="smtp inet n - y - - smtpd\n", facts={"addresses": [{"address": "192.0.2.1", "prefix": 24}]})
    etc = root / "etc/postfix"
    (etc / "linked.cidr").symlink_to(outside / "table")
    (etc / "netlist").symlink_to(outside / "list")
    (etc / "sub").symlink_to(outside)  # a directory on the way leads out
    return root


@pytest.fixture
def exim_snapshot(tmp_path: Path, outside: Path) -> Path:
    root = tmp_path / "ex"
    shutil.copytree(EXAMPLES / "exim-hosting", root)
    conf = root / "etc/exim4/exim4.conf"
    text = conf.read_text().replace(
        "acl_smtp_mail = acl_check_mail\n",
        "acl_smtp_mail = acl_check_mail\n"
        ".include_if_exists /etc/exim4/linked.conf\n").replace(
        "  accept  hosts         = +relay_from_hosts\n",
        "  accept  hosts         = /etc/exim4/trusted\n  accept  hosts         = +relay_from_hosts\n")
    conf.write_text(text)
    (root / "etc/exim4/linked.conf").symlink_to(outside / "exim.conf")
    (root / "etc/exim4/trusted").symlink_to(outside / "list")
    return root


def outputs(target: Path, policy: Path, tmp_path: Path) -> list[subprocess.CompletedProcess]:
    procs = [run("lint", str(target), "--format", fmt) for fmt in FORMATS]
    for fmt in ("text", "json"):
        procs.append(run("explain", str(target), "--client", "0.0.0.1", "--rcpt", "victim@victim.example",
                         "--format", fmt))
        procs.append(run("test", str(target), "--policy", str(policy), "--format", fmt))
    patch = tmp_path / "fix.patch"
    procs.append(run("fix", str(target), "--unsafe-fixes", "--patch", str(patch), "--diff"))
    procs.append(subprocess.CompletedProcess([], 0, patch.read_text(), ""))
    return procs


def tree(path: Path) -> dict[str, str]:
    """Every file below `path` (links as links): what a run must leave as it was."""
    found = {}
    for p in sorted(path.rglob("*")):
        if p.is_symlink():
            found[str(p)] = "-> " + os.readlink(p)
        elif p.is_file():
            found[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return found


def test_postfix_snapshot_never_shows_what_lies_outside(postfix_snapshot: Path, outside: Path, tmp_path: Path):
    policy = tmp_path / "policy.yml"
    policy.write_text("probes:\n  - name: outsiders cannot relay\n    client: 198.51.100.77\n"
                      "    sender: a@outside.example\n    rcpt: victim@victim.example\n    expect: reject\n")
    before = tree(tmp_path)
    for proc in outputs(postfix_snapshot, policy, tmp_path):
        assert CANARY not in proc.stdout + proc.stderr, proc.args
        assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr, proc.args
    after = tree(tmp_path)
    assert after.pop(str(tmp_path / "fix.patch"))  # the one file written, as asked
    assert after == before
    data = json.loads(run("lint", str(postfix_snapshot), "--format", "json").stdout)
    refused = {(f["file"], f["line"]): f["message"] for f in data["targets"][0]["findings"] if f["rule"] == OUTSIDE}
    main = "etc/postfix/main.cf"
    assert set(refused) == {(main, 4), (main, 5), (main, 6), (main, 7)}
    assert "'..'" in refused[(main, 5)] and "symbolic link" in refused[(main, 6)]
    assert all(str(outside) not in m for m in refused.values() if "symbolic link" in m)


def test_exim_snapshot_never_shows_what_lies_outside(exim_snapshot: Path, tmp_path: Path):
    policy = EXAMPLES / "exim-hosting" / "policy.yml"
    before = tree(tmp_path)
    for proc in outputs(exim_snapshot, policy, tmp_path):
        assert CANARY not in proc.stdout + proc.stderr, proc.args
        assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr, proc.args
    after = tree(tmp_path)
    after.pop(str(tmp_path / "fix.patch"))
    assert after == before
    data = json.loads(run("lint", str(exim_snapshot), "--format", "json").stdout)
    findings = data["targets"][0]["findings"]
    refused = {(f["file"], f["line"]) for f in findings if f["rule"] == OUTSIDE}
    conf = "etc/exim4/exim4.conf"
    assert refused == {(conf, 9), (conf, 31)}  # the include_if_exists and the ACL's list file
    # an include_if_exists not read is passed over, as an absent one
    assert not [f for f in findings if f["rule"] == "exim-syntax" and "include" in f["message"]]


def test_exim_include_climbing_out_is_refused_as_an_unreadable_include(tmp_path: Path, outside: Path):
    root = tmp_path / "ex"
    (root / "etc/exim4").mkdir(parents=True)
    (root / "etc/exim4/exim4.conf").write_text(
        f"primary_hostname = mx.example.org\n.include /../../../../../../../..{outside / 'exim.conf'}\n")
    for fmt in FORMATS:
        proc = run("lint", str(root), "--format", fmt)
        assert proc.returncode == 1 and CANARY not in proc.stdout + proc.stderr
    findings = json.loads(run("lint", str(root), "--format", "json").stdout)["targets"][0]["findings"]
    # what Exim would say of an include it cannot open, and why it was not opened, both at the line
    assert {(f["rule"], f["line"]) for f in findings} == {(OUTSIDE, 2), ("exim-syntax", 2)}


def test_a_link_that_stays_inside_is_followed(tmp_path: Path):
    root = make_snapshot(tmp_path / "s", main="compatibility_level = 3.6\nmyhostname = mx.example.org\n"
                         "smtpd_relay_restrictions = check_helo_access hash:/etc/postfix/helo, permit_mynetworks, "
                         "reject_unauth_destination\n", master="smtp inet n - y - - smtpd\n",
                         files={"/srv/shared/helo": "web1.example.org OK\n"})
    (root / "etc/postfix/helo").symlink_to("../../srv/shared/helo")
    data = json.loads(run("lint", str(root), "--format", "json").stdout)
    rules = {f["rule"]: f for f in data["targets"][0]["findings"]}
    assert OUTSIDE not in rules
    assert rules["postfix-open-relay"]["file"] == "etc/postfix/helo"  # the table was read through the link


def test_fifo_table_is_reported_not_read(tmp_path: Path):
    root = make_snapshot(tmp_path / "s", main="compatibility_level = 3.6\nsmtpd_relay_restrictions = "
                         "check_client_access cidr:/etc/postfix/clients, permit_mynetworks, "
                         "reject_unauth_destination\n",
                         master="smtp inet n - y - - smtpd\n")
    os.mkfifo(root / "etc/postfix/clients")
    os.mkfifo(root / "etc/postfix/unused")  # not named: nothing to say, and nothing copies it any more
    proc = run("lint", str(root), "--format", "json")
    [finding] = [f for f in json.loads(proc.stdout)["targets"][0]["findings"] if f["rule"] == SPECIAL]
    assert (finding["file"], finding["line"]) == ("etc/postfix/main.cf", 2) and "FIFO" in finding["message"]
    fixed = run("fix", str(root), "--unsafe-fixes")
    assert "internal error" not in fixed.stderr and fixed.returncode in (0, 1)


@pytest.mark.parametrize("kind", ["fifo", "dangling", "outside", "directory"])
def test_main_cf_that_cannot_be_read_stops_the_lint(tmp_path: Path, outside: Path, kind: str):
    root = make_snapshot(tmp_path / "s", master="smtp inet n - y - - smtpd\n")
    main = root / "etc/postfix/main.cf"
    {"fifo": lambda: os.mkfifo(main), "dangling": lambda: main.symlink_to(root / "nowhere"),
     "outside": lambda: main.symlink_to(outside / "table"), "directory": main.mkdir}[kind]()
    for target in (root, root / "etc/postfix"):
        proc = run("lint", str(target))
        assert proc.returncode == 2
        [line] = proc.stderr.splitlines()
        assert "main.cf" in line and "internal error" not in line and CANARY not in proc.stdout + line
        assert line.count(str(target)) == 1  # the path once, never "/x: /x: ..."


@pytest.mark.parametrize("facts", [
    [], "text", {"hostname": 7}, {"hostname": ["a"]}, {"addresses": "10.0.0.1"}, {"addresses": [1]},
    {"addresses": [{"address": 5, "prefix": 24}]}, {"addresses": [{"address": "10.0.0.1", "prefix": "24"}]},
    {"addresses": [{"address": "10.0.0.1", "prefix": True}]}, {"addresses": [{"address": "10.0.0.1", "prefix": 99}]},
    {"systems": []}, {"systems": {"postfix": "3.6"}}, {"systems": {"postfix": {"version": 3.6}}},
    {"collected": 1}, {"unreadable": {}}, {"unreadable": ["x"]}, {"unreadable": [{"path": 1}]},
    {"unreadable": [{"path": "/x", "reason": []}]}, {"roles": "mx"}, {"roles": [{}]}, {"roles": ["mx", None]},
])
def test_facts_of_the_wrong_type_are_an_error_naming_the_file(tmp_path: Path, facts):
    root = make_snapshot(tmp_path / "s", main="compatibility_level = 3.6\n", facts=facts)
    result = lint_path(str(root))  # what `lint` runs; the CLI prints the error as one line, exit 2
    assert result.status == "error" and result.error.startswith(".mailcfg-host/facts.json")
    assert "\n" not in result.error


def test_facts_nested_deeply_or_not_a_file(tmp_path: Path):
    root = make_snapshot(tmp_path / "s", main="compatibility_level = 3.6\n", facts={})
    facts = root / ".mailcfg-host/facts.json"
    facts.write_text('{"hostname": ' + "[" * 100000 + "]" * 100000 + "}")
    proc = run("lint", str(root))
    assert proc.returncode == 2 and "facts.json" in proc.stderr and "internal error" not in proc.stderr
    facts.write_text('{"addresses": "10.0.0.1"}')
    proc = run("lint", str(root), "--format", "json")
    assert proc.returncode == 2 and json.loads(proc.stdout)["targets"][0]["status"] == "error"
    assert proc.stderr == f"mailcfg: {root}: .mailcfg-host/facts.json: \"addresses\" must be a list of objects " \
        '("address", "prefix", "interface")\n'
    facts.unlink()
    os.mkfifo(facts)
    proc = run("lint", str(root))
    assert proc.returncode == 2 and "FIFO" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_fix_preview_writes_nothing_and_write_stays_inside(tmp_path: Path, outside: Path):
    root = make_snapshot(tmp_path / "s", main="compatibility_level = 3.6\nsoft_bounce = yes\n",
                         master="smtp inet n - y - - smtpd\n", files={"/srv/real-main.cf": ""})
    real = root / "srv/real-main.cf"
    real.write_text((root / "etc/postfix/main.cf").read_text())
    (root / "etc/postfix/main.cf").unlink()
    (root / "etc/postfix/main.cf").symlink_to("../../srv/real-main.cf")  # inside: followed and written through
    before = tree(tmp_path)
    preview = run("fix", str(root), "--unsafe-fixes")
    assert "-soft_bounce = yes" in preview.stdout and tree(tmp_path) == before
    assert run("fix", str(root), "--unsafe-fixes", "--write").returncode in (0, 1)
    assert (root / "etc/postfix/main.cf").is_symlink() and "soft_bounce = no" in real.read_text()
    assert tree(outside) == {k: v for k, v in before.items() if k.startswith(str(outside))}


def test_write_inside_refuses_paths_that_leave_the_root(tmp_path: Path, outside: Path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/out").symlink_to(outside / "table")
    (root / "etc/dir").symlink_to(outside)
    for relative in ("etc/out", "etc/dir/table", "etc/../../outside/table", "/etc/passwd"):
        with pytest.raises(MailcfgError, match="not written"):
            write_inside(root, relative, "changed\n")
    assert CANARY in (outside / "table").read_text()
    write_inside(root, "etc/new.cf", "x = 1\n")
    assert (root / "etc/new.cf").read_text() == "x = 1\n"


def test_fix_copies_nothing_so_a_fifo_beside_the_configuration_is_harmless(tmp_path: Path):
    """What made `fix /` copy the filesystem and a FIFO anywhere crash it: the old fixer copied the
    target's whole root. Now only the files the analysis reads are read, and none is copied."""
    root = make_snapshot(tmp_path / "s", main="compatibility_level = 3.6\nsoft_bounce = yes\n",
                         master="smtp inet n - y - - smtpd\n")
    (root / "var/spool").mkdir(parents=True)
    os.mkfifo(root / "var/spool/fifo")
    os.mkfifo(root / "etc/postfix/fifo")
    proc = run("fix", str(root), "--unsafe-fixes")
    assert "+soft_bounce = no" in proc.stdout and "internal error" not in proc.stderr
