"""Lookup tables a configuration names: `type:name` references and the text they hold.

Inline tables are read from the value itself; cidr, regexp, pcre, texthash and the source
files of hash, lmdb, btree, cdb, dbm and sdbm maps are read from the snapshot when present.
Network tables (ldap, mysql, socketmap, ...) cannot be read offline and stay opaque.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from mailcfg.findings import Location
from mailcfg.postfix.maincf import Problem
from mailcfg.postfix.tokens import split
from mailcfg.source import LogicalLine, OrphanLine, SourceFile, logical_lines, read_text

KEYED_FILE_TYPES = {"hash", "lmdb", "btree", "cdb", "dbm", "sdbm", "texthash"}
PATTERN_FILE_TYPES = {"cidr", "regexp", "pcre"}
OPAQUE_TYPES = {"ldap", "mysql", "pgsql", "sqlite", "memcache", "mongodb", "nis", "nisplus", "netinfo",
                "socketmap", "tcp", "environ", "unix", "fail", "randmap", "internal"}
WRAPPER_TYPES = {"proxy"}
COMPOSITE_TYPES = {"unionmap", "pipemap"}
CONSTANT_TYPES = {"static", "inline"}
MAP_TYPES = KEYED_FILE_TYPES | PATTERN_FILE_TYPES | OPAQUE_TYPES | WRAPPER_TYPES | COMPOSITE_TYPES | \
    CONSTANT_TYPES
TABLE_REF = re.compile(r"^([a-z][a-z0-9_]*):(.+)$", re.S)


class TableRef(NamedTuple):
    """A lookup table as a setting names it: `type:name`. A named tuple, not a frozen dataclass: it keys the
    configuration's loaded tables, and a tuple's hash and equality cost no Python call."""

    type: str
    name: str

    @property
    def text(self) -> str:
        return f"{self.type}:{self.name}"

    @property
    def kind(self) -> str:
        """The type that holds the entries: the wrapped table's type for proxy:type:name."""
        return self.name.split(":", 1)[0] if self.type in WRAPPER_TYPES else self.type


@functools.lru_cache(maxsize=1024)  # asked for each lookup of each probe
def parse_ref(item: str) -> TableRef | None:
    """`hash:/etc/postfix/x` -> TableRef; None when `item` is not a known table type."""
    m = TABLE_REF.match(item)
    if not m or m.group(1) not in MAP_TYPES:
        return None
    return TableRef(m.group(1), m.group(2))


def refs_in(values: Iterable[str]) -> set[TableRef]:
    """The tables these parameter values name (`{ ... }` groups opened, as smtpd reads them)."""
    return {ref for value in values for tok in split(value) if (ref := parse_ref(tok.inner())) is not None}


@dataclass
class Entry:
    """One entry of a lookup table."""

    key: str  # the lookup key, or the pattern for cidr/regexp/pcre
    value: str
    location: Location | None
    negated: bool = False  # `!pattern` / `!/re/`
    flags: str = ""  # regexp flags
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None  # a cidr entry's, parsed once


@dataclass
class Table:
    """A lookup table's entries, or why they are not known."""

    ref: TableRef
    entries: list[Entry] = field(default_factory=list)
    source: SourceFile | None = None
    readable: bool = False  # its content is known to the analysis
    note: str = ""  # why it is not, in words for a trace
    problems: list[Problem] = field(default_factory=list)
    index: dict = field(default_factory=dict, repr=False, compare=False)  # lookup's indexes, built once


Resolver = Callable[[str], "Path | None"]


