"""Postfix match lists: mynetworks-style host lists, domain lists and string lists (match_list.c).

Patterns are tried left to right; the first that matches decides, and `!pattern` makes that
decision "no". `/file` patterns expand to the file's words, `type:table` patterns are looked up.
Lists named in parent_domain_matches_subdomains let `example.com` match its subdomains.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from mailcfg.findings import Location
from mailcfg.postfix.effective import ParameterView
from mailcfg.postfix.lookup import Undecided, find_first
from mailcfg.postfix.tables import parse_ref
from mailcfg.postfix.tokens import split_list


@dataclass(frozen=True)
class Match:
    matched: bool
    pattern: str
    location: Location | None  # the parameter, or the table entry that matched


def parent_style(view: ParameterView, param: str) -> bool:
    return param in {x.lower() for x in view.items("parent_domain_matches_subdomains")}


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


def _table_hit(view: ParameterView, pattern: str, keys: list[tuple[str, bool]]):
    ref = parse_ref(pattern)
    if ref is None:
        return None
    return find_first(view.config.table(ref), keys)


def parent_keys(name: str, parent: bool) -> list[tuple[str, bool]]:
    """The full name, then each parent domain as a partial key (with or without leading dot)."""
    keys = [(name, False)]
    labels = name.split(".")
    for i in range(1, len(labels)):
        rest = ".".join(labels[i:])
        keys.append((rest if parent else "." + rest, True))
    return keys


def _host_matches(pattern: str, name: str, parent: bool) -> bool:
    p, n = pattern.lower(), name.lower()
    if p.startswith("."):
        return n.endswith(p)
    return n == p or (parent and n.endswith("." + p))


def _addr_matches(pattern: str, addr: str) -> bool:
    try:
        client = ipaddress.ip_address(addr)
    except ValueError:
        return False
    text = pattern.replace("[", "").replace("]", "")
    try:
        net = ipaddress.ip_network(text, strict=False) if "/" in text else None
        if net is None:
            return ipaddress.ip_address(text) == client
    except ValueError:
        return False
    return net.version == client.version and client in net


def match_hosts(view: ParameterView, param: str, name: str | None, addr: str) -> Match:
    """namadr_list: a client by name (when known) or address, e.g. mynetworks."""
    parent = parent_style(view, param)
    for pattern in _patterns(view, param):
        negated = pattern.startswith("!")
        bare = pattern.lstrip("!")
        hit = None
        if parse_ref(bare) is not None:
            keys = (parent_keys(name.lower(), parent) if name else []) + [(addr, False)]
            hit = _table_hit(view, bare, keys)
            found = hit is not None
        else:
            found = (name is not None and _host_matches(bare, name, parent)) or _addr_matches(bare, addr)
        if found:
            return Match(not negated, pattern, hit.location if hit else view.location(param))
    return Match(False, "", view.location(param))


def match_domains(view: ParameterView, param: str, domain: str) -> Match:
    """domain_list (relay_domains): names, with subdomains where parent matching applies."""
    parent = parent_style(view, param)
    for pattern in _patterns(view, param):
        negated = pattern.startswith("!")
        bare = pattern.lstrip("!")
        if parse_ref(bare) is not None:
            hit = _table_hit(view, bare, parent_keys(domain.lower(), parent))
            if hit is not None:
                return Match(not negated, pattern, hit.location or view.location(param))
        elif _host_matches(bare, domain, parent):
            return Match(not negated, pattern, view.location(param))
    return Match(False, "", view.location(param))


def match_strings(view: ParameterView, param: str, text: str) -> Match:
    """string_list (mydestination, virtual_*_domains): exact, case-insensitive."""
    for pattern in _patterns(view, param):
        negated = pattern.startswith("!")
        bare = pattern.lstrip("!")
        if parse_ref(bare) is not None:
            hit = _table_hit(view, bare, [(text, False)])
            if hit is not None:
                return Match(not negated, pattern, hit.location or view.location(param))
        elif bare.lower() == text.lower():
            return Match(not negated, pattern, view.location(param))
    return Match(False, "", view.location(param))
