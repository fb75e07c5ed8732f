"""Applying fixes on a live host, so that it is never left broken.

One POSIX sh script does the risky part in a single round trip:

1. every file to change must still be byte for byte what the snapshot held (else: refused);
2. each is backed up beside itself as FILE.mailcfg-TIMESTAMP (owner and mode kept);
3. the new text is written to a temporary file in the same directory (a copy of the original,
   so owner and mode stay) and renamed over the original: a reader sees the old file or the new,
   never a partial one;
4. the MTA's own checks: `postfix check`, and `postconf -n` must print no warning it did not
   print before;
5. `postfix reload` when Postfix runs.

If step 4 or 5 fails, the backups are put back the same way and Postfix reloaded again. The
script is one `{ ... }` block, so sh parses all of it before running any of it: a connection
that drops while the script is being sent runs nothing; and it ignores SIGHUP, so a connection
that drops while it runs does not stop it halfway. Then mailcfg collects the host again and
lints it: the findings must be what the fixes predicted, or the backups are restored (a second
small script) and Postfix reloaded. Every value in the scripts is quoted with shlex.quote.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime

import paramiko
from mailcfg.fixer import FileChange, FixRun
from mailcfg.lint import TargetResult
from mailcfg.remote.hosts import HostSpec
from mailcfg.remote.route import connect
from mailcfg.remote.ssh import SshError, SshOptions

SUFFIX = ".mailcfg-"  # backups: FILE.mailcfg-YYYYmmddTHHMMSSZ

PRELUDE = r"""trap '' HUP PIPE
PATH="$PATH:/usr/sbin:/sbin:/usr/local/sbin:/usr/bin:/bin"
export PATH
LC_ALL=C
export LC_ALL
say() { printf '=== %s\n' "$*"; }
running() { command -v postfix >/dev/null 2>&1 && postfix status >/dev/null 2>&1; }
reload() { if running; then postfix reload 2>&1 || return 1; fi; return 0; }
"""


@dataclass
class Applied:
    """What happened on one host."""

    status: str  # applied | unchanged | refused | rolled-back | failed
    detail: str = ""
    log: list[str] = field(default_factory=list)  # the remote steps, as the script reported them


@dataclass(frozen=True)
class _File:
    """One file to change on the host, and the names around it, quoted for sh."""

    change: FileChange
    stamp: str

    def _q(self, suffix: str = "") -> str:
        return shlex.quote("/" + self.change.path + suffix)

    @property
    def path(self) -> str:
        return self._q()

    @property
    def backup(self) -> str:
        return self._q(SUFFIX + self.stamp)

    @property
    def tmp(self) -> str:
        return self._q(".mailcfg-tmp")

    @property
    def old(self) -> str:
        return self._q(".mailcfg-old")

    def replace(self, fill: str) -> str:
        """sh that replaces the file atomically by what `fill` puts in its temporary file."""
        return f"{fill} && mv -f {self.tmp} {self.path}"


def _restore_function(files: list[_File]) -> str:
    lines = ["restore() {"]
    lines += [f"  if [ -f {f.backup} ]; then {f.replace(f'cp -p {f.backup} {f.tmp}')} && say restored {f.path}; fi"
              for f in files]
    lines += ["  reload >/dev/null 2>&1 && say reloaded", "}"]
    return "\n".join(lines) + "\n"


def apply_script(changes: list[FileChange], stamp: str) -> str:
    """The script that checks, backs up, writes, validates and reloads (or rolls back)."""
    files = [_File(c, stamp) for c in changes]
    body = [PRELUDE, _restore_function(files)]
    for f in files:
        body.append(f"printf '%s' {shlex.quote(f.change.before)} > {f.old} || {{ say failed cannot write beside "
                    f"{f.path}; exit 1; }}")
        body.append(f"if ! cmp -s {f.old} {f.path}; then rm -f {f.old}; say refused {f.path} "
                    f"changed since the snapshot; exit 1; fi")
        body.append(f"rm -f {f.old}")
    body.append("warned=$(postconf -n 2>&1 >/dev/null | sort)")
    for f in files:
        body.append(f"cp -p {f.path} {f.backup} || {{ say failed backup of {f.path}; exit 1; }}")
        body.append(f"say backup {f.backup}")
    for f in files:
        # a copy of the original first, so that the new file keeps its owner and mode
        fill = f"cp -p {f.path} {f.tmp} && printf '%s' {shlex.quote(f.change.after)} > {f.tmp}"
        body.append(f"{f.replace(fill)} || {{ say failed writing {f.path}; restore; exit 1; }}")
        body.append(f"say wrote {f.path}")
    body.append(r"""if ! out=$(postfix check 2>&1); then say rollback postfix check failed: $out; restore; exit 1; fi
now=$(postconf -n 2>&1 >/dev/null | sort)
new=$(printf '%s\n' "$now" | while IFS= read -r line; do
  case "$NL$warned$NL" in *"$NL$line$NL"*) ;; *) printf '%s ' "$line" ;; esac
done)
if [ -n "$new" ]; then say rollback postconf warns: $new; restore; exit 1; fi
was_running=no
if running; then was_running=yes; fi
if ! out=$(reload); then say rollback postfix reload failed: $out; restore; exit 1; fi
if [ "$was_running" = yes ]; then
  sleep 1
  # master exits when it cannot bind a new service's port: put the old files back and start it
  if ! running; then say rollback Postfix stopped after the reload; restore; postfix start >/dev/null 2>&1; exit 1; fi
  say reloaded
else
  say not-running
fi
say done""")
    return "{\nNL='\n'\n" + "\n".join(body) + "\n} </dev/null\n"


def restore_script(changes: list[FileChange], stamp: str) -> str:
    files = [_File(c, stamp) for c in changes]
    return "{\n" + PRELUDE + _restore_function(files) + "restore\nsay done\n} </dev/null\n"


def _run(spec: HostSpec, options: SshOptions, script: str, known: paramiko.HostKeys | None) -> list[str]:
    command = "sudo -n sh -s" if spec.ssh_options(options).become else "sh -s"
    with connect(spec, options, known) as conn:
        _rc, out, err = conn.run(command, script.encode("utf-8", "surrogateescape"))
    lines = [line[4:] for line in out.decode("utf-8", "replace").splitlines() if line.startswith("=== ")]
    if not lines:
        said = " ".join(err.decode("utf-8", "replace").split())[:200] or "no output"
        raise SshError(spec.target, f"the apply script did not run: {said}")
    return lines


def apply_fixes(spec: HostSpec, options: SshOptions, run: FixRun, recheck, known: paramiko.HostKeys | None = None,
                now: datetime | None = None) -> Applied:
    """Apply `run`'s changes on the host; `recheck()` collects and lints the host again afterwards."""
    if not run.changes:
        return Applied("unchanged", "nothing to change")
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    log = _run(spec, options, apply_script(run.changes, stamp), known)
    last = log[-1]
    if last != "done":
        status = "refused" if last.startswith("refused") else "rolled-back" if any(
            line.startswith("rollback") for line in log) else "failed"
        return Applied(status, next((line for line in log if line.split(" ", 1)[0] in (
            "refused", "rollback", "failed")), last), log)
    after: TargetResult = recheck()
    expected, got = run.after.keys(), after.keys()
    if after.status != "ok" or got != expected:
        why = after.error if after.status != "ok" else \
            f"re-lint differs from the prediction: {sorted(got ^ expected)}"
        log += _run(spec, options, restore_script(run.changes, stamp), known)
        return Applied("rolled-back", why, log)
    return Applied("applied", "reloaded" if "reloaded" in log else "Postfix is not running: nothing to reload", log)
