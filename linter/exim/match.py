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
from typing import Any, NamedTuple

from mailcfg import ipaddr
from mailcfg.exim.expand import Context, expand
from mailcfg.exim.lists import Outcome, split_list
from mailcfg.exim.parse import NamedList


@dataclass(slots=True)
class Host:
    """The client as a host list sees it: its address and verified name."""

    address: str
    name: str | None = None  # the verified reverse-DNS name; None: there is none


@dataclass(frozen=True, slots=True)
class Scope:
    """What list matching may consult that is the same for every session of a configuration."""

    lists: dict[tuple[str, str], NamedList]
    primary_hostname: str | None = None
    local_addresses: list[str] | None = None  # the host's interface addresses; None: not known
    hosts_file: Callable[[], dict[str, list[str]]] = dict  # /etc/hosts (name -> addresses), read when first asked
    read_lines: Callable[[str], list[str] | None] = lambda _p: None  # a host file's lines; None: not in snapshot
    directory: Callable[[str], list[str] | None] = lambda _p: None  # a host directory's entries
    # Lists' answers by (kind, text, subject, dns), with what they took for granted (see match_list); emptied
    # when it holds ANSWERS_KEPT
    answers: dict[tuple, tuple[Outcome, tuple[str, ...]]] = field(default_factory=dict)


@dataclass(slots=True)
class Environment:
    """What list matching may consult, beyond the list text itself: the configuration's scope and the session's."""

    scope: Scope
    context: Context
    assume: Callable[[str], None] = lambda _text: None  # records what was taken for granted
    dns: bool = True  # names resolve through DNS (a lookup the snapshot cannot answer is undecided)
    # An address's answers for named domain lists, kept as Exim keeps them (domain_cache): a list first
    # matched against the domain before the percent hack keeps that answer for the rewritten one.
    domain_cache: dict[str, bool] | None = None
    assumed: list[str] = field(default_factory=list)  # what matching took for granted, in order


def _assume(env: Environment, text: str) -> None:
    env.assumed.append(text)
    env.assume(text)


# A configuration's list answers start over when they are this many: each new client, local part or sender
# brings its own, and a long run would otherwise keep them all, for the cycle collector to walk again and again
ANSWERS_KEPT = 256
MAX_NESTING = 50  # named lists inside named lists followed this deep (the analysis's own stack is finite)
TOO_DEEP = f"named lists nested more than {MAX_NESTING} deep are not followed"


class ListError(Exception):
    """A list Exim cannot use at all (an unknown named list): the ACL defers."""


Subject = Host | str


def match_list(env: Environment, kind: str, text: str, subject: Subject, seen: tuple[str, ...] = ()) -> Outcome:
    """The list's answer. One that consulted nothing of the session but the subject (no variable, no
    cache of domain answers) is remembered for the configuration, and what it took for granted is
    taken again when it is reused; one that did not even look at the subject (`hosts = :`, a list
    expanded to nothing) is remembered for every subject."""
    answers = env.scope.answers
    if seen or (kind == "domain" and env.domain_cache is not None):
        return _answered(env, kind, text, subject, seen)[0]
    key = (kind, text, subject.address, subject.name, env.dns) if isinstance(subject, Host) else \
        (kind, text, subject, env.dns)
    known = answers.get(key)
    if known is None:
        known = answers.get((kind, text))
    if known is not None:
        for assumption in known[1]:
            env.assume(assumption)
        return known[0]
    consulted, assumed = env.context.consulted, len(env.assumed)
    outcome, any_subject = _answered(env, kind, text, subject, seen)
    if env.context.consulted == consulted:
        if len(answers) >= ANSWERS_KEPT:
            answers.clear()
        answers[(kind, text) if any_subject else key] = (outcome, tuple(env.assumed[assumed:]))
    return outcome


def answer_for_any(env: Environment, kind: str, text: str) -> Outcome | None:
    """The list's answer when match_list found that it holds for every subject, having taken nothing for
    granted; None when it has not."""
    known = env.scope.answers.get((kind, text))
    return known[0] if known is not None and not known[1] else None


