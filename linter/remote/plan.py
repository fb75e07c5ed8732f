"""Which files phase 2 of a fetch asks for: decided on the controller by mailcfg's own parsers.

An allow-list: the files the analysis reads (mailcfg.postfix.references, mailcfg.exim.references),
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
from mailcfg.exim.references import references as exim_references
from mailcfg.postfix.config import load_postfix
from mailcfg.postfix.references import SYSTEM_FILES
from mailcfg.postfix.references import references as postfix_references
from mailcfg.remote.collect import EXIM_CONF_D, NEVER_GLOBS, PHASE1_FILES, Collected, sendable, write_snapshot
from mailcfg.snapshot import load_local


@dataclass
class Plan:
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
            if "postfix" in snapshot.systems:
                refs = postfix_references(load_postfix(snapshot))
                reads |= refs.reads
                secrets |= refs.secrets
            if "exim" in snapshot.systems:
                found = exim_references(snapshot)
                reads |= found.reads
                optional |= found.optional
                loads |= found.loads
                secrets |= found.secrets
        except MailcfgError:
            pass  # nothing to analyse (main.cf unreadable, no configuration): nothing more to fetch
    secrets = {s for path in secrets for s in spellings(path)}
    optional |= _exim_config_file(collected)
    loads |= _exim_config_file(collected)
    done = set(collected.files) | {p for p, _ in collected.errors} | collected.asked | PHASE1_FILES

    def allowed(path: str) -> bool:
        return path not in done and not _secret(path, secrets) and sendable(path) and not never(path)

    # configuration files still to read may name more credentials: they come first, alone
    pending = {p for p in loads if not p.startswith(EXIM_CONF_D) and allowed(p)}
    if pending:
        return Plan([], sorted(pending), secrets)
    wanted = sorted(p for p in reads if allowed(p))
    # phase 1 sent every conf.d part run_parts can pick; Debian's loader also looks for their .rul twins
    optional = {p for p in optional - reads if not p.startswith(EXIM_CONF_D)}
    return Plan(wanted, sorted(p for p in optional if allowed(p)), secrets)


def _exim_config_file(collected: Collected) -> set[str]:
    """The file `exim -bP config_file` names (a build may read its configuration from anywhere)."""
    rc, out = collected.commands.get("exim-bP-config_file", (1, b""))
    path = out.decode("utf-8", "replace").strip()
    return {path} if rc == 0 and path.startswith("/") and "\n" not in path else set()


def withhold_secrets(collected: Collected, secrets: set[str]) -> None:
    """Drop collected files that are, or symbolic links lead to, what a credential setting names (the
    first step reads files by name before the configuration says which those are)."""
    secrets = {s for path in secrets for s in spellings(path)}

    def secret(path: str) -> bool:
        return path not in SYSTEM_FILES and (_secret(path, secrets) or never(path))

    for path in [p for p in collected.files if secret(p) or secret(collected.links.get(p, p))]:
        del collected.files[path]
        collected.errors.append((path, "credentials-not-collected"))
