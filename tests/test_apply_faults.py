"""`fix --apply` under injected faults, on the real sshd-served host with a real Postfix (test_apply.Host).

Each test ends with the host's files compared byte for byte, Postfix asked whether it runs, and
the status mailcfg reports. The change is one line added to main.cf; the re-check is given as
the lint the fixes predicted (the CLI path with a real re-lint is in test_apply.py). Confirmation
windows are a few seconds where the test waits for the host to roll back by itself.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mailcfg.fixer import FileChange, FixRun
from mailcfg.lint import TargetResult
from mailcfg.remote.apply import apply_fixes, plan
from mailcfg.remote.fetch import lint_host
from mailcfg.remote.hosts import HostSpec
from mailcfg.remote.ssh import Connection, SshError, SshOptions, load_known_hosts
from realsshd import available
from test_apply import Host, mailcfg

pytestmark = pytest.mark.skipif(not available(), reason="needs Debian's sshd, unshare and root (scripts/setup.sh)")

ADDED = "# changed by mailcfg's fault test\n"
SHORT = 2  # seconds a changed host waits for a confirmation in the tests that let it time out


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    h = Host(tmp_path_factory.mktemp("apply-faults"), users={"deploy": "ALL=(root) NOPASSWD: ALL",
                                                                        "guest": None})
    yield h
    h.stop()


def change(host: Host) -> FixRun:
    text = host.original["main.cf"].decode()
    predicted = TargetResult("t")
    return FixRun("t", host.conf, predicted, predicted,
                  changes=[FileChange("etc/postfix/main.cf", text, text + ADDED)])


def confirmed() -> TargetResult:
    return TargetResult("t")  # exactly the findings change() predicts: none


def wait_for(predicate, what: str, limit: float = 60.0):
    """Poll until `predicate()` is true (a bound against hanging, not a timing assertion)."""
    deadline = time.monotonic() + limit
    while not (found := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)
    return found


def outcome(host: Host) -> str:
    """The outcome line of the one run on the host, once it has one."""
    def read():
        files = list(host.state.glob("runs/*/outcome"))
        return files and files[0].read_text().strip()
    return wait_for(read, "the run's outcome")


def restored(host: Host) -> bool:
    return (host.conf / "main.cf").read_bytes() == host.original["main.cf"]


def test_the_change_is_confirmed_and_stays(host):
    host.reset()
    old = [f"20200101T0000{i:02d}Z-old" for i in range(25)]  # runs of earlier applies, their outcomes received
    for run in old:
        (host.state / "runs" / run).mkdir(parents=True)
        (host.state / "runs" / run / "outcome").write_text("applied reloaded\n")
        (host.state / "runs" / run / "seen").write_text("")
    done = apply_fixes(HostSpec.from_url(host.url), host.options(), change(host), confirmed, confirm_seconds=60)
    assert (done.status, done.detail) == ("applied", "reloaded"), done
    assert "confirmed" in done.log and done.earlier == []
    assert (host.conf / "main.cf").read_bytes() == host.original["main.cf"] + ADDED.encode()
    [backup] = host.conf.glob("main.cf.mailcfg-*")
    assert backup.read_bytes() == host.original["main.cf"]
    assert host.running() and not (host.state / "lock").exists()
    [this] = [p.parent for p in host.state.glob("runs/*/log")]
    assert (this / "seen").exists()  # the outcome was received: no later run reports it
    assert not list(this.glob("new.*")) and not list(this.glob("old.*"))
    assert sorted(p.name for p in (host.state / "runs").iterdir()) == [*old[-19:], this.name]  # the newest 20


def test_a_connection_dropped_during_the_check_is_rolled_back(host):
    host.reset()
    (host.ctl / "HOLD-CHECK").write_text("")
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(apply_fixes, HostSpec.from_url(host.url), host.options(), change(host), confirmed,
                              confirm_seconds=60)
        wait_for(lambda: (host.ctl / "IN-CHECK").exists(), "the check to start")
        assert (host.conf / "main.cf").read_bytes().endswith(ADDED.encode())  # written, now being checked
        assert host.sshd.drop_sessions() >= 1
        (host.ctl / "GO").write_text("")
        done = running.result()
    assert done.status == "rolled-back", done
    assert done.detail.startswith("the connection was lost while the change was made: unreachable")
    assert "restored /etc/postfix/main.cf" in done.log
    assert restored(host) and host.running()


def test_a_host_unreachable_during_the_recheck_rolls_back_by_itself_and_the_next_run_says_so(host):
    host.reset()
    spec = HostSpec.from_url(host.url)
    impatient = SshOptions(known_hosts=host.kh, identity=host.sshd.client_key, timeout=2)

    def recheck():  # the host goes away while mailcfg collects it again
        host.sshd.pause()
        host.sshd.drop_sessions()
        return lint_host(spec, impatient)

    try:
        with pytest.raises(SshError, match="the host decides by itself"):
            apply_fixes(spec, impatient, change(host), recheck, confirm_seconds=SHORT)
    finally:
        host.sshd.resume()
    [run] = [p.parent.name for p in host.state.glob("runs/*/run.sh")]
    assert outcome(host) == f"rolled-back no confirmation within {SHORT} s (the re-check did not finish)"
    assert restored(host) and host.running()

    again = apply_fixes(spec, host.options(), change(host), confirmed, confirm_seconds=60)
    assert again.status == "applied"
    assert again.earlier == [f"{run} rolled-back no confirmation within {SHORT} s (the re-check did not finish)"]
    assert (host.state / "runs" / run / "seen").exists()


def test_a_controller_killed_while_the_host_waits_leaves_a_rolled_back_host(host, tmp_path):
    host.reset()
    tests = Path(__file__).resolve().parent
    code = f"""import sys, time
