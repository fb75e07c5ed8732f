"""Looking keys up in tables the way Postfix's dictionaries answer them.

Fixed-key tables (inline, static, texthash and the sources of hash/lmdb/... maps) fold case and
answer partial keys (parent domains, `user@`); cidr, regexp and pcre tables see only the full
key of each query (maps_find skips them for DICT_FLAG_FIXED queries). A table the snapshot does
not hold raises Undecided: its answer is not knowable offline.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from mailcfg.findings import Location
from mailcfg.postfix.tables import PATTERN_FILE_TYPES, Entry, Table


class Undecided(Exception):
    """The answer depends on something the snapshot does not show."""


@dataclass(frozen=True)
class Hit:
    value: str
    table: str
    key: str  # the query that matched
    location: Location | None
    pattern: str = ""  # the table's key or pattern that matched it


def find(table: Table, key: str, partial: bool = False, aliases: bool = False) -> Hit | None:
    """Query `table` for `key`; `partial` marks a derived key (parent domain, `user@`, shorter net).

    `aliases`: the table is an aliases(5) file, whose keys end in a colon.
    """
    kind = table.ref.kind
    if not table.readable:
        raise Undecided(f"{table.ref.text}: {table.note or 'not readable offline'}")
    if kind in PATTERN_FILE_TYPES:
        if partial:
            return None
        entry, value = (_cidr if kind == "cidr" else _regexp)(table.entries, key)
        return Hit(value, table.ref.text, key, entry.location, entry.key) if entry is not None else None
    if kind == "static":
        entry = table.entries[0]
        return Hit(entry.value, table.ref.text, key, entry.location, "*")
    folded = key.lower()
    for entry in table.entries:  # the first of duplicate keys wins (postmap ignores later ones)
        if (entry.key[:-1] if aliases and entry.key.endswith(":") else entry.key).lower() == folded:
            return Hit(entry.value, table.ref.text, key, entry.location, entry.key)
    return None


def find_first(table: Table, keys: list[tuple[str, bool]], aliases: bool = False) -> Hit | None:
    """The answer to the first of `keys` (key, partial) that `table` has, in the order smtpd asks."""
    for key, partial in keys:
        hit = find(table, key, partial, aliases)
        if hit is not None:
            return hit
    return None


def _blocks(entries: list[Entry], matches) -> list[Entry]:
    """Entries outside if/endif blocks whose condition fails are skipped."""
    live: list[Entry] = []
    skipping = 0
    depth = 0
    for entry in entries:
        if entry.key == "if":
            depth += 1
            if not skipping and matches(entry) == entry.negated:
                skipping = depth
            continue
        if entry.key == "endif":
            if skipping == depth:
                skipping = 0
            depth = max(depth - 1, 0)
            continue
        if not skipping:
            live.append(entry)
    return live


def _cidr(entries: list[Entry], key: str) -> tuple[Entry | None, str]:
    try:
        addr = ipaddress.ip_address(key.strip("[]"))
    except ValueError:
        return None, ""

    def matches(entry: Entry) -> bool:
        try:
            net = ipaddress.ip_network(entry.value.strip("[]") if entry.key == "if" else entry.key.strip("[]"))
        except ValueError:
            return False
        return net.version == addr.version and addr in net

    for entry in _blocks(entries, matches):
        if matches(entry) != entry.negated:
            return entry, entry.value
    return None, ""


def _compile(pattern: str, flags: str) -> re.Pattern | None:
    caseless = True
    for flag in flags:
        if flag == "i":
            caseless = not caseless
    try:
        return re.compile(pattern, re.I if caseless else 0)
    except re.error:
        return None


def _regexp(entries: list[Entry], key: str) -> tuple[Entry | None, str]:
    def search(entry: Entry) -> re.Match | None:
        compiled = _compile(entry.value if entry.key == "if" else entry.key, entry.flags)
        return compiled.search(key) if compiled else None

    def matches(entry: Entry) -> bool:
        return search(entry) is not None

    for entry in _blocks(entries, matches):
        m = search(entry)
        if (m is not None) != entry.negated:
            return entry, _substitute(entry.value, m) if m else entry.value
    return None, ""


def _substitute(value: str, m: re.Match) -> str:
    def group(g: re.Match) -> str:
        n = int(g.group(1) or g.group(2))
        return (m.group(n) or "") if n <= (m.re.groups or 0) else ""
    return re.sub(r"\$(?:(\d)|\{(\d+)\})", group, value).replace("$$", "$")
