"""What trivial-rewrite makes of a recipient: the rewritten address, its domain and address class.

Follows resolve_addr() in src/trivial-rewrite/resolve.c: a local domain is stripped and the rest
re-resolved, so `user%other@local`, `other!user@local` and `"user@other"@local` end up as
`user@other`; an address whose local part still routes elsewhere is flagged ROUTED, which
permit_auth_destination refuses unless allow_untrusted_routing = yes.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass, field
from typing import NamedTuple

from mailcfg.findings import Location
from mailcfg.postfix.effective import ParameterView
from mailcfg.postfix.matchlist import match_domains, match_strings

OPERATORS = '|%!()<>@,;:\\.[]'


class Tok(NamedTuple):
    kind: str  # "atom", "qstring", "domlit", or the operator character itself
    text: str  # for qstring: the unquoted content


@dataclass
class Resolved:
    """What trivial-rewrite makes of an address: its form, domain and address class."""

    recipient: str  # internal form after rewriting
    domain: str
    klass: str  # local, alias, virtual, relay, default
    routed: bool = False
    error: bool = False  # trivial-rewrite flags the address as bad syntax
    reason: str = ""  # which setting put the domain in its class
    location: Location | None = None
    notes: tuple[str, ...] = ()  # a tuple: most have none, and every one is kept


# One token a match (tok_822 in the scanner's terms): blanks between tokens; a quoted string (a backslash
# takes the next character; unclosed: to the end); a domain literal to its `]` (or the end); an operator;
# an atom (anything else, up to an operator, a quote or a blank).
_TOKENS = re.compile(r'\s+|"((?:[^"\\]|\\.)*)(\\?)"?|(\[[^\]]*\]?)|([|%!()<>@,;:\\.\]])|([^|%!()<>@,;:\\.\[\]"\s]+)',
                     re.S)
_ESCAPED = re.compile(r"\\(.)", re.S)


def scan(text: str) -> list[Tok]:
    return list(_scanned(text))


@functools.lru_cache(maxsize=4096)  # the same addresses and domains are scanned probe after probe
def _scanned(text: str) -> tuple[Tok, ...]:
    toks: list[Tok] = []
    for m in _TOKENS.finditer(text):
        quoted, lone_backslash, domlit, operator, atom = m.groups()
        if atom:
            toks.append(Tok("atom", atom))
        elif operator:
            toks.append(Tok(operator, operator))
        elif domlit:
            toks.append(Tok("domlit", domlit))
        elif quoted is not None:
            toks.append(Tok("qstring", (_ESCAPED.sub(r"\1", quoted) if "\\" in quoted else quoted) + lone_backslash))
    return tuple(toks)


# A dot-atom local part and a domain of two or more plain labels: scanning and rewriting leave such
# an address as it is (no blanks, quotes, route, bang path or % to take apart, and a dot already in the domain).
_PLAIN = re.compile(r"[A-Za-z0-9_+=-]+(?:\.[A-Za-z0-9_+=-]+)*@[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+")


def internalize(toks: list[Tok]) -> str:
    return "".join([t.text for t in toks])


_SPECIAL = re.compile(r'[ ()<>@,;:\\"\[\]\x00-\x1f]')  # what a dot-string cannot hold: specials, blanks, controls


def _dot_string(local: str) -> bool:
    if not local or local[0] == "." or local[-1] == "." or ".." in local:
        return False
    return _SPECIAL.search(local) is None


@functools.lru_cache(maxsize=4096)  # the same addresses come back probe after probe
def quote_local(addr: str) -> str:
    """quote_822_local: the external form, quoting a local part that is not a dot-string."""
    at = addr.rfind("@")
    local, rest = (addr[:at], addr[at:]) if at >= 0 else (addr, "")
    if _dot_string(local) or not local:
        return addr
    return '"' + local.replace("\\", "\\\\").replace('"', '\\"') + '"' + rest


@functools.lru_cache(maxsize=4096)  # the same senders and recipients come back probe after probe
def internal_form(text: str) -> str:
    """What smtpd keeps of a MAIL/RCPT argument: no <>, no source route, quotes removed."""
    text = text.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    if text.startswith("@") and ":" in text:
        text = text.split(":", 1)[1]
    return text if _PLAIN.fullmatch(text) else internalize(scan(text))


def _rfind(toks: list[Tok], kind: str) -> int:
    for i in range(len(toks) - 1, -1, -1):
        if toks[i].kind == kind:
            return i
    return -1


def _rewrite(view: ParameterView, toks: list[Tok]) -> list[Tok]:
    """rewrite_tree() in the local context: routes, bang paths, % hack, @myorigin, .mydomain."""
    if toks and toks[0].kind == "@":
        colon = next((i for i, t in enumerate(toks) if t.kind == ":"), -1)
        if 0 <= colon < len(toks) - 1:
            toks = toks[colon + 1:]
    if _rfind(toks, "@") < 0:
        bang = next((i for i, t in enumerate(toks) if t.kind == "!"), -1)
        percent = _rfind(toks, "%")
        if view.yes("swap_bangpath") and bang >= 0:
            toks = [*toks[bang + 1:], Tok("@", "@"), *toks[:bang]]
        elif view.yes("allow_percent_hack") and percent >= 0:
            toks = [*toks[:percent], Tok("@", "@"), *toks[percent + 1:]]
        elif view.yes("append_at_myorigin") and myorigin(view):
            toks = [*toks, Tok("@", "@"), *scan(myorigin(view))]
    at = _rfind(toks, "@")
    if view.yes("append_dot_mydomain") and view.get("mydomain") and 0 <= at < len(toks) - 1:
        domain = toks[at + 1:]
        if not any(t.kind in ("domlit", ".") for t in domain):
            toks = [*toks, Tok(".", "."), *scan(view.get("mydomain"))]
    if len(toks) > 1 and toks[-1].kind == "." and toks[-2].kind not in (".", "@"):
        toks = toks[:-1]
    return toks


def myorigin(view: ParameterView) -> str:
    """$myorigin. Debian's Postfix reads a value that is an absolute path from that file (Debian's own
    main.cf has `myorigin = /etc/mailname`): its first line, when the snapshot holds the file."""
    value = view.get("myorigin")
    if not value.startswith("/"):
        return value
    cache = view.memo["myorigin"]
    if value not in cache:
        path = view.config.snapshot.resolve(value)
        try:
            lines = path.read_text(errors="replace").split() if path is not None else []
        except OSError:
            lines = []
        cache[value] = lines[0] if lines else value
    return cache[value]


def own_addresses(view: ParameterView) -> list[str]:
    """Addresses smtpd counts as its own for `[ip]` literals: inet_interfaces plus proxy_interfaces."""
    found = view.memo.get("own-addresses")
    if found is None:  # asked for every address literal
        addrs = _own_addresses(view)
        found = view.memo["own-addresses"] = {"text": addrs, "parsed": {ipaddress.ip_address(a) for a in addrs}}
    return list(found["text"])


def _own_parsed(view: ParameterView) -> set:
    own_addresses(view)
    return view.memo["own-addresses"]["parsed"]


def _own_addresses(view: ParameterView) -> list[str]:
    addrs = [i.address for i in view.listen_addresses()]
    for item in view.items("proxy_interfaces"):
        try:
            addrs.append(str(ipaddress.ip_address(item.strip("[]"))))
        except ValueError:
            continue
    return addrs


def is_local(view: ParameterView, domain: str) -> tuple[bool, str, Location | None]:
    """resolve_local(): mydestination (exact names), or a literal of one of our own addresses."""
    name = without_final_dot(domain)
    if not name or name.endswith("."):
        return False, "", None
    m = match_strings(view, "mydestination", name)
    if m.matched:
        return True, f"listed in mydestination ({m.pattern})", m.location
    if name.startswith("[") and name.endswith("]"):
        addr = address_of(name[1:-1])
        if addr is None:
            return False, "", None
        if addr in _own_parsed(view):
            return True, f"[{addr}] is one of this host's addresses (inet_interfaces/proxy_interfaces)", \
                view.location("inet_interfaces")
    return False, "", None


def without_final_dot(name: str) -> str:
    """A name ending in one dot without it (smtpd's dup_if_truncate); `a..` stays as it is."""
    return name[:-1] if len(name) > 1 and name.endswith(".") and not name.endswith("..") else name


@functools.lru_cache(maxsize=4096)  # the same names come back probe after probe
def valid_hostname(name: str) -> bool:
    if not name or len(name) > 255 or re.fullmatch(r"[0-9.]+", name):
        return False
    labels = name.split(".")
    return all(label and len(label) <= 63 and re.fullmatch(r"[A-Za-z0-9_-]+", label)
               and not label.startswith("-") and not label.endswith("-") for label in labels)


@functools.lru_cache(maxsize=4096)
def address_of(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a literal's inside (`1.2.3.4`, `IPv6:2001:db8::1`) names, or None."""
    try:
        return ipaddress.ip_address(text[5:] if text.lower().startswith("ipv6:") else text)
    except ValueError:
        return None


def valid_literal(name: str) -> bool:
    return address_of(name[1:-1]) is not None


def valid_address(text: str) -> bool:
    return address_of(text) is not None


# What trivial-rewrite's answer reads of the settings (tests/test_resolve_shared.py keeps this list whole):
# services whose values and places for all of them are the same share their resolutions (a master.cf `-o`
# rarely touches these, and the open-relay search resolves the same recipients for every service).
REWRITE_PARAMS = ("swap_bangpath", "allow_percent_hack", "append_at_myorigin", "myorigin", "append_dot_mydomain",
                  "mydomain", "myhostname", "resolve_null_domain", "resolve_dequoted_address",
                  "resolve_numeric_domain", "empty_address_recipient", "mydestination", "inet_interfaces",
                  "inet_protocols", "proxy_interfaces", "virtual_alias_domains", "virtual_mailbox_domains",
                  "relay_domains", "parent_domain_matches_subdomains")


@dataclass
class _Resolutions:
    """trivial-rewrite's answers for one set of REWRITE_PARAMS values: by address, and for plain addresses
    (`_PLAIN`) by domain, as a plain address resolves the way every other plain address of its domain does
    (made from its domain's when asked, not kept: a long run of new senders and recipients would keep one
    answer for each, and every full garbage collection would walk them)."""

    addresses: dict[str, Resolved] = field(default_factory=dict)
    plain_domains: dict[str, Resolved] = field(default_factory=dict)


def resolve(view: ParameterView, address: str) -> Resolved:
    """Resolve `address` as trivial-rewrite does for smtpd (remembered for every view with the same settings)."""
    known = view.memo.get("resolve")
    if known is None:
        settings = tuple((view.get(name), view.location(name)) for name in REWRITE_PARAMS)
        known = view.memo["resolve"] = view.config.remember(("resolve", settings), _Resolutions)
    found = known.addresses.get(address)
    if found is None:
        if _PLAIN.fullmatch(address):
            return _resolve_plain(view, address, known)
        found = known.addresses[address] = _resolve(view, address)
    return found


def _resolve_plain(view: ParameterView, address: str, known: _Resolutions) -> Resolved:
    """A plain address's resolution: its domain's (a dot-atom local part routes nowhere and is left as it
    is), with the address in it; the domain's own where it was worked out for this address. Worked out in
    full, and kept, where a numeric domain turns into a literal: the note saying so names the address."""
    domain = address[address.rfind("@") + 1:]
    found = known.plain_domains.get(domain)
    if found is None:
        found = known.plain_domains[domain] = _resolve(view, address)
    if found.notes:  # a numeric domain: each address its own answer
        found = known.addresses[address] = found if found.recipient == address else _resolve(view, address)
    elif found.recipient != address:
        found = Resolved(address, found.domain, found.klass, found.routed, found.error, found.reason, found.location)
    return found


def _plain_rewritten(view: ParameterView, address: str) -> tuple[str, bool, tuple[str, Location | None] | None]:
    """What `_rewritten` makes of a plain address, without taking it apart: itself, its domain kept
    unless the domain is local."""
    local, why, where = is_local(view, address[address.rfind("@") + 1:])
    return address, not local, (why, where) if local else None


def _rewritten(view: ParameterView, address: str) -> tuple[str, bool, tuple[str, Location | None] | None]:
    """resolve_addr()'s loop: the address after rewriting, whether its domain is kept (not local), and
    why a local domain is local."""
    toks = scan(quote_local(internalize(_rewrite(view, scan(quote_local(address))))))
    saved: list[Tok] | None = None
    local_hit: tuple[str, Location | None] | None = None
    domain_kept = True
    for _ in range(len(address) + 100):
        if len(toks) > 1 and toks[-1].kind == "." and _rfind(toks, "@") >= 0 and toks[-2].kind not in (".", "@"):
            toks = toks[:-1]
        if view.yes("resolve_null_domain") and toks and toks[-1].kind == "@":
            toks = toks[:-1]
        at = _rfind(toks, "@")
        if at >= 0:
            if at < len(toks) - 1:
                local, why, where = is_local(view, internalize(toks[at + 1:]))
                if not local:
                    break
                local_hit = (why, where)
            saved = toks[at:]
            toks = toks[:at]
        if _rfind(toks, "@") >= 0 or (view.yes("swap_bangpath") and _rfind(toks, "!") >= 0) \
                or (view.yes("allow_percent_hack") and _rfind(toks, "%") >= 0):
            toks = _rewrite(view, toks)
            continue
        if len(toks) == 1 and toks[0].kind == "qstring":
            inner = toks[0].text
            oper = next((c for c, on in (("@", True), ("%", view.yes("allow_percent_hack")),
                                         ("!", view.yes("swap_bangpath"))) if on and c in inner), None)
            if view.yes("resolve_dequoted_address") and oper is not None:
                toks = _rewrite(view, scan(quote_local(inner) if oper == "@" else inner))
                continue
            if not inner:
                toks = []
        if not toks:
            toks = scan(view.get("empty_address_recipient") or "MAILER-DAEMON")
            continue
        if saved is None:
            toks = [*toks, Tok("@", "@"), *scan(view.get("myhostname"))]
            continue
        domain_kept = False
        break
    if not domain_kept:
        toks = toks + (saved or [])
    return internalize(toks), domain_kept, local_hit


def _resolve(view: ParameterView, address: str) -> Resolved:
    """The resolution of `address` (internal form).

    smtpd first has the address rewritten in the local context (smtpd_resolve.c), which appends
    .$mydomain to a dotless domain when append_dot_mydomain = yes, then resolves the result.
    """
    rewritten = _plain_rewritten if _PLAIN.fullmatch(address) else _rewritten
    recipient, domain_kept, local_hit = rewritten(view, address)
    domain = recipient[recipient.rfind("@") + 1:]
    result = Resolved(recipient, domain, "default")
    if domain_kept:
        error = not (valid_literal(domain) if domain.startswith("[") else valid_hostname(domain))
        if error and view.yes("resolve_numeric_domain"):
            try:
                ipaddress.ip_address(domain)
                result.recipient = recipient[:len(recipient) - len(domain)] + f"[{domain}]"
                result.domain = domain = f"[{domain}]"
                error = False
                local, why, where = is_local(view, domain)
                if local:
                    domain_kept, local_hit = False, (why, where)
            except ValueError:
                pass
        if error:
            result.error = True
            result.reason = f"{domain!r} is not a valid domain name"
            return result
    first = re.search(r"[@!%]", result.recipient)
    if first is not None and result.recipient[first.start() + 1:] != result.domain:
        result.routed = True
    if not domain_kept:
        result.klass = "local"
        result.reason, result.location = local_hit or ("", None)
        return _note_rewrite(result, address)
    for klass, param in (("alias", "virtual_alias_domains"), ("virtual", "virtual_mailbox_domains")):
        m = match_strings(view, param, domain)
        if m.matched:
            result.klass, result.reason, result.location = klass, f"listed in {param} ({m.pattern})", m.location
            return _note_rewrite(result, address)
    m = match_domains(view, "relay_domains", domain)
    if m.matched:
        result.klass, result.reason, result.location = "relay", f"matches relay_domains ({m.pattern})", m.location
    else:
        result.reason = "in no mydestination, virtual or relay_domains list"
    return _note_rewrite(result, address)


def _note_rewrite(result: Resolved, address: str) -> Resolved:
    if result.recipient.lower() != address.lower():
        result.notes += (f"trivial-rewrite turns <{address}> into <{result.recipient}>",)
    if result.routed:
        result.notes += ("the local part still routes elsewhere (sender-specified routing)",)
    return result