def load_table(ref: TableRef, resolve: Resolver, display: Callable[[str], str]) -> Table:
    """Read the table `ref` names; `resolve` maps an absolute host path to a snapshot file."""
    table = Table(ref)
    kind = ref.type
    if kind in WRAPPER_TYPES:
        inner = parse_ref(ref.name)
        if inner is None:
            table.note = f"proxy of unknown table {ref.name!r}"
            return table
        loaded = load_table(inner, resolve, display)
        loaded.ref = ref
        return loaded
    if kind == "inline":
        body = ref.name.strip()
        if not (body.startswith("{") and body.endswith("}")):
            table.note = "inline table must be written inline:{ key=value, ... }"
            return table
        for tok in split(body[1:-1]):
            key, eq, value = tok.inner().partition("=")
            if not eq:
                table.problems.append(Problem(f"inline table entry {tok.text!r} has no '='", Location()))
                continue
            table.entries.append(Entry(key.strip(), value.strip(), None))
        table.readable = True
        return table
    if kind == "static":
        body = ref.name.strip()
        table.entries.append(Entry("*", body[1:-1].strip() if body.startswith("{") else body, None))
        table.readable = True
        return table
    if kind in COMPOSITE_TYPES:
        table.note = f"{kind} tables are not evaluated offline"
        return table
    if kind not in KEYED_FILE_TYPES | PATTERN_FILE_TYPES:
        table.note = f"{kind} tables live outside the configuration files"
        return table
    real = resolve(ref.name)
    if real is None:
        table.note = f"{ref.name} is not in the snapshot"
        return table
    table.source = SourceFile.from_text(display(ref.name), read_text(real, display(ref.name)), real)
    table.readable = True
    parse = _parse_cidr if kind == "cidr" else _parse_regexp if kind in ("regexp", "pcre") else _parse_keyed
    for item in logical_lines(table.source):
        if isinstance(item, OrphanLine):
            continue
        parse(item, table)
    return table


def _split_pair(line: LogicalLine) -> tuple[str, str, int]:
    m = re.match(r"(\S+)\s*(.*?)\s*$", line.text, re.S)
    assert m is not None  # logical lines are never blank
    return m.group(1), m.group(2), m.start(2)


def _where(table: Table, line: LogicalLine, offset: int = 0) -> Location:
    ln, col = line.position(offset)
    return Location(table.source.path if table.source else None, ln, col)


def _parse_keyed(line: LogicalLine, table: Table) -> None:
    key, value, _ = _split_pair(line)
    table.entries.append(Entry(key, value, _where(table, line)))


def _parse_cidr(line: LogicalLine, table: Table) -> None:
    key, value, _ = _split_pair(line)
    negated = key.startswith("!")
    pattern = key[1:] if negated else key
    if key in ("if", "endif"):
        # `if !network` holds for addresses outside it (checked against the real Postfix)
        inverted = key == "if" and value.startswith("!")
        table.entries.append(Entry(key, value[1:].lstrip() if inverted else value, _where(table, line), inverted))
        return
    try:
        net = ipaddress.ip_network(pattern.strip("[]"), strict=True)
    except ValueError as exc:
        reason = "non-null host address bits" if "host bits" in str(exc) else "bad address pattern"
        table.problems.append(Problem(f"{reason} in {pattern!r}: Postfix skips this entry",
                                      _where(table, line)))
        return
    if not value:
        table.problems.append(Problem(f"no lookup result for {pattern!r}", _where(table, line)))
        return
    table.entries.append(Entry(pattern, value, _where(table, line), negated, network=net))


def _parse_regexp(line: LogicalLine, table: Table) -> None:
    text = line.text
    m = re.match(r"\s*(if\s+|endif\b)?\s*(!?)\s*(.)", text)
    if m is None:
        return
    if m.group(1) and m.group(1).startswith("endif"):
        table.entries.append(Entry("endif", "", _where(table, line)))
        return
    delim = m.group(3)
    start = m.end(3)
    end = start
    while end < len(text) and text[end] != delim:
        end += 2 if text[end] == "\\" else 1
    if end >= len(text) or delim.isalnum():
        table.problems.append(Problem("regular expression has no closing delimiter",
                                      _where(table, line)))
        return
    flags_m = re.match(r"[A-Za-z]*", text[end + 1:])
    flags = flags_m.group(0) if flags_m else ""
    value = text[end + 1 + len(flags):].strip()
    if m.group(1):
        table.entries.append(Entry("if", text[start:end], _where(table, line), m.group(2) == "!", flags))
        return
    if not value:
        table.problems.append(Problem("regular expression has no lookup result", _where(table, line)))
        return
    table.entries.append(Entry(text[start:end], value, _where(table, line), m.group(2) == "!", flags))