sys.path.insert(0, {str(tests)!r})
from mailcfg.remote.apply import apply_fixes, plan
from mailcfg.remote.hosts import HostSpec
from mailcfg.remote.ssh import SshOptions
from pathlib import Path
from test_apply_faults import change

class Served:
    original = {{"main.cf": Path({str(host.conf / "main.cf")!r}).read_bytes()}}
    conf = Path({str(host.conf)!r})

options = SshOptions(known_hosts=Path({str(host.kh)!r}), identity=Path({str(host.sshd.client_key)!r}))
apply_fixes(HostSpec.from_url({host.url!r}), options, change(Served), lambda: time.sleep(3600), confirm_seconds={SHORT})
"""
    controller = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: any("=== waiting" in p.read_text() for p in host.state.glob("runs/*/log")),
                 "the host to wait for the confirmation")
        assert (host.conf / "main.cf").read_bytes().endswith(ADDED.encode())
    finally:
        os.kill(controller.pid, signal.SIGKILL)
        controller.wait()
    ended = outcome(host)
    assert ended.startswith(f"rolled-back no confirmation within {SHORT} s")
    assert restored(host) and host.running()

    # the next fix --apply says how that run ended (it was never heard of), then applies its own fixes
    [run] = [p.parent.name for p in host.state.glob("runs/*/outcome")]
    out = mailcfg("fix", host.url, "--apply", "--unsafe-fixes", *host.ssh, home=tmp_path)
    assert f"mailcfg: {host.url}: an earlier --apply no mailcfg heard the end of: run {run} {ended}" \
        in out.stderr.splitlines(), out.stderr
    assert f"mailcfg: {host.url}: applied: reloaded" in out.stderr.splitlines()


def test_a_full_disk_before_the_backup_changes_nothing(host):
    host.reset()
    tmpfs(host)
    try:
        assert host.remote("cat /dev/zero > /etc/postfix/FILLER")[0] != 0  # full
        done = apply_fixes(HostSpec.from_url(host.url), host.options(), change(host), confirmed, confirm_seconds=60)
        assert done.status == "failed"
        assert "No space left on device" in done.detail and done.detail.endswith("nothing was changed")
        assert served(host, "main.cf") == host.original["main.cf"]
        assert host.remote("ls /etc/postfix")[1].decode().split() == sorted(["FILLER", *os.listdir(host.conf)])
        assert host.running()
    finally:
        host.remote("umount /etc/postfix")


def test_a_disk_that_fills_during_the_check_is_still_restored_byte_for_byte(host):
    """Issue 12 item 5: no room to copy the backup back; the verified backup is renamed back instead."""
    host.reset()
    tmpfs(host)
    (host.ctl / "FILL-DISK").write_text("")
    try:
        done = apply_fixes(HostSpec.from_url(host.url), host.options(), change(host), confirmed, confirm_seconds=60)
        assert (done.status, done.detail) == \
            ("rolled-back", "postfix check failed: postfix/postfix-script: fatal: forced failure with the disk full")
        assert "restored /etc/postfix/main.cf" in done.log
        assert served(host, "main.cf") == host.original["main.cf"]
        assert host.remote("test -s /etc/postfix/FILLER")[0] == 0  # still full
        assert host.running()
    finally:
        host.remote("umount /etc/postfix")


def test_a_restore_that_cannot_write_is_reported_as_rollback_failed(host):
    host.reset()
    (host.ctl / "READ-ONLY").write_text("")
    try:
        done = apply_fixes(HostSpec.from_url(host.url), host.options(), change(host), confirmed, confirm_seconds=60)
    finally:
        host.remote("mount -o remount,bind,rw /etc/postfix")
    assert done.status == "rollback-FAILED"
    assert done.detail.startswith("postfix check failed: postfix/postfix-script: fatal: forced failure on a "
                                  "read-only /etc/postfix; NOT restored: /etc/postfix/main.cf (")
    assert "Read-only file system" in done.detail
    # the truth: the new file is still there, and Postfix still runs
    assert (host.conf / "main.cf").read_bytes() == host.original["main.cf"] + ADDED.encode()
    assert host.running()


def test_postfix_dying_after_the_reload_is_restored_and_started_again(host):
    host.reset()
    (host.ctl / "DIE-ON-RELOAD").write_text("")
    done = apply_fixes(HostSpec.from_url(host.url), host.options(), change(host), confirmed, confirm_seconds=60)
    assert (done.status, done.detail) == ("rolled-back", "Postfix stopped after the reload")
    assert "restored /etc/postfix/main.cf" in done.log and "started Postfix" in done.log
    assert restored(host) and host.running()


def test_a_second_apply_is_refused_while_one_holds_the_lock_and_a_stale_lock_is_taken_over(host):
    host.reset()
    spec = HostSpec.from_url(host.url)
    second: list = []

    def recheck():  # while the first run waits for its confirmation, another apply tries the host
        second.append(apply_fixes(spec, host.options(), change(host), confirmed, confirm_seconds=60))
        return confirmed()

    first = apply_fixes(spec, host.options(), change(host), recheck, confirm_seconds=60)
    assert first.status == "applied"
    [refused] = second
    assert refused.status == "refused" and refused.detail.startswith("another apply (run ")
    assert "holds the lock /var/lib/mailcfg/lock: nothing was changed" in refused.detail

    host.reset()
    gone = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True).stdout.strip()
    os.symlink(f"20260101T000000Z-crashed {gone}", host.state / "lock")  # its process no longer exists
    done = apply_fixes(spec, host.options(), change(host), confirmed, confirm_seconds=60)
    assert done.status == "applied"
    assert "stale-lock of run 20260101T000000Z-crashed removed" in done.log


def tmpfs(host: Host) -> None:
    """A small tmpfs over /etc/postfix (inside the host's namespace only) holding a copy of its files."""
    rc, out = host.remote('d=$(mktemp -d) && cp -a /etc/postfix/. "$d" && mount -t tmpfs -o size=512k tmpfs '
                          '/etc/postfix && cp -a "$d"/. /etc/postfix && rm -rf "$d"')
    assert rc == 0, out


def served(host: Host, name: str) -> bytes:
    rc, out = host.remote(f"cat /etc/postfix/{name}")
    assert rc == 0
    return out


def test_a_run_killed_on_the_host_is_never_reported_as_rolled_back(host):
    """kill -9 of the detached run itself: nothing can restore, and nothing pretends it did."""
    host.reset()
    (host.ctl / "HOLD-CHECK").write_text("")
    spec = HostSpec.from_url(host.url)
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(apply_fixes, spec, host.options(), change(host), confirmed, confirm_seconds=60)
        wait_for(lambda: (host.ctl / "IN-CHECK").exists(), "the check to start")
        [pid] = [int(p.read_text()) for p in host.state.glob("runs/*/pid")]
        os.kill(pid, signal.SIGKILL)
        (host.ctl / "GO").write_text("")
        done = running.result()
    assert done.status == "rollback-FAILED"
    assert done.detail == "the run on the host ended without an outcome after 'wrote /etc/postfix/main.cf': " \
                          "look at /etc/postfix/main.cf"
    assert (host.conf / "main.cf").read_bytes() == host.original["main.cf"] + ADDED.encode()  # the truth

    # the next apply takes over the dead run's lock, and says again how that run ended
    (host.ctl / "HOLD-CHECK").unlink()
    [run] = [p.parent.name for p in host.state.glob("runs/*/pid")]
    again = apply_fixes(spec, host.options(), change(host), confirmed, confirm_seconds=60)
    assert again.status == "refused" and "changed since the snapshot" in again.detail
    assert f"stale-lock of run {run} removed" in again.log
    assert again.earlier == [f"{run} rollback-FAILED stopped without an outcome after \"wrote /etc/postfix/main.cf\": "
                             "look at /etc/postfix/main.cf"]


def test_without_root_rights_nothing_changes_and_with_become_it_applies_through_sudo(host):
    host.reset()
    spec = HostSpec.from_url(host.sshd.url("deploy"))
    done = apply_fixes(spec, host.options(), change(host), confirmed, confirm_seconds=60)
    assert (done.status, done.detail) == ("failed", "cannot create /var/lib/mailcfg/runs: nothing was changed")
    assert restored(host) and not list(host.conf.glob("*.mailcfg-*"))

    become = SshOptions(known_hosts=host.kh, identity=host.sshd.client_key, become=True)
    with pytest.raises(SshError, match="the apply script did not run, nothing was changed: sudo"):
        apply_fixes(HostSpec.from_url(host.sshd.url("guest")), become, change(host), confirmed)
    assert restored(host) and not list(host.state.iterdir())

    done = apply_fixes(spec, become, change(host), confirmed, confirm_seconds=60)
    assert (done.status, done.detail) == ("applied", "reloaded"), done
    assert (host.conf / "main.cf").read_bytes() == host.original["main.cf"] + ADDED.encode()
    assert host.running()


def test_a_check_that_outlasts_the_command_timeout_is_rolled_back_by_the_host(host):
    host.reset()
    (host.ctl / "HOLD-CHECK").write_text("")
    spec = HostSpec.from_url(host.url)
    hasty = SshOptions(known_hosts=host.kh, identity=host.sshd.client_key, command_timeout=3)
    try:
        # the start times out, and so does waiting for the rollback it then asks for
        with pytest.raises(SshError, match=r"timed out after 3s; the host decides by itself \(it rolls back"):
            apply_fixes(spec, hasty, change(host), confirmed, confirm_seconds=60)
    finally:
        (host.ctl / "GO").write_text("")
    assert outcome(host) == "rolled-back the connection was lost while the change was made: unreachable: the " \
                            "remote command timed out after 3s"
    assert restored(host) and host.running()


def test_a_second_file_that_cannot_be_written_puts_the_first_back(host):
    host.reset()
    obstacle = host.conf / "master.cf.mailcfg-tmp"  # where the new master.cf would be written: a directory
    obstacle.mkdir()
    try:
        run = change(host)
        master = host.original["master.cf"].decode()
        run.changes.append(FileChange("etc/postfix/master.cf", master, master + ADDED))
        done = apply_fixes(HostSpec.from_url(host.url), host.options(), run, confirmed, confirm_seconds=60)
    finally:
        shutil.rmtree(obstacle)
    assert done.status == "rolled-back"
    assert done.detail.startswith("writing /etc/postfix/master.cf failed: ") and "Is a directory" in done.detail
    assert "wrote /etc/postfix/main.cf" in done.log and "restored /etc/postfix/main.cf" in done.log
    assert {name: (host.conf / name).read_bytes() for name in host.original} == host.original
    assert host.running()


def test_a_start_that_arrives_after_its_rollback_request_changes_nothing(host):
    """The connection dropped while the start was on its way; mailcfg's rollback request got there first."""
    host.reset()
    p = plan(change(host), datetime.now(UTC))
    with Connection(HostSpec.from_url(host.url).target, host.options(), load_known_hosts(host.options())) as conn:
        _rc, asked, _err = conn.run("sh -s", p.decide_script(False, "the connection was lost").encode())
        _rc, started, _err = conn.run("sh -s", p.start_script().encode())
    assert asked.decode() == "=== outcome failed the run never started: nothing was changed\n"
    assert started.decode().startswith(f"=== outcome failed cannot write /var/lib/mailcfg/runs/{p.run}: ")
    assert restored(host) and not list(host.conf.glob("*.mailcfg-*")) and host.running()
    assert not (host.state / "lock").exists()
