"""Applying Plesk fixes on a live host: through `plesk bin mailserver` only, checked, and set back on failure.

1. One script over SSH: it reads Plesk's mail settings and white list again (`plesk db`, read-only)
   and stops, changing nothing, when they differ from the snapshot the fixes were computed on; else
   it runs the fixes' commands in order, and at the first one that fails runs the restore commands
   (the values the snapshot holds, set back through the same CLI) and says so.
2. mailcfg fetches and lints the host again (`recheck`). When a fixed finding is still there, or a
   finding appears that the host did not have, it runs the restore commands.
main.cf and master.cf are never touched: Plesk writes them from its settings.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from mailcfg.fixer import FixRun
from mailcfg.plesk import layout
from mailcfg.remote.apply import Applied
from mailcfg.remote.route import connect
from mailcfg.reporters.visible import visible

PRELUDE = """PATH="$PATH:/usr/sbin:/sbin:/usr/local/sbin:/usr/bin:/bin"
export PATH
LC_ALL=C
export LC_ALL
"""


def _heredoc(text: str) -> tuple[str, str]:
    """`text` as a quoted here-document the shell never expands: (opening word, body with delimiter)."""
    delimiter = f"MAILCFG_{secrets.token_hex(16)}"
    return f"<<'{delimiter}'", text + ("" if text.endswith("\n") or not text else "\n") + delimiter + "\n"


def _step_lines(commands: list[str], kind: str) -> str:
    """Run each command (already quoted by the templates) in order; the first failure stops the list."""
    out = []
    for i, command in enumerate(commands):
        out.append(f"if [ $failed = 0 ]; then out=$({command} 2>&1 </dev/null); rc=$?\n"
                   f"  printf '=== {kind} %s {i}\\n' \"$rc\"\n"
                   f"  if [ $rc != 0 ]; then failed=1; printf '%s\\n' \"$out\" | head -n 3 | sed 's/^/=== said /'; fi\n"
                   "fi\n")
    return "".join(out)


def script(expected: dict[str, str], commands: list[str], restore: list[str]) -> str:
    """The remote side of step 1. `expected`: query -> the output the snapshot holds for it."""
    checks = []
    for i, (query, text) in enumerate(expected.items()):
        quoted = "'" + query.replace("'", "'\"'\"'") + "'"
        opening, body = _heredoc(text)
        # rows compared in one order: a SELECT without ORDER BY promises none
        checks.append(f"now=$(plesk db -N -B -e {quoted} 2>&1 </dev/null) || stale=1\n"
                      "now=$(printf '%s\\n' \"$now\" | LC_ALL=C sort)\n"
                      f"was=$(cat {opening}\n{body})\n"
                      f"[ \"$now\" = \"$was\" ] || {{ stale=1; printf '=== differs {i}\\n'; }}\n")
    return ("{\n" + PRELUDE + "printf '=== MAILCFG 1\\n'\nstale=0\nfailed=0\n" + "".join(checks)
            + "if [ $stale != 0 ]; then printf '=== outcome refused\\n'; exit 0; fi\n"
            + _step_lines(commands, "step")
            + "if [ $failed = 0 ]; then printf '=== outcome changed\\n'; exit 0; fi\nfailed=0\n"
            + _step_lines(restore, "restore")
            + "if [ $failed = 0 ]; then printf '=== outcome rolled-back\\n'; "
            + "else printf '=== outcome rollback-FAILED\\n'; fi\n} </dev/null\n")


def restore_script(restore: list[str]) -> str:
    return ("{\n" + PRELUDE + "printf '=== MAILCFG 1\\n'\nfailed=0\n" + _step_lines(restore, "restore")
            + "if [ $failed = 0 ]; then printf '=== outcome rolled-back\\n'; "
            + "else printf '=== outcome rollback-FAILED\\n'; fi\n} </dev/null\n")


def _expected(run: FixRun) -> dict[str, str]:
    """What `plesk db` printed when the snapshot was taken, per query (the fetch keeps it as it was)."""
    found = {}
    for query, name in ((layout.SETTINGS_QUERY, layout.SETTINGS), (layout.WHITELIST_QUERY, layout.WHITELIST)):
        source = run.before.sources.get(name)
        if source is not None:
            found[query] = "\n".join(sorted(source.text().rstrip("\n").split("\n")))
    return found


def _said(out: bytes) -> list[str]:
    # what the host says is shown on a terminal: its control characters are written as escapes
    return [visible(line[4:]) for line in out.decode("utf-8", "replace").split("\n") if line.startswith("=== ")]


def _outcome(lines: list[str]) -> str:
    return next((line.removeprefix("outcome ") for line in lines if line.startswith("outcome ")), "rollback-FAILED")


def apply_plesk(spec, options, run: FixRun, recheck: Callable, known=None, *, confirm_seconds: int = 0,
                redacted: frozenset[str] = frozenset()) -> Applied:
    """Run the fixes' Plesk commands on the host, check the result, set the settings back on a surprise.
    (`confirm_seconds` and `redacted` belong to file-based applies: a Plesk fix writes no file.)"""
    del confirm_seconds, redacted
    commands = list(dict.fromkeys(c for fix in run.applied for c in fix.commands))
    restore = list(dict.fromkeys(c for fix in run.applied for c in fix.restore))
    if not commands:
        return Applied("unchanged", "nothing to change")
    command = "sudo -n sh -s" if spec.ssh_options(options).become else "sh -s"
    conn = connect(spec, options, known)
    try:
        _rc, out, err = conn.run(command, script(_expected(run), commands, restore).encode())
        log = _said(out)
        if not log:  # sudo -n refused, no sh: nothing ran
            said = " ".join(visible(err.decode("utf-8", "replace")).split())[:200] or "no output"
            return Applied("failed", f"the apply script did not run, nothing was changed: {said}")
        outcome = _outcome(log)
        if outcome == "refused":
            return Applied("refused", "Plesk's mail settings changed since the snapshot: fetch and fix again; "
                           "nothing was changed", log)
        if outcome != "changed":
            failed = next((line for line in log if line.startswith("said ")), "a command failed")
            detail = f"{failed.removeprefix('said ')}; the previous settings were set back" \
                if outcome == "rolled-back" else "a command failed and setting the previous values back failed " \
                f"too: run {'; '.join(restore)} on the host"
            return Applied(outcome, detail, log)
        reason, revealed = _surprise(run, recheck)
        if reason is None:
            return Applied("applied", f"{len(commands)} Plesk command(s) run, the host re-checked{revealed}", log)
        _rc, out, _err = conn.run(command, restore_script(restore).encode())
        log += _said(out)
        status = _outcome(_said(out))
        return Applied(status, f"{reason}; " + ("the previous settings were set back" if status == "rolled-back"
                                               else f"setting them back failed: run {'; '.join(restore)}"), log)
    finally:
        conn.close()


# Fewer of these findings: the change closed an open relay, and is kept whatever that reveals (as the
# file-based fixes do); the revealed findings are reported.
RELAY = ("plesk-relay-open", "postfix-open-relay")


def _surprise(run: FixRun, recheck: Callable) -> tuple[str | None, str]:
    """Why the host after the change is not what the fixes promised (None when it is), and what the
    change revealed that is kept."""
    try:
        after = recheck()
    except Exception as exc:  # whatever stops the re-check, the change is not confirmed
        return f"the re-check failed: {getattr(exc, 'reason', None) or exc}", ""
    if after.status != "ok":
        return f"the re-check failed: {after.error}", ""
    fixed, got, had = {f.rule for f in run.applied}, after.keys(), run.before.keys()
    still = sorted(rule for rule, _service in got if rule in fixed)
    if still:
        return f"the re-lint still finds {', '.join(still)}", ""
    new = sorted(f"{r}" + (f" ({s})" if s else "") for r, s in got - had)
    closed = {k for k in got if k[0] in RELAY} < {k for k in had if k[0] in RELAY}
    if new and not closed:
        return f"the re-lint finds what the host did not have: {', '.join(new)}", ""
    return None, f"; closing the relay revealed: {', '.join(new)}" if new else ""
