"""Fetching a host's snapshot over SSH, and linting a host through a temporary snapshot."""

from __future__ import annotations

import copy
import dataclasses
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mailcfg.errors import MailcfgError
from mailcfg.lint import TargetResult, lint_snapshot
from mailcfg.memo import Shared
from mailcfg.registry import canonical_ids
from mailcfg.remote.collect import HEADER, Collected, StreamError, write_snapshot
from mailcfg.remote.collection import Collection, digest
from mailcfg.remote.hosts import HostSpec
from mailcfg.remote.knownhosts import KnownHosts
from mailcfg.remote.route import connect
from mailcfg.remote.ssh import Shell, SshError, SshOptions
from mailcfg.snapshot import FACTS, Snapshot, load_local

# A host's collection runs in one remote shell reading its scripts from stdin, one step after
# another: the command is a constant, so no local value ever reaches the remote command line.
# `sudo -n` never prompts: without a NOPASSWD rule it fails at once and says so.
REMOTE_COMMAND = "sh -s"
BECOME_COMMAND = "sudo -n sh -s"


def collect(spec: HostSpec, options: SshOptions, known: KnownHosts | None = None) -> Collected:
    """One connection and one remote shell: the fixed first step, then the files the analysis reads,
    planned from it, each script sent once the answer to the one before is in."""
    target, become = spec.target, spec.ssh_options(options).become
    collection = Collection()
    with connect(spec, options, known) as conn, conn.shell(BECOME_COMMAND if become else REMOTE_COMMAND) as sh:
        script = collection.next_script()
        while script is not None:
            sh.send(script.encode(), last=False)
            out = _output(sh, target, become)
            try:
                collection.feed(out)
            except StreamError as exc:
                raise SshError(target, str(exc)) from None
            script = collection.next_script()
    return collection.collected


def _output(sh: Shell, target: str, become: bool) -> bytes:
    """What one step's script printed (the collection's output)."""
    rc, out, err = sh.read()
    if HEADER not in out:
        said = " ".join(err.decode("utf-8", "replace").split())[:200] or "no output"
        if rc is None:  # the shell ran it and waits for more: it printed something else
            raise SshError(target, f"the collection script printed no collection output: {said}")
        if become:
            raise SshError(target, f"--become: `sudo -n sh -s` failed (exit code {rc}): {said}")
        raise SshError(target, f"the collection script did not run (exit code {rc}): {said}")
    return out


def fetch(spec: HostSpec, options: SshOptions, dest: Path) -> dict:
    """Write the snapshot of host `spec` to `dest` (new, empty, or an earlier snapshot, whose fetched
    files are replaced and whose other files stay); return its facts."""
    if dest.exists() and not dest.is_dir():
        raise MailcfgError(f"{dest}: exists and is not a directory")
    if dest.is_dir() and any(dest.iterdir()) and not (dest / FACTS).is_file():
        raise MailcfgError(f"{dest}: directory is not empty and not an earlier snapshot (no {FACTS})")
    collected = collect(spec, options)
    return write_snapshot(collected, dest, roles=spec.vars.get("mailcfg_role"))


@contextmanager
def fetched(spec: HostSpec, options: SshOptions, known: KnownHosts | None = None,
            label: str | None = None) -> Iterator[Snapshot]:
    """The host's snapshot in a temporary directory, for as long as the `with` block runs."""
    with _written(collect(spec, options, known), spec.vars.get("mailcfg_role"), label or spec.name) as snapshot:
        yield snapshot


@contextmanager
def _written(collected: Collected, roles: list[str] | None, label: str) -> Iterator[Snapshot]:
    with tempfile.TemporaryDirectory(prefix="mailcfg-") as tmp:
        write_snapshot(collected, Path(tmp) / "snapshot", roles=roles)
        yield load_local(str(Path(tmp) / "snapshot"), name=label)


def lint_host(spec: HostSpec, options: SshOptions, known: KnownHosts | None = None,
              label: str | None = None) -> TargetResult:
    """Lint a host as if its fetched snapshot were linted; failures become results, never exceptions.

    The inventory's `mailcfg_skip_rules` drop those rules' findings for this host.
    """
    label = label or spec.name
    try:
        result = _analysed(collect(spec, options, known), spec.vars.get("mailcfg_role"), label)
    except SshError as exc:
        return TargetResult(label, status="unreachable", error=exc.reason)
    except MailcfgError as exc:
        return TargetResult(label, status="error", error=str(exc).removeprefix(f"{label}: "))
    skip = spec.vars.get("mailcfg_skip_rules", [])
    if skip:
        covered = set().union(*(canonical_ids(name) for name in skip))
        result.findings = [f for f in result.findings if f.rule not in covered]
        result.assumptions.append(f"not reported for this host (mailcfg_skip_rules): {', '.join(skip)}")
    return result


# A fleet's hosts often hold the same files (one template, one image): the analysis of a collection is
# kept and given to every host whose collection is byte for byte the same (each named as itself).
_ANALYSED: Shared[TargetResult] = Shared()


def _analysed(collected: Collected, roles: list[str] | None, label: str) -> TargetResult:
    def analyse() -> TargetResult:
        with _written(collected, roles, label) as snapshot:
            return lint_snapshot(snapshot)

    result = copy.copy(_ANALYSED.get(digest(collected, roles), analyse))
    for f in dataclasses.fields(result):  # its own lists: a caller may add to one host's
        value = getattr(result, f.name)
        if isinstance(value, list | dict | set):
            setattr(result, f.name, copy.copy(value))
    result.target = label
    return result
