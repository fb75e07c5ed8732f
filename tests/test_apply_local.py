"""fix --apply's host scripts run by the local sh on files under a temporary directory (no SSH, no MTA):
what the start script refuses, and how it takes a stale lock."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from mailcfg.fixer import FileChange, FixRun
from mailcfg.lint import TargetResult
from mailcfg.remote.apply import apply_fixes, plan
from mailcfg.remote.applyscript import PRELUDE, Mta, Plan
from mailcfg.remote.hosts import HostSpec
from mailcfg.remote.ssh import SshOptions

# an MTA that is not running and whose check passes: nothing outside the temporary directory is touched
FAKE = Mta("Fake", "running() { return 1; }\nnote() { was_running=no; }\ncheck() { return 0; }\n"
                   "reload() { :; }\nstart() { :; }\n")
OLD, NEW = "soft_bounce = yes\n", "soft_bounce = no\n"


def fix_run(tmp_path: Path, path: str) -> FixRun:
    nothing = TargetResult("t")
    return FixRun("t", tmp_path, nothing, nothing, changes=[FileChange(path.lstrip("/"), OLD, NEW)])


def local_plan(tmp_path: Path, target: Path) -> Plan:
    p = plan(fix_run(tmp_path, str(target)), datetime.now(UTC), confirm_seconds=1, state=str(tmp_path / "state"))
    return dataclasses.replace(p, mta=FAKE)


def sh(script: str, env: dict | None = None) -> str:
    return subprocess.run(["sh", "-s"], input=script, capture_output=True, text=True, check=False, timeout=60,
                          env=env).stdout


def test_a_file_that_is_a_symbolic_link_is_refused_and_stays_a_link(tmp_path):
    real = tmp_path / "managed" / "main.cf"
    real.parent.mkdir()
    real.write_text(OLD)
    link = tmp_path / "main.cf"
    link.symlink_to(real)
    out = sh(local_plan(tmp_path, link).start_script())
    assert f"=== outcome refused {link} is a symbolic link: nothing was changed" in out
    assert link.is_symlink() and real.read_text() == OLD
    assert not list(tmp_path.glob("main.cf.mailcfg-*")) and not (tmp_path / "state" / "lock").is_symlink()


def test_a_path_that_is_not_plain_names_is_refused_before_connecting(tmp_path):
    spec = HostSpec.from_url("ssh://root@host.invalid")
    for path in ("/etc/postfix/../shadow", "/etc/postfix/./main.cf", "/etc/postfix//main.cf",
                 "/etc/postfix/main.cf\nsecond"):
        done = apply_fixes(spec, SshOptions(), fix_run(tmp_path, path), recheck=None)
        assert done.status == "refused" and "not a host path" in done.detail


def test_a_stale_lock_taken_over_meanwhile_by_another_start_is_not_removed(tmp_path):
    target = tmp_path / "main.cf"
    target.write_text(OLD)
    state = tmp_path / "state"
    (state / "runs").mkdir(parents=True)
    lock = state / "lock"
    lock.symlink_to("OLD-RUN 999999999")  # its process is gone: stale
    # another start removes the stale lock and takes it between this start's two looks at it
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "readlink").write_text(f"""#!/bin/sh
if [ "$1" = {str(lock)!r} ] && [ ! -e {str(tmp_path / "raced")!r} ]; then
  : > {str(tmp_path / "raced")!r}
  {shutil.which("readlink")} "$@"
  rm -f "$1"; ln -s "OTHER-RUN {os.getpid()}" "$1"
  exit 0
