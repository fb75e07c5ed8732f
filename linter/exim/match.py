"""Whether a host, domain, local part or address is in an Exim list, as match_check_list decides.

Items in order; the first that matches decides (`!` makes it "not in the list"); at the end the
subject is in the list only if the last item was negative. `+name` refers to a named list of the
same kind, evaluated on its own. Lists are expanded before use. What needs DNS, a lookup file the
snapshot lacks, or an expansion the model does not evaluate is undecided (result None).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from mailcfg.exim.expand import Context, expand
from mailcfg.exim.lists import Outcome, split_list
from mailcfg.exim.parse import NamedList


@dataclass
class Host:
    """The client as a host list sees it: its address and verified name."""

    address: str
    name: str | None = None  # the verified reverse-DNS name; None: there is none


@dataclass
class Environment:
    """What list matching may consult, beyond the list text itself."""

    lists: dict[tuple[str, str], NamedList]
    context: Context
    primary_hostname: str | None = None
    local_addresses: list[str] | None = None  # the host's interface addresses; None: not known
    hosts_file: dict[str, list[str]] = field(default_factory=dict)  # /etc/hosts: name -> addresses
    read_lines: Callable[[str], list[str] | None] = lambda _p: None  # a host file's lines; None: not in snapshot
    directory: Callable[[str], list[str] | None] = lambda _p: None  # a host directory's entries
    assume: Callable[[str], None] = lambda _text: None  # records what was taken for granted
    dns: bool = True  # names resolve through DNS (a lookup the snapshot cannot answer is undecided)
    # An address's answers for named domain lists, kept as Exim keeps them (domain_cache): a list first
    # matched against the domain before the percent hack keeps that answer for the rewritten one.
    domain_cache: dict[str, bool] | None = None
    # Lists' answers by (kind, text, subject, dns) for one configuration, with what they took for granted
    # (see match_list); None: not kept
    answers: dict[tuple, tuple[Outcome, tuple[str, ...]]] | None = None
    assumed: list[str] = field(default_factory=list)  # what matching took for granted, in order


def _assume(env: Environment, text: str) -> None:
    env.assumed.append(text)
    env.assume(text)


MAX_NESTING = 50  # named lists inside named lists followed this deep (the analysis's own stack is finite)
TOO_DEEP = f"named lists nested more than {MAX_NESTING} deep are not followed"


class ListError(Exception):
    """A list Exim cannot use at all (an unknown named list): the ACL defers."""


Subject = Host | str


def match_list(env: Environment, kind: str, text: str, subject: Subject, seen: tuple[str, ...] = ()) -> Outcome:
    """The list's answer. One that consulted nothing of the session but the subject (no variable, no
    cache of domain answers) is remembered for the configuration, and what it took for granted is
    taken again when it is reused."""
    if seen or env.answers is None or (kind == "domain" and env.domain_cache is not None):
        return _match_list(env, kind, text, subject, seen)
    key = (kind, text, subject.address, subject.name, env.dns) if isinstance(subject, Host) else \
        (kind, text, subject, env.dns)
    known = env.answers.get(key)
    if known is not None:
        for assumption in known[1]:
            env.assume(assumption)
        return known[0]
    consulted, assumed = env.context.consulted, len(env.assumed)
    outcome = _match_list(env, kind, text, subject, seen)
    if env.context.consulted == consulted:
        env.answers[key] = (outcome, tuple(env.assumed[assumed:]))
    return outcome


def _match_list(env: Environment, kind: str, text: str, subject: Subject, seen: tuple[str, ...]) -> Outcome:
    expanded = expand(text, env.context)
    if expanded.forced_fail:
        return Outcome(False, "", "")  # "as if the subject is not in the list"
    if expanded.error:
        raise ListError(expanded.why)
    if expanded.value is None:
        return Outcome(None, "", expanded.why)
    return _match_items(env, kind, split_list(expanded.value), subject, seen)


def in_list(env: Environment, kind: str, text: str, subject: Subject) -> bool | None:
    """match_list's answer, None when it is undecided or the list cannot be used at all."""
    try:
        return match_list(env, kind, text, subject).result
    except ListError:
        return None