def may_answer_for_any(kind: str, text: str) -> bool:
    """Whether the list's answer may hold for every subject: not when it has nothing to expand and an item it
    reaches tests the subject."""
    return "$" in text or "\\" in text or _ready_list(kind, text).fixed is not None


def _answered(env: Environment, kind: str, text: str, subject: Subject, seen: tuple[str, ...]
              ) -> tuple[Outcome, bool]:
    """The list's answer, and whether it holds for every subject (nothing in it looked at this one)."""
    ready = _expanded(env, kind, text)
    if isinstance(ready, Outcome):
        return ready, True
    if ready.fixed is not None:
        return ready.fixed, True
    return _match_items(env, kind, ready, subject, seen), False


def _expanded(env: Environment, kind: str, text: str) -> _Ready | Outcome:
    """The list's items ready to match once `text` is expanded; the outcome when its expansion decides it."""
    if "$" not in text and "\\" not in text:  # nothing to expand (most lists, named ones above all)
        return _ready_list(kind, text)
    expanded = expand(text, env.context)
    if expanded.forced_fail:
        return Outcome(False, "", "")  # "as if the subject is not in the list"
    if expanded.error:
        raise ListError(expanded.why)
    if expanded.value is None:
        return Outcome(None, "", expanded.why)
    return _ready_list(kind, expanded.value)


def in_list(env: Environment, kind: str, text: str, subject: Subject) -> bool | None:
    """match_list's answer, None when it is undecided or the list cannot be used at all."""
    try:
        return match_list(env, kind, text, subject).result
    except ListError:
        return None


class _Item(NamedTuple):
    """A list item ready to match: its test, chosen by the item's form once for every subject."""

    raw: str  # as written, with its `!`: the outcome names it
    negated: bool
    # (environment, argument, subject) -> (True, False, None when undecided, or "unknown" for a host name not
    # found; why it is undecided); None for a named list
    test: Callable[[Environment, Any, Any], tuple[bool | str | None, str]] | None
    argument: Any  # what the test needs of the item: a network, a name in lower case, a file's path...
    unknown: str  # a host name not found: fails the list, is skipped or matches (+include_unknown...)


class _Ready(NamedTuple):
    """A list's items ready to match, and how it ends when none decides it."""

    items: tuple[_Item, ...]
    negated: bool  # whether the last item is negative: the subject is then in the list
    fixed: Outcome | None  # the answer when no item before the deciding one looks at the subject


@functools.lru_cache(maxsize=4096)  # the same lists, expanded alike, for every probe
def _ready_list(kind: str, value: str) -> _Ready:
    return _ready(kind, split_list(value))


def _ready(kind: str, items: list[str]) -> _Ready:
    ready = []
    unknown = "fail"
    for raw in items:
        negated = raw.startswith("!")
        item = raw[1:].lstrip() if negated else raw
        if kind == "host" and item in ("+include_unknown", "+ignore_unknown", "+include_defer", "+ignore_defer"):
            if item.endswith("unknown"):
                unknown = item[1:].split("_")[0]
            continue
        if item.startswith("+"):
            ready.append(_Item(raw, negated, None, (item, (kind, item[1:])), unknown))
            continue
        test, argument = _TESTS[kind](item)
        ready.append(_Item(raw, negated, test, argument, unknown))
    negated = bool(items) and items[-1].startswith("!")
    return _Ready(tuple(ready), negated, _fixed(ready, negated))


def _fixed(items: list[_Item], negated: bool) -> Outcome | None:
    """What _match_items answers for any subject when the items it reaches test nothing of the subject
    (constants, items undecided by their form); None when one does."""
    for raw, item_negated, test, argument, _unknown in items:
        if test is _undecided:
            return Outcome(None, raw, argument)
        if test is not _constant:
            return None
        if argument:
            return Outcome(not item_negated, raw)
    return Outcome(negated, "")


