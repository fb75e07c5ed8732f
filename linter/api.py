"""mailcfg as a library: lint, explain and fix without the command line (the Ansible collection's way in).

The same code paths as the CLI (mailcfg.lint, mailcfg.decisions, mailcfg.fixer), with no printing
and no `sys.exit`: bad input raises `mailcfg.errors.MailcfgError`, whose message is one line
naming the file (and line) or host.

    from mailcfg import api
    report = api.lint_files({"/etc/postfix/main.cf": text}, facts={"hostname": "mx1"})
    for finding in report.findings:            # DESIGN.md finding objects
        print(finding["file"], finding["line"], finding["rule"], finding["message"])

Findings name files relative to the snapshot root ("etc/postfix/main.cf"); `FixPlan.files` names
them by their absolute host path. A host is collected over any transport with `Collection`: run each
`next_script()` with `sh -s` on the host (the script on its standard input, read-only, no Python
needed there), `feed()` what it printed, until `next_script()` returns None.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from mailcfg.decisions import explain as explain_probe
from mailcfg.errors import MailcfgError
from mailcfg.findings import Finding, Location, Severity
from mailcfg.fixer import FixRun, fix_target
from mailcfg.lint import TargetResult, lint_snapshot
from mailcfg.policy import probe_of
from mailcfg.registry import listing
from mailcfg.remote.collect import write_snapshot
from mailcfg.remote.collection import Collection as _Steps
from mailcfg.snapshot import FACTS, Snapshot, load_local

__all__ = ["Collection", "FixPlan", "Report", "explain", "fixes", "fixes_for_files", "lint", "lint_files", "render",
           "summary", "write_report"]


@dataclass
class Report:
    """One target's lint."""

    target: str
    systems: list[str]
    status: str  # "ok", "unreachable", "error"
    error: str | None
    findings: list[dict]  # DESIGN.md finding objects (Finding.to_json())
    assumptions: list[str]
    summary: dict  # {"error": n, "warning": n, "info": n, "rules": {rule_id: n}}

    def to_json(self) -> dict:
        """The DESIGN.md target object, plus "summary"."""
        return {"target": self.target, "systems": self.systems, "status": self.status, "error": self.error,
                "findings": self.findings, "assumptions": self.assumptions, "summary": self.summary}


@dataclass
class FixPlan:
    """What the fixes change: files, or commands for a system changed through its own tool (Plesk)."""

    files: dict[str, str] = field(default_factory=dict)  # absolute host path -> new full content (changed only)
    commands: list[str] = field(default_factory=list)  # shell commands to run on the host, in order
    restore: list[str] = field(default_factory=list)  # commands that undo `commands`
    after: list[str] = field(default_factory=list)  # to run once the files are in place ("postfix reload")
    fixed: list[dict] = field(default_factory=list)  # finding objects the fixes repair
    left: list[dict] = field(default_factory=list)  # finding objects left (unsafe, no fix, a fix that failed)


def _only(select: Sequence[str] | None, ignore: Sequence[str] | None) -> set[str] | None:
    """The rule ids checked (ids, aliases, globs, tags); None for every rule."""
    if select is None and ignore is None:
        return None
    from mailcfg.selection import selected

    return selected([r.id for r in listing()], select=select, ignore=ignore)


def summary(findings: Sequence[Mapping]) -> dict:
    """Counts of finding objects: {"error": n, "warning": n, "info": n, "rules": {rule_id: n}}."""
    counts: dict = {s.value: 0 for s in Severity}
    counts["rules"] = {}
    for f in findings:
        counts[f["severity"]] += 1
        counts["rules"][f["rule"]] = counts["rules"].get(f["rule"], 0) + 1
    return counts


def _report(result: TargetResult, rules: set[str] | None, name: str | None = None) -> Report:
    """The report; fingerprints name the target `name` (default: as the result names it), as the CLI does."""
    from mailcfg.fingerprint import assign

    kept = [f for f in result.findings if rules is None or f.rule in rules]
    findings = [f.to_json() for f in assign(kept, name or result.target)]
    return Report(result.target, list(result.systems), result.status, result.error,
                  findings, list(result.assumptions), summary(findings))


def lint(target: str | os.PathLike, *, select: Sequence[str] | None = None,
         ignore: Sequence[str] | None = None) -> Report:
    """Lint a local target: a snapshot, a mail system's config directory, a copy of /etc, or one file."""
    rules = _only(select, ignore)
    from mailcfg.projectconfig import project_name

    return _report(lint_snapshot(load_local(os.fspath(target))), rules, project_name(os.fspath(target)))


def _host_path(path: str) -> str:
    if not isinstance(path, str) or not path.startswith("/") or "\0" in path or \
            any(part in ("", ".", "..") for part in path[1:].split("/")):
        raise MailcfgError(f"{path!r}: not an absolute host path of plain names (no '..', '.' or '//')")
    if path.startswith("/" + FACTS.split("/")[0] + "/"):  # the snapshot's own files: facts come as `facts`
        raise MailcfgError(f"{path!r}: not a host file (give facts with facts=)")
    return path


