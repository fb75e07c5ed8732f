"""The host files an Exim configuration makes the analysis read, and those that hold credentials.

Read: the configuration files the loader opens (includes, Debian's sources) and the list and
lsearch files that named lists, ACLs, list-valued main options and routers name. Never read: any
file an authenticator names (server_condition, client_send...), a TLS or DKIM key or certificate,
a database server option, or Debian's passwd files. Both come from the parsed configuration, after
macro substitution, so a macro or an include cannot hide a name.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from mailcfg.errors import MailcfgError
from mailcfg.exim.config import load_exim
from mailcfg.exim.lists import split_list
from mailcfg.exim.parse import Parsed
from mailcfg.snapshot import Snapshot

# ACL conditions and options whose value is an Exim list (items may be `/file` or `lookup;file`).
LIST_CONDITIONS = frozenset({"hosts", "domains", "local_parts", "senders", "recipients", "sender_domains"})
LIST_OPTION = re.compile(r"(_hosts|_domains|_nets|_networks|_senders|_local_parts|^hosts_\w+|^host_lookup"
                         r"|^local_interfaces|^domains|^local_parts|^senders)$")
# Options (main or transport) that name keys, certificates, passwords or database servers.
CREDENTIAL_OPTION = re.compile(r"key|cert|passw|secret|dkim|_servers|^tls_(?!\w*_hosts$)", re.I)
# `lsearch;/file` list items and `${lookup{...}lsearch{/file}}` expansions of the lsearch family.
LOOKUP_FILE = re.compile(r"[a-z0-9-]*lsearch[*@]*(?:,[^;{}]*)?\s*(?:;\s*|\{\s*)(/[^\s:;{}$\"'\\]+)")
# `${if exists{/file}...}`, and in list values any braced file name (`{/file}`: the list's items).
EXISTS_FILE = re.compile(r"exists\s*\{\s*(/[^{}$\s]+)\s*\}")
BRACED_FILE = re.compile(r"\{\s*(/[^{}$\s:;]+)\s*\}")
ANY_PATH = re.compile(r"/[^\s:;{}$\"'\\,()]+")
# the same, up to the characters a file name may hold but an expansion seldom puts after one
WIDE_PATH = re.compile(r"/[^\s:;{}$\"'\\]+")


@dataclass
class References:
    """The files an Exim configuration names: those read, looked for, and holding secrets."""

    reads: set[str] = field(default_factory=set)  # host paths the analysis reads
    optional: set[str] = field(default_factory=set)  # configuration files the loader looks for
    loads: set[str] = field(default_factory=set)  # configuration files the loader looks for (includes)
    secrets: set[str] = field(default_factory=set)  # host paths a credential setting names


@dataclass
class _Recording(Snapshot):
    """A snapshot that remembers which host files were asked for."""

    asked: set[str] = field(default_factory=set)

    def resolve(self, host_path: str):
        self.asked.add(host_path)
        return super().resolve(host_path)


def references(snapshot: Snapshot) -> References:
    recording = _Recording(**{f.name: getattr(snapshot, f.name) for f in dataclasses.fields(snapshot)})
    refs = References()
    try:
        config = load_exim(recording)
    except MailcfgError:  # no configuration file yet
        return References(optional=set(recording.asked), loads=set(recording.asked))
    parsed = config.parsed
    for named in parsed.lists.values():
        _scan(named.value, True, refs)
    for acl in parsed.acls.values():
        for statement in acl.statements:
            for item in statement.items:
                _scan(item.value, item.name in LIST_CONDITIONS, refs)
    for name, setting in parsed.main.items():
        if name.startswith("acl_") or LIST_OPTION.search(name):
            _scan(setting.value, not name.startswith("acl_"), refs)
    for router in parsed.of_kind("router"):
        for name, setting in router.settings.items():
            if not CREDENTIAL_OPTION.search(name):
                _scan(setting.value, bool(LIST_OPTION.search(name)) or name == "require_files", refs,
                      existence=name == "require_files")
    # a file some expansion tests for (`${if exists{F}{lsearch;F}}`) may be absent: not worth a report
    refs.reads -= refs.optional
    refs.optional |= recording.asked
    refs.loads = set(recording.asked)
    refs.secrets = _secrets(parsed) | _written_secrets(snapshot, recording.asked, parsed)
    if parsed.read.error is not None:
        # reading stopped there, as Exim's does: an authenticator after it (or in a file it would have
        # included) is unknown, so no list file is asked for, lest it be that authenticator's credential
        refs.reads, refs.optional = set(), set(recording.asked)
    return refs


def _scan(value: str, is_list: bool, refs: References, existence: bool = False) -> None:
    """Files `value` names: read ones, and those only tested for existence (`exists{}`, require_files),
    whose absence on the host is normal and not worth a report."""
    tested = set(EXISTS_FILE.findall(value))
    found = LOOKUP_FILE.findall(value)
    if is_list:
        found += [item.lstrip("!").strip() for item in split_list(value)] + BRACED_FILE.findall(value)
    usable = {p for p in [*found, *tested] if p.startswith("/") and not p.endswith("/") and "$" not in p}
    optional = usable & tested if not existence else usable
    refs.optional |= optional
    refs.reads |= usable - optional


BEGIN = re.compile(r"\s*begin\s+(\S+)", re.I)


def _written_secrets(snapshot: Snapshot, files: set[str], parsed: Parsed) -> set[str]:
    """Every path in an authenticator or a credential option as the files are written, whatever
    `.ifdef` holds (a daemon started with -D may read other branches), macros substituted."""
    macros = sorted(parsed.read.macros.items(), key=lambda item: -len(item[0]))
    secrets: set[str] = set()
    for path in sorted(files):
        real = snapshot.resolve(path)
        if real is None or not real.is_file():
            continue
        part = re.match(r"/etc/exim4/conf\.d/(\w+)/", path)  # Debian's parts hold no `begin` line
        section = {"auth": "authenticators"}.get(part[1], part[1]) if part else "main"
        text = re.sub(r"\\[ \t]*\n[ \t]*", "", real.read_text(encoding="utf-8", errors="replace"))
        for line in text.splitlines():
            if line.lstrip().startswith("#"):
                continue
            if (begin := BEGIN.match(line)) is not None:
                section = begin[1].lower()
                continue
            for name, macro in macros:
                if name in line:
                    line = line.replace(name, macro.value)
            option = re.sub(r"^\s*hide\s+", "", line).split("=", 1)[0].strip()
            if section.startswith("authenticator") or (not section.startswith(("acl", "router")) and (
                    CREDENTIAL_OPTION.search(option) or option.startswith(("server_", "client_")))):
                secrets.update(ANY_PATH.findall(line))
                secrets.update(WIDE_PATH.findall(line))
    return secrets


def _secrets(parsed: Parsed) -> set[str]:
    """Every path in an authenticator, and in main or transport options about keys and credentials.

    Taken from the logical lines, so a configuration that stops parsing early hides nothing."""
    secrets: set[str] = set()
    for line in parsed.read.lines:
        name = re.sub(r"^hide\s+", "", line.text).split("=", 1)[0].strip()
        if line.section == "authenticators" or (line.section in ("main", "transports")
                                                and CREDENTIAL_OPTION.search(name)):
            secrets.update(ANY_PATH.findall(line.text))
            secrets.update(WIDE_PATH.findall(line.text))  # `/etc/exim4/auth,users` is a file name too
    return secrets