def _match_items(env: Environment, kind: str, ready: _Ready, subject: Subject, seen: tuple[str, ...]) -> Outcome:
    for raw, negated, test, argument, unknown in ready.items:
        if test is None:
            result, why = _named(env, kind, argument, subject, seen)
        else:
            result, why = test(env, argument, subject)
            if result == "unknown":
                if unknown == "ignore":
                    continue
                if unknown == "include":
                    return Outcome(not negated, raw)
                return Outcome(False, raw, "")  # the host name cannot be found: not in the list
        if result is None:
            return Outcome(None, raw, why)
        if result:
            return Outcome(not negated, raw)
    return Outcome(ready.negated, "")


def _named(env: Environment, kind: str, argument: tuple[str, tuple[str, str]], subject: Subject,
           seen: tuple[str, ...]) -> tuple[bool | None, str]:
    """`+name`: the named list's own answer."""
    item, key = argument
    named = env.scope.lists.get(key)
    if named is None:
        raise ListError(f'unknown named {kind} list "{item}"')
    if item in seen:
        raise ListError(f"named list {item} refers to itself")
    if len(seen) >= MAX_NESTING:
        return None, TOO_DEEP
    cacheable = kind == "domain" and env.domain_cache is not None and "$" not in named.value
    if cacheable and item in env.domain_cache:
        return env.domain_cache[item], ""
    inner = _answered(env, kind, named.value, subject, (*seen, item))[0]  # as match_list does, within a list
    if cacheable and inner.result is not None:
        env.domain_cache[item] = inner.result
    if inner.result is not None:
        return inner.result, ""
    # the nesting limit is named as it is, however many lists up
    return None, inner.undecided if inner.undecided == TOO_DEEP else f"{item} is undecided"


# pure functions of an item's text, asked again for every probe
@functools.lru_cache(maxsize=4096)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    addr = ipaddr.address(text)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        return addr.ipv4_mapped  # Exim converts ::ffff:a.b.c.d clients to IPv4 before matching
    return addr


@functools.lru_cache(maxsize=4096)
def _bits(text: str) -> tuple[int, int] | None:
    """(version, the address as an integer): what _in_network compares, worked out once per client."""
    addr = _address(text)
    return (addr.version, int(addr)) if addr is not None else None


class _Net(NamedTuple):
    """A network item as _in_network compares it (what ipaddress's `in` compares, without its calls)."""

    version: int
    bits: int  # the network's address
    mask: int


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
    lines = env.scope.read_lines(path)
    if lines is None:
        return None
    keys = []
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#") or line[:1].isspace():
            continue
        key = line.split(":", 1)[0].split()[0] if not line.startswith('"') else line.split('"')[1]
        keys.append(key)
    return keys


def _file_items(env: Environment, kind: str, path: str, subject: Subject) -> tuple[bool | None, str]:
    """A file named in a list: its lines are items of the list (`#` lines are comments)."""
    lines = env.scope.read_lines(path)
    if lines is None:
        return None, f"{path} is not in the snapshot"
    items = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    sub = _match_items(env, kind, _ready(kind, items), subject, ())
    return sub.result, sub.undecided


# The tests an item's form chooses. Each takes (environment, argument, subject): what _TESTS made of the item,
# and the host, domain, local part or address looked for.

def _undecided(env: Environment, why: str, subject: Subject) -> tuple[None, str]:
    return None, why


def _constant(env: Environment, result: bool, subject: Subject) -> tuple[bool, str]:
    return result, ""


def _regex(env: Environment, pattern: str, subject: str) -> tuple[bool, str]:
    return re.search(pattern, subject) is not None, ""


def _compiled_regex(env: Environment, pattern: re.Pattern, subject: str) -> tuple[bool, str]:
    return pattern.search(subject) is not None, ""


def _regex_test(pattern: str) -> tuple[Callable, Any]:
    """A regex item, compiled once; one that does not compile is searched when reached, failing as before."""
    try:
        return _compiled_regex, re.compile(pattern)
    except re.error:
        return _regex, pattern


def _equal(env: Environment, name: str, subject: str) -> tuple[bool, str]:
    return subject == name, ""


def _suffix(env: Environment, suffix: str, subject: str) -> tuple[bool, str]:
    return subject.endswith(suffix), ""