@contextmanager
def _snapshot_of(files: Mapping[str, str | bytes], facts: Mapping | None, target: str) -> Iterator[Snapshot]:
    """`files` (absolute host path -> content) as a private temporary snapshot, removed afterwards."""
    paths = {_host_path(p): body for p, body in files.items()}
    if not paths:
        raise MailcfgError(f"{target}: no files given")
    tmp = Path(tempfile.mkdtemp(prefix="mailcfg-api-"))  # 0700: only this user reads what is put there
    try:
        root = tmp / "snapshot"
        root.mkdir()
        # a fresh private directory and paths of plain names: nothing can lead outside it
        for path, body in {**paths, "/" + FACTS: json.dumps(dict(facts or {}))}.items():
            local = root / path.lstrip("/")
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(body.encode("utf-8", "surrogateescape") if isinstance(body, str) else bytes(body))
        yield load_local(str(root), name=target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def lint_files(files: Mapping[str, str | bytes], *, facts: Mapping | None = None, target: str = "files",
               select: Sequence[str] | None = None, ignore: Sequence[str] | None = None) -> Report:
    """Lint configuration given as content (a playbook's rendered templates), keyed by absolute host
    path ("/etc/postfix/main.cf"); `facts` as in a snapshot's facts.json (hostname, addresses, versions)."""
    rules = _only(select, ignore)
    with _snapshot_of(files, facts, target) as snapshot:
        return _report(lint_snapshot(snapshot), rules)


class Collection(_Steps):
    """A host's read-only collection over any transport (see the module's doc), then its snapshot or lint."""

    def snapshot(self, dest: str | os.PathLike, roles: list[str] | None = None) -> dict:
        """Write the snapshot as `mailcfg fetch` does (DESIGN.md layout); return its facts."""
        return write_snapshot(self.collected, Path(dest), roles=roles)

    @contextmanager
    def loaded(self, target: str) -> Iterator[Snapshot]:
        """The collected snapshot in a private temporary directory, for as long as the `with` block runs."""
        with tempfile.TemporaryDirectory(prefix="mailcfg-api-") as tmp:
            self.snapshot(Path(tmp) / "snapshot")
            yield load_local(str(Path(tmp) / "snapshot"), name=target)

    def lint(self, target: str, *, select: Sequence[str] | None = None,
             ignore: Sequence[str] | None = None) -> Report:
        rules = _only(select, ignore)
        with self.loaded(target) as snapshot:
            return _report(lint_snapshot(snapshot), rules)


def explain(target: str | os.PathLike, **probe: str | int | bool) -> dict:
    """What the server at local `target` answers one SMTP transaction, with the trace (the JSON of
    `mailcfg explain --format json`). Probe keys as in a policy file: client, rcpt, sender, helo,
    client_name, sasl_user, tls, service, port."""
    return explain_probe(os.fspath(target), probe_of(probe)).to_json()


def _plan(run: FixRun, snapshot: Snapshot) -> FixPlan:
    left = run.after.keys()
    plan = FixPlan(left=[f.to_json() for f in run.after.findings],
                   fixed=[f.to_json() for f in run.before.findings if (f.rule, f.service) not in left])
    for change in run.changes:
        host = snapshot.host_path(run.root / change.path)
        if host is None:  # cannot be: every change is a file of the target
            raise MailcfgError(f"{snapshot.target}: {change.path}: not a file of the target")
        plan.files[host] = change.after
    for fix in run.applied:
        plan.commands += fix.commands
        plan.restore[:0] = fix.restore  # undone in the reverse order
    plan.after = list(dict.fromkeys(step for fix in run.applied for step in fix.after))
    return plan


def _fix(snapshot: Snapshot, select, ignore, unsafe: bool) -> FixPlan:
    rules = _only(select, ignore)
    run = fix_target(snapshot.target, sorted(rules) if rules is not None else None, unsafe, snapshot)
    return _plan(run, snapshot)


def fixes(target: str | os.PathLike | Collection, *, select: Sequence[str] | None = None,
          ignore: Sequence[str] | None = None, unsafe: bool = False) -> FixPlan:
    """The fixes for a local target or a collected host (nothing is written anywhere)."""
    if isinstance(target, Collection):
        with target.loaded("host") as snapshot:
            return _fix(snapshot, select, ignore, unsafe)
    return _fix(load_local(os.fspath(target)), select, ignore, unsafe)


def fixes_for_files(files: Mapping[str, str | bytes], *, facts: Mapping | None = None,
                    select: Sequence[str] | None = None, ignore: Sequence[str] | None = None,
                    unsafe: bool = False) -> FixPlan:
    """The fixes for configuration given as content, keyed by absolute host path."""
    with _snapshot_of(files, facts, "files") as snapshot:
        return _fix(snapshot, select, ignore, unsafe)


def _result(target: Report | Mapping) -> TargetResult:
    """A Report, or a DESIGN.md target object (what the Ansible lint task returns), as the reporters take it."""
    data = target.to_json() if isinstance(target, Report) else target
    try:
        findings = [Finding(f["rule"], Severity(f["severity"]), f["message"],
                            Location(f.get("file"), f.get("line"), f.get("column")), f.get("service"), f.get("fix"),
                            f.get("subject"), f.get("fingerprint")) for f in data.get("findings") or []]
        return TargetResult(str(data["target"]), list(data.get("systems") or []), data.get("status") or "ok",
                            data.get("error"), findings, list(data.get("assumptions") or []))
    except (KeyError, TypeError, ValueError) as exc:
        raise MailcfgError(f"{data.get('target', 'a target')}: not a lint result: {exc!r}") from None


def render(targets: Sequence[Report | Mapping], fmt: str) -> str:
    """Lint results of several targets as one report in one of the CLI's formats (json, sarif, junit,
    github, codeclimate, concise, text), e.g. the Ansible collection's report of a whole run."""
    from mailcfg.reporters.formats import FORMATS

    if fmt not in FORMATS:
        raise MailcfgError(f"{fmt!r}: not a report format (one of {', '.join(FORMATS)})")
    return FORMATS[fmt]([_result(t) for t in targets], False)


def write_report(path: str | os.PathLike, text: str) -> None:
    """Write a rendered report as the CLI's -o does: a file atomically (its mode from the umask, or kept
    when it is replaced), a device or FIFO (/dev/stdout, /dev/null) written into, never replaced."""
    from mailcfg.writes import write_atomic

    write_atomic(Path(path), text)
