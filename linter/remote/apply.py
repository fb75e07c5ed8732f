"""Applying fixes on a live host: changed and confirmed, or restored byte for byte, and always saying which.

It works the way network devices "commit confirmed":

1. start (one remote command): the host's lock is taken, and a run detached from the SSH session
   (remote/applyscript.py) checks the files are unchanged since the snapshot, backs them up,
   writes them, runs the MTA's own check (the mail system's `mta`: Postfix: `postfix check` and no new
   `postconf` warning; Exim: `exim -bV`, on Debian `update-exim4.conf`), reloads a running MTA, and waits up
   to `confirm_seconds` for a confirmation;
2. mailcfg collects and lints the host again (`recheck`). Only when the findings are exactly what
   the fixes predicted does it confirm (a second command); on a difference or an error it asks
   for the rollback at once; when it cannot reach the host any more (or is killed), nothing
   confirms, and the run rolls back by itself when the time is up;
3. a last command acknowledges the outcome. An outcome no mailcfg received (a connection lost
   for good) stays on the host, and the next `fix --apply` of that host reports it.

A mail system that changes a host another way (Plesk: its own CLI) brings its own applier
(mailcfg.system.HostApplier); `apply_run` sends each run to the applier of the system it fixes.

Statuses: applied, unchanged, refused (nothing changed: files differ from the snapshot, or
another apply holds the lock), failed (nothing changed: e.g. a backup could not be written),
rolled-back (every file restored and verified byte for byte, the MTA running again if it ran
before), rollback-FAILED (the files named could not be restored, or the MTA not started: a human
must look).
"""

from __future__ import annotations

import contextlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mailcfg.errors import MailcfgError
from mailcfg.fixer import FixRun
from mailcfg.remote import CONFIRM_SECONDS
from mailcfg.remote.applyscript import STATE, HostFile, Mta, Plan
from mailcfg.remote.hosts import HostSpec
from mailcfg.remote.knownhosts import KnownHosts
from mailcfg.remote.route import connect
from mailcfg.remote.sshtarget import SshError, SshOptions
from mailcfg.reporters.visible import visible
from mailcfg.systems import applying

if TYPE_CHECKING:
    from mailcfg.remote.ssh import Connection


def mta_of(run: FixRun) -> Mta:
    """The MTA the run's changes belong to, as the mail system it fixes says."""
    system = applying(run)
    if system.mta is None:
        raise MailcfgError(f"{system.title} is not changed by editing its files")
    return system.mta(run)


@dataclass
class Applied:
    """What happened on one host."""

    status: str  # applied | unchanged | refused | failed | rolled-back | rollback-FAILED
    detail: str = ""
    log: list[str] = field(default_factory=list)  # the remote steps, as the host reported them
    earlier: list[str] = field(default_factory=list)  # "RUN STATUS DETAIL" of earlier runs no mailcfg had received


def plan(run: FixRun, now: datetime, confirm_seconds: int = CONFIRM_SECONDS, state: str = STATE) -> Plan:
    """The run's files (edited, then those the MTA's tool rebuilds from them), a run id and a secret token."""
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    edited = ["/" + c.path for c in run.changes]
    files = [HostFile(i, "/" + c.path, stamp, c.before, c.after) for i, c in enumerate(run.changes)]
    derived = dict.fromkeys(p for fix in run.applied for p in fix.stale if p not in edited)
    files += [HostFile(len(files) + i, p, stamp) for i, p in enumerate(derived)]
    return Plan(f"{stamp}-{secrets.token_hex(4)}", secrets.token_hex(16), tuple(files), mta_of(run),
                confirm_seconds, state)


def host_path(path: str) -> bool:
    """An absolute path of plain names: no `.`, `..` or empty step, no control character (none of which a
    fetched snapshot holds)."""
    return path.startswith("/") and all(part not in ("", ".", "..") for part in path[1:].split("/")) and \
        not any(ord(ch) < 32 or ord(ch) == 127 for ch in path)


class NotRun(SshError):
    """The remote shell did not run the script (sudo -n refused, no sh): nothing was started."""


def _lines(spec: HostSpec, rc: int, out: bytes, err: bytes) -> list[str]:
    if rc == -1:  # no exit status: the connection went away before the script ended
        raise SshError(spec.target, "unreachable: the connection was lost during the apply")
    # what the host says is shown on a terminal: its control characters are written as escapes
    lines = [visible(line[4:]) for line in out.decode("utf-8", "replace").split("\n") if line.startswith("=== ")]
    if not lines:
        said = " ".join(err.decode("utf-8", "replace").split())[:200] or "no output"
        raise NotRun(spec.target, f"the apply script did not run, nothing was changed: {said}")
    return lines


def _outcome(lines: list[str]) -> tuple[str, str] | None:
    for line in lines:
        if line.startswith("outcome "):
            status, _, detail = line.removeprefix("outcome ").partition(" ")
            return status, detail
    return None