fi
exec {shutil.which("readlink")} "$@"
""")
    (bin_dir / "readlink").chmod(0o755)
    out = sh(local_plan(tmp_path, target).start_script(), env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert "=== outcome refused another apply took the lock" in out
    assert os.readlink(lock) == f"OTHER-RUN {os.getpid()}" and target.read_text() == OLD


def test_a_start_after_its_rollback_request_leaves_the_requests_outcome(tmp_path):
    target = tmp_path / "main.cf"
    target.write_text(OLD)
    p = local_plan(tmp_path, target)
    assert sh(p.decide_script(False, "the connection was lost")) == \
        "=== outcome failed the run never started: nothing was changed\n"
    assert sh(p.start_script()).startswith(f"=== outcome failed cannot write {p.dir}: ")
    assert (Path(p.dir) / "outcome").read_text() == "failed the run never started: nothing was changed\n"
    assert target.read_text() == OLD and not (tmp_path / "state" / "lock").is_symlink()


def test_a_backup_name_already_taken_is_left_alone_and_nothing_changes(tmp_path):
    target = tmp_path / "main.cf"
    target.write_text(OLD)
    p = local_plan(tmp_path, target)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("not to be written\n")
    backup = Path(p.files[0].path + ".mailcfg-" + p.files[0].stamp)
    backup.symlink_to(elsewhere)  # an earlier run's backup, or a link: never written through
    out = sh(p.start_script())
    assert f"=== outcome failed backup {backup} exists already: nothing was changed" in out
    assert elsewhere.read_text() == "not to be written\n" and backup.is_symlink() and target.read_text() == OLD


def test_a_temporary_name_left_as_a_link_is_replaced_not_written_through(tmp_path):
    target = tmp_path / "main.cf"
    target.write_text(OLD)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("not to be written\n")
    (tmp_path / "main.cf.mailcfg-tmp").symlink_to(elsewhere)
    p = dataclasses.replace(local_plan(tmp_path, target), confirm_seconds=0)
    out = sh(p.start_script())
    assert f"=== wrote {target}" in out
    outcome = Path(p.dir) / "outcome"
    for _ in range(300):  # no confirmation: the run rolls back by itself, through the same temporary name
        if outcome.exists():
            break
        time.sleep(0.1)
    assert outcome.read_text().startswith("rolled-back ") and target.read_text() == OLD
    assert elsewhere.read_text() == "not to be written\n"


def test_only_run_names_the_host_reported_are_acknowledged(tmp_path):
    from mailcfg.remote.apply import _Session

    p = local_plan(tmp_path, tmp_path / "main.cf")
    session = _Session(HostSpec.from_url("ssh://root@host.invalid"), SshOptions(), None, p)
    session.earlier = ["../../etc applied x", "20261202T000000Z-0a1b2c3d rolled-back y", "a*b failed z"]
    sent: list[str] = []
    session._exec = lambda script: sent.append(script) or ["acked"]
    session.ended(("applied", ""))
    assert f"for r in {p.run} 20261202T000000Z-0a1b2c3d; do" in sent[0]


def test_a_run_whose_lock_was_taken_meanwhile_changes_nothing(tmp_path):
    target = tmp_path / "main.cf"
    target.write_text(OLD)
    lock = tmp_path / "state" / "lock"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # the start script is gone before its run takes the lock over, and another apply took it for stale
    (bin_dir / "setsid").write_text(f"""#!/bin/sh
rm -f {str(lock)!r}; ln -s "OTHER-RUN {os.getpid()}" {str(lock)!r}
exec {shutil.which("setsid")} "$@"
""")
    (bin_dir / "setsid").chmod(0o755)
    out = sh(local_plan(tmp_path, target).start_script(), env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert f"=== outcome failed the lock {lock} is no longer held by this run: nothing was changed" in out
    assert os.readlink(lock) == f"OTHER-RUN {os.getpid()}" and target.read_text() == OLD
    assert not list(tmp_path.glob("main.cf.mailcfg-*"))


def test_a_file_whose_credentials_the_fetch_redacted_is_refused_before_connecting(tmp_path):
    spec = HostSpec.from_url("ssh://root@host.invalid")  # never reached: the refusal comes first
    done = apply_fixes(spec, SshOptions(), fix_run(tmp_path, "/etc/postfix/main.cf"), recheck=None,
                       redacted=frozenset({"/etc/postfix/main.cf"}))
    assert done.status == "refused"
    assert done.detail == ("/etc/postfix/main.cf holds credentials mailcfg did not collect: apply the patch by "
                           "hand (mailcfg fix --patch FILE): nothing was changed")


def test_a_zombie_and_a_process_gone_are_not_alive():
    """The host scripts' alive(): a daemon that exited but is not yet reaped (or reaped since kill -0
    looked) is not running; one that runs is."""
    running = subprocess.Popen(["sleep", "60"])
    exited = subprocess.Popen(["true"])
    try:
        state = ""
        for _ in range(600):  # not reaped by this test until asked: a zombie once it has exited
            state = Path(f"/proc/{exited.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if state == "Z":
                break
            time.sleep(0.05)
        assert state == "Z"
        said = sh(PRELUDE + "".join(f'alive {pid} && echo {pid} alive || echo {pid} gone\n'
                                    for pid in (running.pid, exited.pid)))
        assert said == f"{running.pid} alive\n{exited.pid} gone\n"
    finally:
        running.kill()
        running.wait()
        exited.wait()
    assert sh(PRELUDE + f"alive {running.pid} && echo alive || echo gone\n") == "gone\n"


def test_a_daemon_that_dies_before_the_rollback_reloads_it_is_started_and_the_rollback_succeeds(tmp_path):
    """A daemon seen running by the rollback and gone when it is reloaded (kill: No such process) is
    no failure of the rollback: it is started again, as one found stopped would be."""
    target = tmp_path / "main.cf"
    target.write_text(OLD)
    marks = tmp_path / "marks"
    marks.mkdir()
    dying = Mta("Dying", f"""note() {{ was_running=yes; }}
check() {{ why="the check failed"; return 1; }}
running() {{
  [ -e {marks}/started ] && return 0
  [ -e {marks}/looked ] && return 1
  : > {marks}/looked  # running when the rollback first looks, gone just after
}}
reload() {{ echo "kill: No such process"; return 1; }}
start() {{ : > {marks}/started; }}
""")
    p = dataclasses.replace(local_plan(tmp_path, target), mta=dying)
    out = sh(p.start_script())
    assert "=== outcome rolled-back the check failed" in out, out
    assert "=== started Dying" in out and target.read_text() == OLD
