"""Fetching a host's snapshot over SSH, and linting a host through a temporary snapshot."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import paramiko
from mailcfg.errors import MailcfgError
from mailcfg.lint import TargetResult, lint_snapshot
from mailcfg.remote.collect import HEADER, SCRIPT, Collected, StreamError, parse_stream, write_snapshot
from mailcfg.remote.hosts import HostSpec
from mailcfg.remote.ssh import Connection, SshError, SshOptions, SshTarget, parse_target
from mailcfg.snapshot import FACTS, load_local

# The whole collection is one remote command reading the script from its stdin: a constant, so no
# local value ever reaches the remote command line.
REMOTE_COMMAND = "sh -s"


def collect(target: SshTarget, options: SshOptions, known: paramiko.HostKeys | None = None) -> Collected:
    """One connection, one remote command: the host's files and command outputs."""
    with Connection(target, options, known) as conn:
        rc, out, err = conn.run(REMOTE_COMMAND, SCRIPT.encode())
    if HEADER not in out:
        said = " ".join(err.decode("utf-8", "replace").split())[:200] or "no output"
        raise SshError(target, f"the collection script did not run (exit code {rc}): {said}")
    try:
        return parse_stream(out)
    except StreamError as exc:
        raise SshError(target, str(exc)) from None


def fetch(text: str, options: SshOptions, dest: Path) -> dict:
    """Write the snapshot of host `text` to `dest` (new, empty, or an earlier snapshot replaced); return its facts."""
    if dest.exists() and not dest.is_dir():
        raise MailcfgError(f"{dest}: exists and is not a directory")
    replace = dest.is_dir() and any(dest.iterdir())
    if replace and not (dest / FACTS).is_file():
        raise MailcfgError(f"{dest}: directory is not empty and not an earlier snapshot (no {FACTS})")
    target = parse_target(text)
    collected = collect(target, options)
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".mailcfg-fetch-", dir=dest.parent))
    try:
        data = write_snapshot(collected, work / "snapshot")
        if replace:
            old = work / "old"
            dest.rename(old)
        elif dest.is_dir():
            dest.rmdir()
        (work / "snapshot").rename(dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return data


def lint_host(spec: HostSpec, options: SshOptions, known: paramiko.HostKeys | None = None,
              label: str | None = None) -> TargetResult:
    """Lint a host as if its fetched snapshot were linted; failures become results, never exceptions."""
    label = label or spec.name
    if spec.proxy_jump or spec.proxy_command:
        return TargetResult(label, status="unreachable",
                            error="ProxyJump/ProxyCommand in ssh_config are not supported yet")
    try:
        collected = collect(spec.target, spec.ssh_options(options), known)
        with tempfile.TemporaryDirectory(prefix="mailcfg-") as tmp:
            write_snapshot(collected, Path(tmp) / "snapshot")
            try:
                snapshot = load_local(str(Path(tmp) / "snapshot"))
            except MailcfgError:
                return TargetResult(label, status="error", error="no Postfix or Exim configuration found on the host")
            snapshot.target = label
            return lint_snapshot(snapshot)
    except SshError as exc:
        return TargetResult(label, status="unreachable", error=exc.reason)
    except MailcfgError as exc:
        return TargetResult(label, status="error", error=str(exc))