class _Session:
    """One apply run as mailcfg drives it: one connection while it lasts, and what the host has said so far."""

    def __init__(self, spec: HostSpec, options: SshOptions, known: KnownHosts | None, p: Plan):
        self.spec, self.options, self.known, self.plan = spec, options, known, p
        self.conn: Connection | None = None
        self.log: list[str] = []
        self.earlier: list[str] = []

    def _exec(self, script: str) -> list[str]:
        command = "sudo -n sh -s" if self.spec.ssh_options(self.options).become else "sh -s"
        try:
            if self.conn is None:
                self.conn = connect(self.spec, self.options, self.known)
            return _lines(self.spec, *self.conn.run(command, script.encode("utf-8", "surrogateescape")))
        except SshError:
            self.close()  # the next command connects again
            raise

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def start(self) -> tuple[str, str] | None:
        """Start the run; its outcome if it ended without waiting for a confirmation."""
        lines = self._exec(self.plan.start_script())
        self.earlier = [line.removeprefix("earlier ") for line in lines if line.startswith("earlier ")]
        self.log = [line for line in lines if not line.startswith("earlier ")]
        if any(line.startswith("waiting ") for line in self.log):
            return None
        return _outcome(self.log) or self._vanished()

    def decide(self, reason: str | None) -> Applied:
        """Confirm (reason None) or ask for the rollback; the outcome the host reports."""
        try:
            lines = self._exec(self.plan.decide_script(reason is None, reason or ""))
        except SshError as exc:
            how = "it applies the change only if the confirmation reached it" if reason is None else \
                "it rolls back"
            raise SshError(self.spec.target, f"{exc.reason}; the host decides by itself ({how}; with no "
                           f"confirmation it rolls back {self.plan.confirm_seconds}s after the reload), and the "
                           f"next fix --apply of this host reports how run {self.plan.run} ended") from None
        known = len(self.log) - sum(1 for line in self.log if line.startswith(("stale-lock ", "outcome ")))
        self.log += lines[known:] if lines[:1] == [f"run {self.plan.run}"] else lines
        return self.ended(_outcome(self.log) or self._vanished())

    def _vanished(self) -> tuple[str, str]:
        last = self.log[-1] if self.log else "nothing"
        files = " ".join(f.path for f in self.plan.files)
        return "rollback-FAILED", f"the run on the host ended without an outcome after {last!r}: look at {files}"

    def ended(self, outcome: tuple[str, str]) -> Applied:
        """The result, once the host's outcome and the earlier ones reported with it are acknowledged."""
        # the earlier runs are named by the host: only names a run can have are passed back to it
        runs = [self.plan.run, *(r for e in self.earlier if re.fullmatch(r"[0-9A-Za-z-]+", r := e.split(" ", 1)[0]))]
        with contextlib.suppress(SshError):  # not acknowledged: the next run reports it again, which is harmless
            self._exec(self.plan.ack_script(runs))
        status, detail = outcome
        return Applied(status, detail, [line for line in self.log if not line.startswith("outcome ")],
                       self.earlier)


def apply_run(spec: HostSpec, options: SshOptions, run: FixRun, recheck, known: KnownHosts | None = None,
              confirm_seconds: int = CONFIRM_SECONDS, redacted: frozenset[str] = frozenset()) -> Applied:
    """Apply `run` on the host the way the mail system it fixes is changed: its own applier, or the
    file-based one below."""
    system = applying(run)
    if system.applier is not None:
        return system.applier()(spec, options, run, recheck, known, confirm_seconds=confirm_seconds,
                                redacted=redacted)
    return apply_fixes(spec, options, run, recheck, known, confirm_seconds=confirm_seconds, redacted=redacted)


def apply_fixes(spec: HostSpec, options: SshOptions, run: FixRun, recheck, known: KnownHosts | None = None,
                now: datetime | None = None, confirm_seconds: int = CONFIRM_SECONDS, state: str = STATE,
                redacted: frozenset[str] = frozenset()) -> Applied:
    """Apply `run`'s changes on the host; `recheck()` collects and lints the host again while it waits.
    `redacted`: host paths whose inline credentials the fetch replaced (the snapshot's copy is not the file).

    Raises SshError only when the host cannot be reached to learn how the run ended.
    """
    if not run.changes:
        return Applied("unchanged", "nothing to change")
    held = [p for p in ("/" + c.path for c in run.changes) if p in redacted]
    if held:
        return Applied("refused", f"{visible(held[0])} holds credentials mailcfg did not collect: apply the patch "
                       "by hand (mailcfg fix --patch FILE): nothing was changed")
    unsafe = [p for p in ("/" + c.path for c in run.changes) if not host_path(p)]
    unsafe += [p for fix in run.applied for p in fix.stale if not host_path(p)]
    if unsafe:
        return Applied("refused", f"not a host path mailcfg changes: {visible(unsafe[0])}: nothing was changed")
    session = _Session(spec, options, known, plan(run, now or datetime.now(UTC), confirm_seconds, state))
    try:
        return _drive(session, run, recheck)
    finally:
        session.close()


def _drive(session: _Session, run: FixRun, recheck) -> Applied:
    try:
        ended = session.start()
    except NotRun:
        raise
    except SshError as exc:  # it may have started: ask for the rollback, and learn how it ended
        return session.decide(f"the connection was lost while the change was made: {exc.reason}")
    if ended is not None:
        return session.ended(ended)
    try:
        after = recheck()
    except Exception as exc:  # whatever stops the re-check, the change is not confirmed
        return session.decide(f"the re-check failed: {getattr(exc, 'reason', None) or exc}")
    expected, got = run.after.keys(), after.keys()
    if after.status != "ok":
        return session.decide(f"the re-check failed: {after.error}")
    if got != expected:
        return session.decide(f"the re-lint differs from the prediction: {sorted(got ^ expected)}")
    return session.decide(None)
