"""Postfix match lists: mynetworks-style host lists, domain lists and string lists (match_list.c).

Patterns are tried left to right; the first that matches decides, and `!pattern` makes that
decision "no". `/file` patterns expand to the file's words, `type:table` patterns are looked up.
Lists named in parent_domain_matches_subdomains let `example.com` match its subdomains.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import lru_cache

from mailcfg.findings import Location
from mailcfg.ipaddr import address
from mailcfg.postfix.effective import ParameterView
from mailcfg.postfix.lookup import Hit, Undecided, find_first
from mailcfg.postfix.netindex import NetIndex
from mailcfg.postfix.tables import TableRef, parse_ref
from mailcfg.postfix.tokens import split_list


@dataclass(frozen=True)
class Match:
    """Whether a list matched, the pattern that did, and where it is."""

    matched: bool
    pattern: str
    location: Location | None  # the parameter, or the table entry that matched


def parent_style(view: ParameterView, param: str) -> bool:
    names = view.memo.get("parent-style")
    if names is None:  # asked at every match
        names = view.memo["parent-style"] = dict.fromkeys(x.lower()
                                                          for x in view.items("parent_domain_matches_subdomains"))
    return param in names


def _patterns(view: ParameterView, param: str) -> list[str]:
    patterns: list[str] = []
    for item in view.items(param):
        bare = item.lstrip("!")
        if bare.startswith("/"):
            path = view.config.snapshot.resolve(bare)
            if path is None:
                raise Undecided(f"{param}: file {bare} is not in the snapshot")
            neg = "!" * (len(item) - len(bare))
            patterns += [neg + w for w in _file_words(view, path)]
        else:
            patterns.append(item)
    return patterns


def _file_words(view: ParameterView, path) -> list[str]:
    """The patterns a `/file` holds (comments dropped), read once per configuration."""
    memo = view.config.memo.setdefault("pattern-files", {})
    if path not in memo:
        memo[path] = split_list(" ".join(line.split("#", 1)[0] for line in
                                         path.read_text(errors="replace").splitlines()))
    return memo[path]


def parent_keys(name: str, parent: bool) -> list[tuple[str, bool]]:
    """The full name, then each parent domain as a partial key (with or without leading dot)."""
    keys = [(name, False)]
    labels = name.split(".")
    for i in range(1, len(labels)):
        rest = ".".join(labels[i:])
        keys.append((rest if parent else "." + rest, True))
    return keys


@dataclass
class Compiled:
    """A list's patterns indexed once per configuration: names and addresses by dict lookup,
    tables (which need a query each) in list order. Positions keep first-match order."""

    patterns: list[str]
    names: dict[str, int] = field(default_factory=dict)  # `example.com` (lowercased) -> first position
    dotted: dict[str, int] = field(default_factory=dict)  # `.example.com` patterns
    addresses: dict[object, int] = field(default_factory=dict)  # plain addresses
    networks: NetIndex = field(default_factory=NetIndex)  # `net/len` patterns
    tables: list[tuple[int, TableRef]] = field(default_factory=list)


def _compile(view: ParameterView, param: str) -> Compiled:
    if any(item.lstrip("!").startswith("/") for item in view.items(param)):
        return _index(_patterns(view, param))
    return _compile_value(view.get(param))  # the value alone decides: shared by the what-if copies


@lru_cache(maxsize=32)
def _compile_value(value: str) -> Compiled:
    return _index(split_list(value))


def _index(patterns: list[str]) -> Compiled:
    compiled = Compiled(patterns)
    for position, pattern in enumerate(compiled.patterns):
        bare = pattern.lstrip("!")
        ref = parse_ref(bare)
        if ref is not None:
            compiled.tables.append((position, ref))
            continue
        lower = bare.lower()
        (compiled.dotted if lower.startswith(".") else compiled.names).setdefault(lower, position)
        text = bare.replace("[", "").replace("]", "")
        try:
            if "/" in text:
                compiled.networks.add(position, ipaddress.ip_network(text, strict=False))
            else:
                compiled.addresses.setdefault(ipaddress.ip_address(text), position)
        except ValueError:
            pass  # no address: it can only match as a name
    return compiled


def compiled(view: ParameterView, param: str) -> Compiled:
    """`param`'s list, compiled once per configuration for each value it has (found again through the view:
    asked for every new client)."""
    found = view.memo["match lists"].get(param)
    if found is None:
        found = view.memo["match lists"][param] = view.config.remember(("match-list", param, view.get(param)),
                                                                       lambda: _compile(view, param))
    return found


def _earlier(a: int | None, b: int | None) -> int | None:
    """The earlier of two list positions (None: no match)."""
    if a is None or b is None:
        return b if a is None else a
    return min(a, b)


def _first_name(c: Compiled, name: str, parent: bool) -> int | None:
    """The first name pattern that matches `name`: itself, a `.parent` pattern, or with parent-style
    matching a parent domain written without the dot."""
    n = name.lower()
    found = [c.names.get(n)]
    for i, ch in enumerate(n):
        if ch == ".":
            found.append(c.dotted.get(n[i:]))
            if parent:
                found.append(c.names.get(n[i + 1:]))
    return min((p for p in found if p is not None), default=None)


def _first_address(c: Compiled, addr: str) -> int | None:
    client = address(addr)
    if client is None:
        return None
    # (an address's hash is a Python call: not asked of a list with no plain addresses)
    return _earlier(c.addresses.get(client) if c.addresses else None, c.networks.first(client))


def _first(view: ParameterView, c: Compiled, before: int | None,
           keys: list[tuple[str, bool]]) -> tuple[int, Hit | None] | None:
    """The first match: a table before position `before` that answers one of `keys`, else `before`."""
    for position, ref in c.tables:
        if before is not None and position > before:
            break
        hit = find_first(view.config.table(ref), keys)
        if hit is not None:
            return position, hit
    return (before, None) if before is not None else None


def _decided(view: ParameterView, param: str, c: Compiled, found: tuple[int, Hit | None] | None,
             entry_only: bool = False) -> Match:
    """The match; it points at the table entry that answered, or the parameter (`entry_only`: a
    table's answer points at its entry even when that has no place, as an inline table's)."""
    if found is None:
        return Match(False, "", view.location(param))
    position, hit = found
    pattern = c.patterns[position]
    if hit is not None and (hit.location is not None or entry_only):
        return Match(not pattern.startswith("!"), pattern, hit.location)
    return Match(not pattern.startswith("!"), pattern, view.location(param))


def _remembered(match):
    """A match function whose answers are kept per view: a list is asked about the same client, domain or
    address probe after probe (an Undecided is raised again each time). Equal answers are kept as one
    object: a list asked about a new client at every probe has few answers, and objects kept one per client
    would make every full garbage collection longer."""
    kind = match.__name__

    def remembered(view: ParameterView, param: str, *what):
        memo = view.memo[kind]
        key = (param, *what)
        found = memo.get(key)
        if found is None:
            found = match(view, param, *what)
            found = memo[key] = view.memo["matches"].setdefault(found, found)
        return found

    remembered.__doc__ = match.__doc__
    return remembered


@_remembered
def match_hosts(view: ParameterView, param: str, name: str | None, addr: str) -> Match:
    """namadr_list: a client by name (when known) or address, e.g. mynetworks."""
    parent = parent_style(view, param)
    c = compiled(view, param)
    before = _earlier(_first_address(c, addr), _first_name(c, name, parent) if name is not None else None)
    keys = (parent_keys(name.lower(), parent) if name else []) + [(addr, False)] if c.tables else []
    return _decided(view, param, c, _first(view, c, before, keys), entry_only=True)


@_remembered
def match_domains(view: ParameterView, param: str, domain: str) -> Match:
    """domain_list (relay_domains): names, with subdomains where parent matching applies."""
    parent = parent_style(view, param)
    c = compiled(view, param)
    return _decided(view, param, c, _first(view, c, _first_name(c, domain, parent),
                                           parent_keys(domain.lower(), parent)))


@_remembered
def match_strings(view: ParameterView, param: str, text: str) -> Match:
    """string_list (mydestination, virtual_*_domains): exact, case-insensitive."""
    c = compiled(view, param)
    return _decided(view, param, c, _first(view, c, c.names.get(text.lower(), c.dotted.get(text.lower())),
                                           [(text, False)]))
