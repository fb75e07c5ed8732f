"""`mailcfg fix --apply` on a real sshd-served host running a real Postfix master.

The host (tests/realsshd.py) serves a broken configuration as /etc/postfix, with private queue and
data directories and a private /var/lib/mailcfg (where apply keeps its lock and outcomes), so
`postfix check`, `postfix start` and `postfix reload` run for real inside its mount namespace
(master_service_disable = inet: nothing listens). A `postfix` wrapper in /usr/local/sbin, which
the remote PATH finds first, injects the faults that marker files in /usr/local/sbin/ctl ask for:
FAIL-CHECK fails `postfix check`; FILL-DISK fills /etc/postfix's file system, then fails it;
READ-ONLY remounts /etc/postfix read-only, then fails it; HOLD-CHECK makes the check wait for GO
(it says IN-CHECK); DIE-ON-RELOAD kills the master right after a reload.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import EXAMPLES
from mailcfg.fixer import FileChange, FixRun
from mailcfg.lint import TargetResult
from mailcfg.remote.apply import apply_fixes, plan
from mailcfg.remote.hosts import HostSpec
from mailcfg.remote.ssh import Connection, SshOptions, load_known_hosts
from realsshd import Sshd, available

pytestmark = pytest.mark.skipif(not available(), reason="needs Debian's sshd, unshare and root (scripts/setup.sh)")

META = ("dynamicmaps.cf", "dynamicmaps.cf.d", "postfix-files", "postfix-files.d", "postfix-script", "post-install")
WRAPPER = """#!/bin/sh
ctl=/usr/local/sbin/ctl
case "$1" in
check)
  if [ -e $ctl/HOLD-CHECK ]; then
    : > $ctl/IN-CHECK
    i=0
    while [ ! -e $ctl/GO ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
  fi
  if [ -e $ctl/FILL-DISK ]; then
    cat /dev/zero > /etc/postfix/FILLER 2>/dev/null
    echo "postfix/postfix-script: fatal: forced failure with the disk full" >&2
    exit 1
  fi
  if [ -e $ctl/READ-ONLY ]; then
    mount -o remount,bind,ro /etc/postfix
    echo "postfix/postfix-script: fatal: forced failure on a read-only /etc/postfix" >&2
    exit 1
  fi
  if [ -e $ctl/FAIL-CHECK ]; then
    printf 'postfix/postfix-script: fatal: forced failure for the test\\033[2J\\nsecond line\\n' >&2
    exit 1
  fi ;;
reload)
  if [ -e $ctl/DIE-ON-RELOAD ]; then
    /usr/sbin/postfix reload
    kill -9 "$(tr -d ' ' < /var/spool/postfix/pid/master.pid)"
    exit 0
  fi ;;
