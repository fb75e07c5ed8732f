"""The POSIX sh that changes a host for `fix --apply`, built with every value quoted (shlex.quote).

Three short scripts go on the standard input of `sh -s` (or `sudo -n sh -s`), each a `{ ... }` block
that sh parses whole before running any of it (a script cut short in transit runs nothing), and
each ignoring SIGHUP and SIGPIPE (a dropped connection does not stop it halfway):

- start: reports earlier runs' outcomes not yet acknowledged, takes the host's lock, writes this
  run's files into STATE/runs/RUN/ (old.N: what each file holds now, new.N: what it must hold),
  and starts run.sh there detached from the session (setsid, or nohup), its output going to the
  run's `log`; then it relays that log until the run waits for confirmation or has an outcome;
- decide: confirms (writes confirm-TOKEN, the random token only this run's controller knows) or
  asks for the rollback (writes `abort` with the reason), then relays the log to the outcome;
- ack: marks outcomes the controller has received as seen, and drops their file copies.

run.sh verifies every step: the files are still what the snapshot held, each backup
(FILE.mailcfg-STAMP beside it) equals old.N, each written file equals new.N, each restored file
equals old.N again. It leaves the host either changed, checked, reloaded and confirmed
(`applied`), or restored byte for byte with the MTA running if it ran before (`rolled-back`), or
says exactly which files it could not restore and why (`rollback-FAILED`); `refused` and `failed`
mean nothing was changed. The outcome goes to the run's `outcome` file and the log, so the next
run reports an outcome no controller received. Restoring copies the backup and renames it over
the file; when there is no room for a copy, the verified backup itself is renamed back.

The lock is STATE/lock, a symlink whose text is "RUN PID" (made with `ln -s`, which fails when it
exists: atomic); it is stale when that process is gone, and is then removed under STATE/lock.takeover
(made with `mkdir`: atomic), only while it still holds what was found stale.

Assumed of the host beyond POSIX sh: readlink, `date +%s`, cmp, and setsid or nohup. A daemon
counts as having survived a reload when it still runs a second later; Exim re-executes itself on
SIGHUP, so it counts as running while the pid it had, or the one in its pid file, is alive.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

STATE = "/var/lib/mailcfg"  # where runs, their outcomes and the lock live on the host
SUFFIX = ".mailcfg-"  # backups: FILE.mailcfg-YYYYmmddTHHMMSSZ
KEEP = 20  # runs kept in STATE/runs (their logs and outcomes)

PRELUDE = r"""trap '' HUP PIPE
PATH="$PATH:/usr/sbin:/sbin:/usr/local/sbin:/usr/bin:/bin"
export PATH
LC_ALL=C
export LC_ALL
say() { printf '=== %s\n' "$*" | tr '\n' ' ' | sed 's/ *$//'; echo; }  # one line, whatever the output held
nap() { sleep 0.2 2>/dev/null || sleep 1; }
# a process that exited and is not yet reaped (a zombie) is not alive, nor one gone since kill -0 looked
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  if [ -r "/proc/$$/stat" ]; then
    pstate=$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null)
  else
    pstate=$(ps -o stat= -p "$1" 2>/dev/null)
  fi
  case "$pstate" in
    Z*|X*) return 1 ;;
    "") kill -0 "$1" 2>/dev/null ;;  # no state to read (no such ps): kill -0 again decides
  esac
}
"""


@dataclass(frozen=True)
class Mta:
    """How one MTA is noted, checked, reloaded and started on the host, as sh functions.

    note() runs before anything changes (sets was_running and what check/start need);
    check() validates the new files, setting `why` when they fail; reload(), start(), running().
    """

    name: str
    functions: str


@dataclass(frozen=True)
class HostFile:
    """One host file the run touches: edited (its old and new text known) or derived (rebuilt by the MTA's tool)."""

    n: int
    path: str  # absolute
    stamp: str
    before: str | None = None  # None: a derived file, copied as it is on the host
    after: str | None = None

    def q(self, suffix: str = "") -> str:
        return shlex.quote(self.path + suffix)

    @property
    def backup(self) -> str:
        return self.q(SUFFIX + self.stamp)

    @property
    def tmp(self) -> str:
        return self.q(".mailcfg-tmp")


@dataclass(frozen=True)
class Plan:
    """One apply run: its id, its confirmation token, the files, the MTA, how long to wait for the confirmation."""

    run: str  # [0-9A-Za-z-] only
    token: str  # hex
    files: tuple[HostFile, ...]
    mta: Mta
    confirm_seconds: int
    state: str = STATE

    @property
    def dir(self) -> str:
        return f"{self.state}/runs/{self.run}"

    def _vars(self) -> str:
        return (f"state={shlex.quote(self.state)}\nrun={shlex.quote(self.run)}\n"
                f'dir="$state/runs/$run"\nNL=\'\n\'\n')

    def start_script(self) -> str:
        payload = [f"printf '%s' {shlex.quote(text)} > \"$dir/{kind}.{f.n}\""
                   for f in self.files for kind, text in (("old", f.before), ("new", f.after)) if text is not None]
        payload += [f"printf '%s\\n' {shlex.quote(f.path)} >> \"$dir/files\"" for f in self.files]
        payload.append(f"printf '%s' {shlex.quote(self.run_script())} > \"$dir/run.sh\"")
        return _block(self._vars() + EARLIER + r"""
if ! { mkdir -p "$state/runs" && chmod 700 "$state"; } 2>/dev/null; then
  say outcome failed cannot create "$state/runs": nothing was changed; exit 0
fi
held=$(readlink "$state/lock" 2>/dev/null)
live=""
if [ -n "$held" ] && alive "${held#* }"; then live=${held% *}; fi
report_earlier "$live"
if [ -n "$held" ]; then
  if [ -n "$live" ]; then
    say outcome refused another apply "(run ${held% *}, process ${held#* })" holds the lock "$state/lock": \
      nothing was changed
    exit 0
  fi
  # one start at a time removes a stale lock, and only the lock it found stale: two starts that both
  # found it stale would otherwise each remove it, the second one the first one's new lock
  if mkdir "$state/lock.takeover" 2>/dev/null; then
    if [ "$(readlink "$state/lock" 2>/dev/null)" = "$held" ]; then
      rm -f "$state/lock"
      say stale-lock of run "${held% *}" removed
    fi
    rmdir "$state/lock.takeover"
  elif [ "$(readlink "$state/lock" 2>/dev/null)" = "$held" ] && \
      [ -z "$(find "$state/lock.takeover" -prune -mmin -1 2>/dev/null)" ]; then
    say outcome refused the stale lock "$state/lock" and "$state/lock.takeover" were left by a killed apply: \
      remove both: nothing was changed
    exit 0
  fi
fi
if ! ln -s "$run $$" "$state/lock" 2>/dev/null; then
  say outcome refused another apply took the lock "$state/lock" just now: nothing was changed; exit 0
fi
# a directory already there is a rollback request that came first (or another run's): it stays
if ! err=$(mkdir "$dir" 2>&1); then
  rm -f "$state/lock"
  say outcome failed cannot write "$dir": $err: nothing was changed; exit 0
fi
if ! err=$({ """ + " && ".join(payload) + r"""; } 2>&1); then
  rm -rf "$dir"; rm -f "$state/lock"
  say outcome failed cannot write "$dir": $err: nothing was changed; exit 0
fi
cd / || exit 1
if command -v setsid >/dev/null 2>&1; then
  setsid sh "$dir/run.sh" </dev/null >>"$dir/log" 2>&1 &
else
  nohup sh "$dir/run.sh" </dev/null >>"$dir/log" 2>&1 &
fi
""" + _RELAY.replace("UNTIL", "waiting|outcome"))

    def run_script(self) -> str:
        """run.sh: the detached run, from the first comparison to its outcome."""
        edited = [f for f in self.files if f.before is not None]
        derived = [f for f in self.files if f.before is None]
        body = [f"token={shlex.quote(self.token)}\nwait_s={self.confirm_seconds}\nmta={shlex.quote(self.mta.name)}",
                'cd "$dir" || exit 1', "printf '%s\\n' \"$$\" > pid",
                # the lock passes from the start script to this process (a rename: atomic), unless another
                # apply took it meanwhile (the start script gone, its lock taken for stale)
                'case "$(readlink "$state/lock" 2>/dev/null)" in "$run "*) ;; *) finish failed the lock '
                '"$state/lock" is no longer held by this run: nothing was changed ;; esac',
                'ln -sf "$run $$" "$state/lock.$$" && mv -f "$state/lock.$$" "$state/lock" || '
                'finish failed cannot take the lock "$state/lock": nothing was changed',
                'say run "$run"']
        # a link would be replaced by a plain file (and a rollback would not bring the link back)
        body += [f'[ ! -h {f.q()} ] || finish refused {f.q()} is a symbolic link: nothing was changed'
                 for f in self.files]
        body += [f'cmp -s old.{f.n} {f.q()} || finish refused {f.q()} changed since the snapshot: nothing was changed'
                 for f in edited]
        body += [f'if [ -e {f.q()} ]; then cp -p {f.q()} old.{f.n} || finish failed cannot copy {f.q()}: '
                 f'nothing was changed; else : > absent.{f.n}; fi' for f in derived]
        # a backup is a new file: one already there (an earlier run in the same second, or a link) stays as it is
        body += [f'[ ! -e {f.backup} ] && [ ! -h {f.backup} ] || finish failed backup {f.backup} exists already: '
                 f'nothing was changed' for f in self.files]
        body.append('[ ! -e abort ] || finish failed "$(cat abort)": nothing was changed')
        body.append("note")
        for f in self.files:
            body.append(f'[ -e absent.{f.n} ] || err=$({{ cp -p {f.q()} {f.backup} && cmp old.{f.n} {f.backup}; }} '
                        f'2>&1) || {{ rm -f {" ".join(g.backup for g in self.files[:f.n + 1])}; finish failed '
                        f'backup {f.backup} not written: "$err": nothing was changed; }}')
            body.append(f"[ -e absent.{f.n} ] || say backup {f.backup}")
        for f in edited:
            body.append(f"err=$({{ rm -f {f.tmp} && cp -p {f.q()} {f.tmp} && cat new.{f.n} > {f.tmp} "
                        f"&& cmp new.{f.n} {f.tmp} && mv -f {f.tmp} {f.q()} && cmp new.{f.n} {f.q()}; }} 2>&1) || "
                        f'{{ rm -f {f.tmp}; rollback "writing "{f.q()}" failed: $err"; }}')
            body.append(f"say wrote {f.q()}")
        body.append(r"""check || rollback "$why"
if [ "$was_running" = yes ]; then
  out=$(reload) || rollback "$mta reload failed: $out"
  # the daemon exits when the new configuration cannot run (a port it cannot bind)
  sleep 1
  running || rollback "$mta stopped after the reload"
  say reloaded
  done_how=reloaded
else
  say not-running
  done_how="$mta is not running: nothing to reload"
fi
say waiting "$wait_s"
end=$(( $(date +%s) + wait_s ))
while :; do
  # a daemon that dies later than the check above (a slow re-exec) is still caught before the confirmation
  if [ "$was_running" = yes ] && ! running; then rollback "$mta stopped after the reload"; fi
  if [ -e "confirm-$token" ]; then say confirmed; finish applied "$done_how"; fi
  if [ -e abort ]; then rollback "$(cat abort)"; fi
  [ "$(date +%s)" -lt "$end" ] || rollback "no confirmation within $wait_s s (the re-check did not finish)"
  nap
done""")
        restore = "\n".join(f"  restore_file {f.n} {f.q()} {f.backup} {f.tmp}" for f in self.files)
        functions = r"""finish() {
  status=$1
  shift
  say "$status" "$*" | cut -c5- > outcome.tmp && mv -f outcome.tmp outcome
  say outcome "$status" "$*"
  if [ "$(readlink "$state/lock" 2>/dev/null)" = "$run $$" ]; then rm -f "$state/lock"; fi
  exit 0
}
restore_file() {
  if [ -e "absent.$1" ]; then
    rm -f "$2"
    if [ -e "$2" ]; then bad="$bad $2 (cannot remove it)"; else say removed "$2"; fi
    return
  fi
  cmp -s "old.$1" "$2" && return
  err=$({ rm -f "$4" && cp -p "$3" "$4" && cmp "old.$1" "$4" && mv -f "$4" "$2"; } 2>&1) || {
    rm -f "$4"
    # no room for a copy: the verified backup itself goes back (a rename needs no space)
    if cmp -s "old.$1" "$3"; then mv -f "$3" "$2" 2>/dev/null; fi
  }
  if cmp -s "old.$1" "$2"; then say restored "$2"; else bad="$bad $2 ($err)"; say restore-failed "$2": "$err"; fi
}
rollback() {
  reason=$1
  bad=""
  say rollback "$reason"
""" + restore + r"""
  if [ "$was_running" = yes ]; then
    if running; then
      if ! out=$(reload); then
        # a daemon that died meanwhile cannot be reloaded: it is started below
        if running; then bad="$bad; $mta reload failed: $out"; else say reload-failed "$out": "$mta" stopped; fi
      fi
      # a daemon that re-executes with the restored files may die seconds later (slowly on a busy host):
      # watched for at least three seconds (whole seconds: date's), to be started again below
      watched=$(( $(date +%s) + 4 ))
      while running && [ "$(date +%s)" -lt "$watched" ]; do nap; done
    fi
    if ! running; then
      noted=""
      out=$(start) && say started "$mta"
      # a daemon writes its pid file once it has forked into the background
      i=0
      until running || [ "$i" -ge 50 ]; do nap; i=$((i + 1)); done
      running || bad="$bad; $mta is not running after the restore: $out"
    fi
  fi
  if [ -z "$bad" ]; then finish rolled-back "$reason"; fi
  finish rollback-FAILED "$reason; NOT restored:$bad"
}
"""
        return PRELUDE + self._vars() + self.mta.functions + functions + "\n".join(body) + "\n"

    def decide_script(self, confirm: bool, reason: str = "") -> str:
        """Confirm the change, or ask for its rollback; then relay the log to the outcome."""
        ask = f': > "$dir/confirm-"{shlex.quote(self.token)}' if confirm else \
            f"printf '%s\\n' {shlex.quote(reason)} > \"$dir/abort.tmp\" && mv -f \"$dir/abort.tmp\" \"$dir/abort\""
        return _block(self._vars() + rf"""
# a start still on its way finds this directory taken, and stops before changing anything
mkdir -p "$state/runs" 2>/dev/null
if mkdir "$dir" 2>/dev/null; then
  echo 'failed the run never started: nothing was changed' > "$dir/outcome"
  say outcome "$(cat "$dir/outcome")"
  exit 0
fi
if ! grep -q '^=== outcome ' "$dir/log" 2>/dev/null; then {ask}; fi
""" + _RELAY.replace("UNTIL", "outcome"))

    def ack_script(self, runs: list[str]) -> str:
        """Mark these runs' outcomes as received, and drop the copies of the files they held."""
        ids = " ".join(shlex.quote(r) for r in runs)
        return _block(self._vars() + f"""for r in {ids}; do
  d="$state/runs/$r"
  if [ -f "$d/outcome" ]; then : > "$d/seen"; rm -f "$d"/old.* "$d"/new.* "$d/run.sh"; fi
done
# the newest {KEEP} runs stay for a human to read; older ones go once their outcome was received
ls "$state/runs" | sort -r | tail -n +{KEEP + 1} | while IFS= read -r r; do
  if [ -e "$state/runs/$r/seen" ]; then rm -rf "$state/runs/$r"; fi
done
say acked
""")


# Outcomes of earlier runs that no controller acknowledged; a run with no outcome and no process ended abnormally.
EARLIER = r"""report_earlier() {  # $1: the run holding the lock, which may not have written its pid yet
  for d in "$state"/runs/*/; do
    [ -d "$d" ] || continue
    r=$(basename "$d")
    [ "$r" != "$run" ] && [ "$r" != "$1" ] && [ ! -e "$d/seen" ] || continue
    if [ -f "$d/outcome" ]; then
      say earlier "$r" "$(head -n 1 "$d/outcome")"
    elif ! { p=$(cat "$d/pid" 2>/dev/null) && alive "$p"; }; then
      last=$(grep '^=== ' "$d/log" 2>/dev/null | tail -n 1 | cut -c5-)
      if [ -z "$last" ]; then
        printf 'failed never started: nothing was changed\n' > "$d/outcome"
      else
        files=$(tr '\n' ' ' < "$d/files")
        printf 'rollback-FAILED stopped without an outcome after "%s": look at %s\n' "$last" "${files% }" \
          > "$d/outcome"
      fi
      say earlier "$r" "$(head -n 1 "$d/outcome")"
    fi
  done
}
"""

# Print the run's log once it holds a line matching UNTIL, or its process is gone.
_RELAY = r"""n=0
while :; do
  if grep -qE '^=== (UNTIL) ' "$dir/log" 2>/dev/null; then break; fi
  p=$(cat "$dir/pid" 2>/dev/null)
  if [ -n "$p" ]; then
    alive "$p" || break
  else
    n=$((n + 1))
    [ "$n" -lt 100 ] || break
  fi
  nap
done
cat "$dir/log" 2>/dev/null
"""


def _block(body: str) -> str:
    return "{\n" + PRELUDE + body + "} </dev/null\n"