def _wildcard(pattern: str) -> tuple[Callable[[Environment, str, str], tuple[bool, str]], str]:
    """`*.example.com` matches by its end, anything else as written."""
    return (_suffix, pattern[1:]) if pattern.startswith("*") else (_equal, pattern)


def _in_file(env: Environment, argument: tuple[str, str], subject: Subject) -> tuple[bool | None, str]:
    kind, path = argument
    return _file_items(env, kind, path, subject)


def _host_test(item: str) -> tuple[Callable, Any]:
    """What tests a host list item (match_check_list with check_host)."""
    if item == "":
        return _constant, False  # matches only when no remote host is involved
    if item == "*":
        return _constant, True
    net = _network(item)
    if net is not None:
        return _in_network, _Net(net.version, int(net.network_address), int(net.netmask))
    if item == "@[]":
        return _host_is_local, None
    lookup = _lookup_kind(item)
    if lookup:
        kind, path = lookup
        if kind in ("net-iplsearch", "iplsearch", "net-lsearch", "net-iplsearch*"):
            return _host_in_file_networks, path
        return _undecided, f"{kind} lookups are not evaluated offline"
    if item.startswith("/"):
        return _in_file, ("host", item)
    if item != "@" and not re.fullmatch(r"[A-Za-z0-9._-]+", item):
        # not a plain domain name: matched against the client's own (reverse DNS) name
        return _host_name, item if item.startswith("^") else item.lower()
    return _host_named, item


def _in_network(env: Environment, net: _Net, host: Host) -> tuple[bool, str]:
    client = _bits(host.address)
    return client is not None and client[0] == net.version and client[1] & net.mask == net.bits, ""


def _host_is_local(env: Environment, argument: None, host: Host) -> tuple[bool | None, str]:
    """`@[]`: one of the host's own addresses."""
    if env.scope.local_addresses is None:
        return None, "the host's own addresses are not known"
    client = _address(host.address)
    return any(_address(a) == client for a in env.scope.local_addresses), ""


def _host_in_file_networks(env: Environment, path: str, host: Host) -> tuple[bool | None, str]:
    keys = _file_keys(env, path)
    if keys is None:
        return None, f"{path} is not in the snapshot"
    client = _address(host.address)
    for key in keys:
        knet = _network(key)
        if knet is not None and client is not None and client.version == knet.version and client in knet:
            return True, ""
    return False, ""


def _host_name(env: Environment, pattern: str, host: Host) -> tuple[bool | str, str]:
    """A pattern for the client's verified name (a regex, or a name with a leading `*`)."""
    if host.name is None:
        return "unknown", ""
    name = host.name.lower()
    if pattern.startswith("^"):
        return re.search(pattern, name) is not None, ""
    return (name.endswith(pattern[1:]) if pattern.startswith("*") else name == pattern), ""


def _host_named(env: Environment, item: str, host: Host) -> tuple[bool | str | None, str]:
    """A host name (`@`: the primary host name): the client is one of its addresses."""
    name = env.scope.primary_hostname if item == "@" else item
    if name is None:
        return None, "the primary host name is not known"
    hosts_file = env.scope.hosts_file()
    addresses = hosts_file.get(name.lower())
    if addresses is None and name.lower() == "localhost" and not hosts_file:
        _assume(env, "localhost is taken to be 127.0.0.1 and ::1 (the snapshot has no /etc/hosts)")
        addresses = ["127.0.0.1", "::1"]
    if addresses is None and not env.dns:
        return "unknown", ""  # without DNS the name is not found: Exim's "failed to find IP address"
    if addresses is None:
        return None, f"{name} would be looked up in DNS"
    client = _address(host.address)
    return any(_address(a) == client for a in addresses), ""