esac
exec /usr/sbin/postfix "$@"
"""


class Host:
    def __init__(self, base: Path, users: dict[str, str | None] | None = None):
        self.conf = base / "etc-postfix"
        shutil.copytree(EXAMPLES / "open-relay" / "etc" / "postfix", self.conf)
        for name in META:
            src = Path("/etc/postfix") / name
            if src.is_dir():
                shutil.copytree(src, self.conf / name)
            elif src.exists():
                shutil.copy2(src, self.conf / name)
        shutil.copy(Path("/etc/postfix/master.cf"), self.conf / "master.cf")
        with (self.conf / "main.cf").open("a") as fh:
            fh.write("master_service_disable = inet\n")
        self.original = {name: (self.conf / name).read_bytes() for name in ("main.cf", "master.cf")}
        spool, lib, sbin, self.state = base / "spool", base / "lib", base / "sbin", base / "state"
        for d in (spool, lib, sbin, self.state):
            d.mkdir()
        shutil.chown(lib, "postfix")
        self.ctl = sbin / "ctl"
        self.ctl.mkdir()
        (sbin / "postfix").write_text(WRAPPER)
        os.chmod(sbin / "postfix", 0o755)
        self.sshd = Sshd(base, self.conf, mounts={"/var/spool/postfix": spool, "/var/lib/postfix": lib,
                                                  "/usr/local/sbin": sbin, "/var/lib/mailcfg": self.state},
                          users=users)
        self.kh = self.sshd.known_hosts(base / "known_hosts")
        self.ssh = ("--known-hosts", str(self.kh), "--identity", str(self.sshd.client_key))
        self.run_remote("postfix start")

    @property
    def url(self) -> str:
        return self.sshd.url()

    def options(self) -> SshOptions:
        return SshOptions(known_hosts=self.kh, identity=self.sshd.client_key)

    def run_remote(self, command: str) -> tuple[int, str]:
        rc, out = self.remote(command)
        return rc, out.decode()

    def remote(self, command: str) -> tuple[int, bytes]:
        """Run `command` on the host (in its namespace): exit code, stdout and stderr."""
        spec = HostSpec.from_url(self.url)
        with Connection(spec.target, self.options(), load_known_hosts(self.options())) as conn:
            rc, out, err = conn.run(command)
        return rc, out + err

    def running(self) -> bool:
        return self.run_remote("postfix status")[0] == 0

    def reset(self) -> None:
        for name, data in self.original.items():
            (self.conf / name).write_bytes(data)
        for p in [*self.conf.glob("*.mailcfg-*"), *self.ctl.iterdir()]:
            p.unlink()
        for p in self.state.iterdir():  # the directory itself is mounted on the host: emptied, not replaced
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        if not self.running():
            self.run_remote("postfix start")

    def stop(self) -> None:
        self.run_remote("postfix stop")
        self.sshd.stop()


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    h = Host(tmp_path_factory.mktemp("apply"))
    yield h
    h.stop()


def mailcfg(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"} | {"HOME": str(home), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "mailcfg", *args], capture_output=True, text=True, env=env,
                          timeout=180, check=False)


def test_apply_fixes_the_host_keeps_a_backup_reloads_and_a_second_run_changes_nothing(host, tmp_path):
    host.reset()
    local = tmp_path / "local"  # the same files fixed locally: what the host must end up with
    shutil.copytree(host.conf, local / "etc" / "postfix")
    assert mailcfg("fix", str(local), "--write", "--unsafe-fixes", home=tmp_path).returncode == 0

    out = mailcfg("fix", host.url, "--apply", "--unsafe-fixes", *host.ssh, home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"mailcfg: {host.url}: applied: reloaded" in out.stderr.splitlines()
    assert (host.conf / "main.cf").read_bytes() == (local / "etc/postfix/main.cf").read_bytes()
    [backup] = host.conf.glob("main.cf.mailcfg-*")
    assert backup.read_bytes() == host.original["main.cf"]
    assert not list(host.conf.glob("*.mailcfg-tmp")) and not list(host.conf.glob("*.mailcfg-old"))
    assert host.run_remote("postfix status")[0] == 0  # master still running, on the new configuration
    lint = json.loads(mailcfg("lint", "-f", "json", host.url, *host.ssh, home=tmp_path).stdout)
    assert "postfix-open-relay" not in {f["rule"] for f in lint["targets"][0]["findings"]}

    again = mailcfg("fix", host.url, "--apply", "--unsafe-fixes", *host.ssh, home=tmp_path)
    assert again.returncode == 0 and "unchanged: nothing to change" in again.stderr


def test_a_failed_check_is_rolled_back_byte_for_byte(host, tmp_path):
    host.reset()
    (host.ctl / "FAIL-CHECK").write_text("")
    out = mailcfg("fix", host.url, "--apply", "--unsafe-fixes", *host.ssh, home=tmp_path)
    assert out.returncode == 1
    # the host's two lines in one, its terminal control written as an escape
    assert f"mailcfg: {host.url}: rolled-back: postfix check failed: postfix/postfix-script: fatal: forced failure " \
        "for the test\\x1b[2J second line" in out.stderr.splitlines()
    assert "\x1b" not in out.stderr
    assert "host: restored /etc/postfix/main.cf" in out.stderr
    assert {name: (host.conf / name).read_bytes() for name in host.original} == host.original
    assert host.run_remote("postfix status")[0] == 0


def test_files_changed_since_the_snapshot_are_refused_and_a_bad_relint_is_rolled_back(host, tmp_path):
    host.reset()
    spec = HostSpec.from_url(host.url)
    text = host.original["main.cf"].decode()
    fixed = text + "# changed by the test\n"
    nothing = TargetResult("t")
    stale = FixRun("t", tmp_path, nothing, nothing,
                   changes=[FileChange("etc/postfix/main.cf", text + "# older\n", fixed)])
    done = apply_fixes(spec, host.options(), stale, recheck=lambda: pytest.fail("must not get this far"))
    assert done.status == "refused" and "/etc/postfix/main.cf changed since the snapshot" in done.detail
    assert (host.conf / "main.cf").read_bytes() == host.original["main.cf"]

    # the host's lint after the change differs from what the fixes predicted: the backups go back
    current = FixRun("t", tmp_path, nothing, nothing, changes=[FileChange("etc/postfix/main.cf", text, fixed)])
    surprise = TargetResult("t", findings=[])
    surprise.status, surprise.error = "error", "the host now answers differently"
    done = apply_fixes(spec, host.options(), current, recheck=lambda: surprise)
    assert done.status == "rolled-back" and done.detail == "the re-check failed: the host now answers differently"
    assert "restored /etc/postfix/main.cf" in done.log
    assert (host.conf / "main.cf").read_bytes() == host.original["main.cf"]


def test_a_script_cut_short_in_transit_runs_nothing(tmp_path):
    target = tmp_path / "main.cf"
    target.write_text("soft_bounce = yes\n")
    change = FileChange(str(target).lstrip("/"), "soft_bounce = yes\n", "soft_bounce = no\n")
    nothing = TargetResult("t")
    start = plan(FixRun("t", tmp_path, nothing, nothing, changes=[change]), datetime.now(UTC),
                 state=str(tmp_path / "state")).start_script()
    for cut in (len(start) // 3, len(start) // 2, len(start) - 20):
        out = subprocess.run(["sh", "-s"], input=start[:cut], capture_output=True, text=True, check=False)
        assert "=== " not in out.stdout and out.returncode != 0
        assert target.read_text() == "soft_bounce = yes\n" and sorted(p.name for p in tmp_path.iterdir()) == \
            ["main.cf"]
