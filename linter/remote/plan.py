"""Which files phase 2 of a fetch asks for: decided on the controller by mailcfg's own parsers.

An allow-list: the files the analysis reads (each mail system's `wanted`, mailcfg.system),
never a file a credential setting names, and never a file whose name says it holds credentials
(a second line of defence should a setting be missed). Pure: collected data in, a plan out (the
parsers read a private temporary copy of what was collected).
"""

from __future__ import annotations

import posixpath
import re
import tempfile
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from mailcfg.errors import MailcfgError
from mailcfg.remote.collect import NEVER_GLOBS, SYSTEM_FILES, Collected, first_files, sendable, write_snapshot
from mailcfg.snapshot import load_local
from mailcfg.systems import mail_systems


@dataclass
class Plan:
    """The files a fetch asks for next, and those it must never collect."""

    wanted: list[str] = field(default_factory=list)  # files the analysis reads: absence is reported
    optional: list[str] = field(default_factory=list)  # files the loaders look for: absence is normal
    secrets: set[str] = field(default_factory=set)  # named by credential settings: never collected

    @property
    def empty(self) -> bool:
        return not self.wanted and not self.optional


def never(path: str) -> bool:
    """A name that says it holds credentials (the same patterns the remote scripts refuse)."""
    return path not in SYSTEM_FILES and any(fnmatchcase(name, glob) for name in spellings(path) for glob in NEVER_GLOBS)


def spellings(path: str) -> set[str]:
    """`path` and the names it is the same file by on any host whatever its links (`//` and `/./`
    collapsed), and lexically without `..`: a credential named `/etc/postfix//pw` is `/etc/postfix/pw`."""
    single = re.sub(r"/+", "/", path)
    parts = [p for p in single.split("/") if p != "."]
    tidy = "/".join(parts) or "/"
    if len(tidy) > 1:
        tidy = tidy.rstrip("/") or "/"
    return {path, single, tidy, posixpath.normpath(single)}


def _secret(path: str, secrets: set[str]) -> bool:
    return bool(spellings(path) & secrets)


def plan(collected: Collected) -> Plan:
    """The files still to fetch, given what has been collected so far."""
    reads, optional, secrets, loads = set(), set(), set(), set()
    with tempfile.TemporaryDirectory(prefix="mailcfg-plan-") as tmp:
        root = Path(tmp) / "snapshot"
        write_snapshot(collected, root)
        try:
            snapshot = load_local(str(root))
        except MailcfgError:
            snapshot = None  # nothing to analyse (main.cf unreadable, no configuration)
        for system in mail_systems():
            if system.wanted is None:
                continue
            there = snapshot if snapshot is not None and system.name in snapshot.systems else None
            try:
                found = system.wanted(there, collected.commands)
            except MailcfgError:  # its configuration cannot be analysed: only what it wants regardless
                found = system.wanted(None, collected.commands)
            reads |= found.reads
            optional |= found.optional
            loads |= found.loads
            secrets |= found.secrets
    secrets = {s for path in secrets for s in spellings(path)}
    first, whole = first_files()
    done = set(collected.files) | {p for p, _ in collected.errors} | collected.asked | first

    def allowed(path: str) -> bool:
        return path not in done and not _secret(path, secrets) and sendable(path) and not never(path)

    # configuration files still to read may name more credentials: they come first, alone
    pending = {p for p in loads if not p.startswith(whole) and allowed(p)}
    if pending:
        return Plan([], sorted(pending), secrets)
    wanted = sorted(p for p in reads if allowed(p))
    # phase 1 sent the directories it reads whole (Exim's conf.d: every part run_parts can pick); the loader
    # also looks for names there phase 1 did not send (Debian's .rul twins)
    optional = {p for p in optional - reads if not p.startswith(whole)}
    return Plan(wanted, sorted(p for p in optional if allowed(p)), secrets)


def withhold_secrets(collected: Collected, secrets: set[str]) -> None:
    """Drop collected files that are, or symbolic links lead to, what a credential setting names (the
    first step reads files by name before the configuration says which those are)."""
    secrets = {s for path in secrets for s in spellings(path)}

    def secret(path: str) -> bool:
        return path not in SYSTEM_FILES and (_secret(path, secrets) or never(path))

    for path in [p for p in collected.files if secret(p) or secret(collected.links.get(p, p))]:
        del collected.files[path]
        collected.errors.append((path, "credentials-not-collected"))