def _match_items(env: Environment, kind: str, items: list[str], subject: Subject, seen: tuple[str, ...]) -> Outcome:
    negated = False
    unknown = "fail"  # what an unresolvable host name does: fail the list, be skipped, or match
    for raw in items:
        negated = raw.startswith("!")
        item = raw[1:].lstrip() if negated else raw
        if kind == "host" and item in ("+include_unknown", "+ignore_unknown", "+include_defer", "+ignore_defer"):
            if item.endswith("unknown"):
                unknown = item[1:].split("_")[0]
            continue
        if item.startswith("+"):
            named = env.lists.get((kind, item[1:]))
            if named is None:
                raise ListError(f'unknown named {kind} list "{item}"')
            if item in seen:
                raise ListError(f"named list {item} refers to itself")
            if len(seen) >= MAX_NESTING:
                return Outcome(None, raw, TOO_DEEP)
            cacheable = kind == "domain" and env.domain_cache is not None and "$" not in named.value
            if cacheable and item in env.domain_cache:
                inner = Outcome(env.domain_cache[item], raw)
            else:
                inner = match_list(env, kind, named.value, subject, (*seen, item))
                if cacheable and inner.result is not None:
                    env.domain_cache[item] = inner.result
            result = inner.result
            # the nesting limit is named as it is, however many lists up
            why = "" if result is not None else inner.undecided if inner.undecided == TOO_DEEP else \
                f"{item} is undecided"
        elif kind == "host":
            assert isinstance(subject, Host)
            result, why = _host_item(env, item, subject)
            if result == "unknown":
                if unknown == "ignore":
                    continue
                if unknown == "include":
                    return Outcome(not negated, raw)
                return Outcome(False, raw, "")  # the host name cannot be found: not in the list
        else:
            assert isinstance(subject, str)
            result, why = _ITEMS[kind](env, item, subject)
        if result is None:
            return Outcome(None, raw, why)
        if result:
            return Outcome(not negated, raw)
    return Outcome(negated, "")


# pure functions of an item's text, asked again for every probe
@functools.lru_cache(maxsize=4096)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        return addr.ipv4_mapped  # Exim converts ::ffff:a.b.c.d clients to IPv4 before matching
    return addr


@functools.lru_cache(maxsize=4096)
def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if "/" not in text:
        addr = _address(text)
        return ipaddress.ip_network(addr) if addr else None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)
def _lookup_kind(item: str) -> tuple[str, str] | None:
    """("lsearch", "/etc/file") for `lsearch;/etc/file` and its partial-/net- forms."""
    m = re.match(r"^([a-z0-9*@-]+);\s*(.*)$", item, re.S)
    return (m[1], m[2].strip()) if m else None


def _file_keys(env: Environment, path: str) -> list[str] | None:
    lines = env.read_lines(path)
    if lines is None:
        return None
    keys = []
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#") or line[:1].isspace():
            continue
        key = line.split(":", 1)[0].split()[0] if not line.startswith('"') else line.split('"')[1]
        keys.append(key)
    return keys


def _host_item(env: Environment, item: str, host: Host) -> tuple[bool | str | None, str]:
    if item == "":
        return False, ""  # matches only when no remote host is involved
    if item == "*":
        return True, ""
    client = _address(host.address)
    net = _network(item)
    if net is not None:
        return client is not None and client.version == net.version and client in net, ""
    if item == "@[]":
        if env.local_addresses is None:
            return None, "the host's own addresses are not known"
        return any(_address(a) == client for a in env.local_addresses), ""
    lookup = _lookup_kind(item)
    if lookup:
        kind, path = lookup
        if kind in ("net-iplsearch", "iplsearch", "net-lsearch", "net-iplsearch*"):
            keys = _file_keys(env, path)
            if keys is None:
                return None, f"{path} is not in the snapshot"
            for key in keys:
                knet = _network(key)
                if knet is not None and client is not None and client.version == knet.version and client in knet:
                    return True, ""
            return False, ""
        return None, f"{kind} lookups are not evaluated offline"
    if item.startswith("/"):
        return _file_items(env, "host", item, host)
    if item != "@" and not re.fullmatch(r"[A-Za-z0-9._-]+", item):
        # not a plain domain name: matched against the client's own (reverse DNS) name
        if host.name is None:
            return "unknown", ""
        name = host.name.lower()
        if item.startswith("^"):
            return re.search(item, name) is not None, ""
        return _wildcard(item.lower(), name), ""
    name = env.primary_hostname if item == "@" else item
    if name is None:
        return None, "the primary host name is not known"
    addresses = env.hosts_file.get(name.lower())
    if addresses is None and name.lower() == "localhost" and not env.hosts_file:
        _assume(env, "localhost is taken to be 127.0.0.1 and ::1 (the snapshot has no /etc/hosts)")
        addresses = ["127.0.0.1", "::1"]
    if addresses is None and not env.dns:
        return "unknown", ""  # without DNS the name is not found: Exim's "failed to find IP address"
    if addresses is None:
        return None, f"{name} would be looked up in DNS"
    return any(_address(a) == client for a in addresses), ""


