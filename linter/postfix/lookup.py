"""Looking keys up in tables the way Postfix's dictionaries answer them.

Fixed-key tables (inline, static, texthash and the sources of hash/lmdb/... maps) fold case and
answer partial keys (parent domains, `user@`); cidr, regexp and pcre tables see only the full
key of each query (maps_find skips them for DICT_FLAG_FIXED queries). A table the snapshot does
not hold raises Undecided: its answer is not knowable offline.
"""

from __future__ import annotations

import heapq
import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mailcfg.findings import Location
from mailcfg.ipaddr import address
from mailcfg.postfix.netindex import NetIndex, Network
from mailcfg.postfix.tables import PATTERN_FILE_TYPES, Entry, Table


class Undecided(Exception):
    """The answer depends on something the snapshot does not show."""


@dataclass(frozen=True)
class Hit:
    """A table's answer to one query."""

    value: str
    table: str
    key: str  # the query that matched
    location: Location | None
    pattern: str = ""  # the table's key or pattern that matched it


def find_first(table: Table, keys: Sequence[tuple[str, bool]], aliases: bool = False) -> Hit | None:
    """The answer to the first of `keys` (key, partial) that `table` has, in the order smtpd asks.
    The table's kind is looked at once for all keys: a lookup asks with up to a dozen."""
    if not table.readable:
        raise Undecided(f"{table.ref.text}: {table.note or 'not readable offline'}")
    kind = table.ref.kind
    if kind in PATTERN_FILE_TYPES:
        match = _cidr if kind == "cidr" else _regexp
        for key, partial in keys:
            if not partial:
                entry, value = match(table, key)
                if entry is not None:
                    return Hit(value, table.ref.text, key, entry.location, entry.key)
        return None
    if kind == "static":
        entry = table.entries[0]
        return Hit(entry.value, table.ref.text, keys[0][0], entry.location, "*")
    index = _keys(table, aliases)
    for key, _ in keys:
        found = index.get(key.lower())
        if found is not None:
            return Hit(found.value, table.ref.text, key, found.location, found.key)
    return None


def _keys(table: Table, aliases: bool) -> dict[str, Entry]:
    """A fixed-key table's entries by folded key, built once per table; the first of duplicate keys
    wins (postmap ignores later ones)."""
    index = table.index.get(("keys", aliases))
    if index is None:
        index = table.index[("keys", aliases)] = {}
        for entry in table.entries:
            index.setdefault((entry.key[:-1] if aliases and entry.key.endswith(":") else entry.key).lower(), entry)
    return index


@dataclass
class _Body:
    """A cidr/regexp table without its if/endif lines: each entry with the `if` lines around it
    (an entry counts only while every one of them matches)."""

    entries: list[Entry] = field(default_factory=list)
    guards: list[tuple[Entry, ...]] = field(default_factory=list)
    conditions: dict[int, Any] = field(default_factory=dict)  # id of an `if` line -> its parsed pattern
    patterns: list[Any] = field(default_factory=list)  # each entry's parsed pattern
    networks: NetIndex = field(default_factory=NetIndex)  # cidr: the positions of plain entries
    negated: list[int] = field(default_factory=list)  # cidr: the positions of `!network` entries

    def live(self, position: int, holds: Callable[[Any], bool], seen: dict[int, bool]) -> bool:
        """Every `if` around the entry at `position` matches (`!` inverted); each `if` judged once."""
        for cond in self.guards[position]:
            if id(cond) not in seen:
                seen[id(cond)] = holds(self.conditions[id(cond)]) != cond.negated
            if not seen[id(cond)]:
                return False
        return True


def _body(table: Table, parse_entry: Callable[[Entry], Any], parse_if: Callable[[Entry], Any]) -> _Body:
    body = _Body()
    around: list[Entry] = []
    for entry in table.entries:
        if entry.key == "if":
            around.append(entry)
            body.conditions[id(entry)] = parse_if(entry)
        elif entry.key == "endif":
            if around:  # an endif with no if is ignored
                around.pop()
        else:
            body.entries.append(entry)
            body.guards.append(tuple(around))
            body.patterns.append(parse_entry(entry))
    return body


def _network(text: str) -> Network | None:
    try:
        return ipaddress.ip_network(text.strip("[]"))
    except ValueError:
        return None


def _cidr_body(table: Table) -> _Body:
    """Built once per table, its networks indexed."""
    body = table.index["cidr"] = _body(table, lambda e: e.network or _network(e.key), lambda e: _network(e.value))
    for position, (entry, net) in enumerate(zip(body.entries, body.patterns, strict=True)):
        if entry.negated:
            body.negated.append(position)
        elif net is not None:
            body.networks.add(position, net)
    return body


def _cidr(table: Table, key: str) -> tuple[Entry | None, str]:
    addr = address(key.strip("[]"))
    if addr is None:
        return None, ""
    body = table.index.get("cidr") or _cidr_body(table)

    def holds(net: Network | None) -> bool:
        return net is not None and net.version == addr.version and addr in net

    # first match in file order: the entries holding the address, and the `!` ones that do not (merged only
    # where there are any: most tables have none, and a merge generator costs more than the lookup)
    positions: Iterable[int] = body.networks.holding(addr)
    if body.negated:
        positions = heapq.merge(positions, (p for p in body.negated if not holds(body.patterns[p])))
    seen: dict[int, bool] = {}
    for position in positions:
        if body.live(position, holds, seen):
            entry = body.entries[position]
            return entry, entry.value
    return None, ""


def _compile(pattern: str, flags: str) -> re.Pattern | None:
    caseless = True
    for flag in flags:
        if flag == "i":
            caseless = not caseless
    try:
        return re.compile(pattern, re.I if caseless else 0)
    except (re.error, RecursionError, OverflowError):
        return None


def _regexp(table: Table, key: str) -> tuple[Entry | None, str]:
    body = table.index.get("regexp") or table.index.setdefault(
        "regexp", _body(table, lambda e: _compile(e.key, e.flags), lambda e: _compile(e.value, e.flags)))

    def holds(compiled: re.Pattern | None) -> bool:
        return compiled is not None and compiled.search(key) is not None

    seen: dict[int, bool] = {}
    for position, (entry, compiled) in enumerate(zip(body.entries, body.patterns, strict=True)):
        if not body.live(position, holds, seen):
            continue
        m = compiled.search(key) if compiled else None
        if (m is not None) != entry.negated:
            return entry, _substitute(entry.value, m) if m else entry.value
    return None, ""


def _substitute(value: str, m: re.Match) -> str:
    def group(g: re.Match) -> str:
        n = int(g.group(1) or g.group(2))
        return (m.group(n) or "") if n <= (m.re.groups or 0) else ""
    return re.sub(r"\$(?:([0-9])|\{([0-9]+)\})", group, value).replace("$$", "$")