def _domain_test(item: str) -> tuple[Callable, Any]:
    """What tests a domain list item (match_check_list with check_string on the lower-cased domain)."""
    if item.startswith("^"):
        return _lower_regex, item
    if item == "@":
        return _domain_is_primary, None
    if item == "@[]":
        return _domain_is_local, None
    if item.startswith("@mx_"):
        return _undecided, f"{item} needs DNS"
    lookup = _lookup_kind(item)
    if lookup:
        kind, path = lookup
        if kind == "dsearch":
            return _domain_in_directory, path
        if kind in ("lsearch", "partial-lsearch", "lsearch*", "lsearch*@"):
            return _domain_in_file, (kind.startswith("partial"), path)
        return _undecided, f"{kind} lookups are not evaluated offline"
    if item.startswith("/"):
        return _in_file, ("domain", item)
    test, pattern = _wildcard(item.lower())
    return (_lower_suffix if test is _suffix else _lower_equal), pattern


def _lower_regex(env: Environment, pattern: str, domain: str) -> tuple[bool, str]:
    return re.search(pattern, domain.lower()) is not None, ""


def _lower_equal(env: Environment, name: str, domain: str) -> tuple[bool, str]:
    return domain.lower() == name, ""


def _lower_suffix(env: Environment, suffix: str, domain: str) -> tuple[bool, str]:
    return domain.lower().endswith(suffix), ""


def _domain_is_primary(env: Environment, argument: None, domain: str) -> tuple[bool, str]:
    """`@`: the primary host name."""
    domain = domain.lower()
    if env.scope.primary_hostname is None:
        _assume(env, f"the host's own name is not known: taken to differ from {domain}")
        return False, ""
    return domain == env.scope.primary_hostname.lower(), ""


def _domain_is_local(env: Environment, argument: None, domain: str) -> tuple[bool | None, str]:
    """`@[]`: an address literal of one of the host's own addresses."""
    domain = domain.lower()
    if not (domain.startswith("[") and domain.endswith("]")):
        return False, ""
    if env.scope.local_addresses is None:
        return None, "the host's own addresses are not known"
    literal = _address(domain[1:-1].removeprefix("ipv6:"))
    return any(_address(a) == literal for a in env.scope.local_addresses), ""


def _domain_in_directory(env: Environment, path: str, domain: str) -> tuple[bool | None, str]:
    entries = env.scope.directory(path)
    if entries is None:
        return None, f"{path} is not in the snapshot"
    return domain.lower() in entries, ""


def _domain_in_file(env: Environment, argument: tuple[bool, str], domain: str) -> tuple[bool | None, str]:
    """An lsearch file's keys; with `partial-`, also `*.` and any of the domain's parents."""
    partial, path = argument
    domain = domain.lower()
    keys = _file_keys(env, path)
    if keys is None:
        return None, f"{path} is not in the snapshot"
    keys = [k.lower() for k in keys]
    if domain in keys:
        return True, ""
    if partial:
        parts = domain.split(".")
        return any("*." + ".".join(parts[i:]) in keys for i in range(1, len(parts))), ""
    return False, ""


def _local_part_test(item: str) -> tuple[Callable, Any]:
    """What tests a local part list item."""
    if item.startswith("^"):
        return _regex_test(item)
    lookup = _lookup_kind(item)
    if lookup:
        kind, path = lookup
        if kind == "lsearch":
            return _local_part_in_file, path
        return _undecided, f"{kind} lookups are not evaluated offline"
    return _wildcard(item)


def _local_part_in_file(env: Environment, path: str, local_part: str) -> tuple[bool | None, str]:
    keys = _file_keys(env, path)
    if keys is None:
        return None, f"{path} is not in the snapshot"
    return local_part in keys, ""


def _address_test(item: str) -> tuple[Callable, Any]:
    """An address list item is tested as a whole for each address (its tests depend on the address's form)."""
    return _address_item, item


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
        test, pattern = _wildcard(want_local)
        local_ok = test(env, pattern, local)[0]
    if not local_ok:
        return False, ""
    if want_domain == "":
        return True, ""
    return _domain_item(env, want_domain, domain)


def _domain_item(env: Environment, item: str, domain: str) -> tuple[bool | None, str]:
    """A domain item tested once (in an address list, for the address's domain)."""
    test, argument = _domain_test(item)
    return test(env, argument, domain)


_TESTS: dict[str, Callable[[str], tuple[Callable, Any]]] = {
    "host": _host_test, "domain": _domain_test, "localpart": _local_part_test, "address": _address_test}