def _file_items(env: Environment, kind: str, path: str, subject: Subject) -> tuple[bool | None, str]:
    """A file named in a list: its lines are items of the list (`#` lines are comments)."""
    lines = env.read_lines(path)
    if lines is None:
        return None, f"{path} is not in the snapshot"
    items = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    sub = _match_items(env, kind, items, subject, ())
    return sub.result, sub.undecided


def _wildcard(pattern: str, subject: str) -> bool:
    return subject.endswith(pattern[1:]) if pattern.startswith("*") else subject == pattern


def _domain_item(env: Environment, item: str, domain: str) -> tuple[bool | None, str]:
    domain = domain.lower()
    if item.startswith("^"):
        return re.search(item, domain) is not None, ""
    if item == "@":
        if env.primary_hostname is None:
            _assume(env, f"the host's own name is not known: taken to differ from {domain}")
            return False, ""
        return domain == env.primary_hostname.lower(), ""
    if item == "@[]":
        if not (domain.startswith("[") and domain.endswith("]")):
            return False, ""
        if env.local_addresses is None:
            return None, "the host's own addresses are not known"
        literal = _address(domain[1:-1].removeprefix("ipv6:"))
        return any(_address(a) == literal for a in env.local_addresses), ""
    if item.startswith("@mx_"):
        return None, f"{item} needs DNS"
    lookup = _lookup_kind(item)
    if lookup:
        kind, path = lookup
        if kind == "dsearch":
            entries = env.directory(path)
            if entries is None:
                return None, f"{path} is not in the snapshot"
            return domain in entries, ""
        if kind in ("lsearch", "partial-lsearch", "lsearch*", "lsearch*@"):
            keys = _file_keys(env, path)
            if keys is None:
                return None, f"{path} is not in the snapshot"
            keys = [k.lower() for k in keys]
            if domain in keys:
                return True, ""
            if kind.startswith("partial"):
                parts = domain.split(".")
                return any("*." + ".".join(parts[i:]) in keys for i in range(1, len(parts))), ""
            return False, ""
        return None, f"{kind} lookups are not evaluated offline"
    if item.startswith("/"):
        return _file_items(env, "domain", item, domain)
    return _wildcard(item.lower(), domain), ""


def _local_part_item(env: Environment, item: str, local_part: str) -> tuple[bool | None, str]:
    if item.startswith("^"):
        return re.search(item, local_part) is not None, ""
    lookup = _lookup_kind(item)
    if lookup:
        kind, path = lookup
        if kind == "lsearch":
            keys = _file_keys(env, path)
            if keys is None:
                return None, f"{path} is not in the snapshot"
            return local_part in keys, ""
        return None, f"{kind} lookups are not evaluated offline"
    return _wildcard(item, local_part), ""


def _address_item(env: Environment, item: str, address: str) -> tuple[bool | None, str]:
    if item == "":
        return address == "", ""
    if address == "":
        return False, ""
    if item.startswith("^"):
        return re.search(item, address) is not None, ""
    local, _, domain = address.rpartition("@")
    lookup = _lookup_kind(item) if not item.startswith("*@") else None
    if lookup and lookup[0] in ("lsearch", "lsearch*@"):  # the whole address is the key (then *@domain)
        keys = _file_keys(env, lookup[1])
        if keys is None:
            return None, f"{lookup[1]} is not in the snapshot"
        wanted = {k.lower() for k in keys}
        return address.lower() in wanted or (lookup[0] == "lsearch*@" and f"*@{domain}".lower() in wanted), ""
    if lookup:
        return None, "address lookups are not evaluated offline"
    if "@" not in item:
        return _domain_item(env, item, domain)
    want_local, _, want_domain = item.rpartition("@")
    if want_local == "*":
        local_ok = True
    elif want_local.startswith("^"):
        local_ok = re.search(want_local, local) is not None
    else:
        local_ok = _wildcard(want_local, local)
    if not local_ok:
        return False, ""
    if want_domain == "":
        return True, ""
    return _domain_item(env, want_domain, domain)


_ITEMS = {"domain": _domain_item, "localpart": _local_part_item, "address": _address_item}
