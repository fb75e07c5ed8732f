"""Access tables in restriction lists: which keys smtpd looks up for a client, HELO name or
address, and what the table's answer does (check_table_result in smtpd_check.c).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from mailcfg.asciidigits import digits
from mailcfg.postfix.address import valid_address
from mailcfg.postfix.destinations import resolve_for
from mailcfg.postfix.lookup import Hit, Undecided, find_first
from mailcfg.postfix.matchlist import parent_keys, parent_style
from mailcfg.postfix.restrictions import Item, parse_value
from mailcfg.postfix.session import (
    DUNNO,
    PERMIT,
    RECIPIENT,
    REJECT,
    Defer,
    Session,
    dsn_split,
    reject,
    server_error,
)
from mailcfg.postfix.tables import parse_ref

LOOKUP_FAILURE = "451 4.3.5 Server configuration error"  # what check_access() uses when a table fails


def lookup(s: Session, item: Item, keys: Sequence[tuple[str, bool]]) -> Hit | None:
    """The first key `item`'s table answers; a table smtpd cannot open fails every lookup with 4.3.5."""
    ref = parse_ref(item.argument or "")
    if ref is None:
        s.step(f"{item.text} {item.argument}", "error", "not a table smtpd can open: every lookup fails",
               item.location)
        return Hit(LOOKUP_FAILURE, item.argument or "", keys[0][0], item.location)
    try:
        return find_first(s.view.config.table(ref), keys)
    except Undecided as exc:
        s.cannot_decide(item.text, str(exc), item.location)
    return None


def access(
    s: Session, item: Item, keys: list[tuple[str, bool]], reply_name: str, reply_class: str, def_acl: str
) -> str:
    hit = lookup(s, item, keys)
    if hit is None:
        s.step(f"{item.text} {item.argument}", "no match", f"no entry for {keys[0][0]!r}", item.location)
        return DUNNO
    return table_result(s, item, hit, reply_name, reply_class, def_acl)


def domain_access(
    s: Session, item: Item, domain: str, reply_name: str, reply_class: str, def_acl: str
) -> tuple[str, bool]:
    """check_domain_access(): the name, then its parent domains as partial keys."""
    hit = lookup(s, item, _domain_keys(domain, parent_style(s.view, "smtpd_access_maps")))
    if hit is None:
        s.step(f"{item.text} {item.argument}", "no match", f"no entry for {domain!r}", item.location)
        return DUNNO, False
    return table_result(s, item, hit, reply_name, reply_class, def_acl), True


@lru_cache(maxsize=4096)  # the same client names, HELO names and domains come back probe after probe
def _domain_keys(domain: str, parent: bool) -> tuple[tuple[str, bool], ...]:
    """check_domain_access()'s keys: the name, then (unless it is an address) its parent domains as partial
    keys; a trailing dot's empty "parent" is none."""
    if valid_address(domain.strip("[]")):
        return ((domain, False),)
    return ((domain, False), *(k for k in parent_keys(domain, parent)[1:] if (k[0] if parent else k[0][1:])))


@lru_cache(maxsize=4096)
def _parent_domains(domain: str, parent: bool) -> tuple[tuple[str, bool], ...]:
    """An address's domain and its parents, as the partial keys check_mail_access() asks with."""
    return tuple((k, True) for k, _ in parent_keys(domain, parent))


def mail_access(s: Session, item: Item, addr: str, reply_class: str, def_acl: str) -> str:
    """check_mail_access(): full address, domain and parents, then `user@`, on the resolved address."""
    resolved = resolve_for(s, addr)
    full = resolved.recipient
    at = full.rfind("@")
    if at < 0:
        return DUNNO
    # the address, then its domain and the parents as partial keys, then `user@`
    domains = _parent_domains(full[at + 1 :], parent_style(s.view, "smtpd_access_maps"))
    hit = lookup(s, item, [(full, False), *domains, (full[: at + 1], True)])
    if hit is None:
        s.step(f"{item.text} {item.argument}", "no match", f"no entry for <{full}>", item.location)
        return DUNNO
    status = table_result(s, item, hit, addr, reply_class, def_acl)
    if status == PERMIT and reply_class == RECIPIENT and resolved.routed and not s.view.yes("allow_untrusted_routing"):
        s.step(
            item.text,
            "no decision",
            "OK ignored: the recipient has sender-specified routing (allow_untrusted_routing = no)",
            item.location,
        )
        return DUNNO
    return status


def table_result(s: Session, item: Item, hit: Hit, reply_name: str, reply_class: str, def_acl: str) -> str:
    """check_table_result(): what an access table's answer does."""
    value = hit.value.strip()
    word, _, text = value.partition(" ")
    text = text.strip()
    upper = word.upper()
    where = hit.location or item.location
    what = f"{item.text} {item.argument}"
    note = f"{hit.key!r} -> {value!r}"
    if upper == "DUNNO" or upper in ("INFO", "WARN", "FILTER", "HOLD", "REDIRECT", "BCC", "PREPEND", "DELAY"):
        s.step(what, "no decision", note, where)
        return DUNNO
    if upper == "DISCARD":
        s.step(what, "permit", note + " (the message is accepted and discarded)", where)
        return PERMIT
    if upper == "HANGUP":
        s.step(what, "hangup", note, where)
        s.reply = "421 4.7.0 connection dropped"
        return REJECT
    if upper in ("REJECT", "DEFER"):
        s.step(what, upper.lower(), note, where)
        dsn, rest = dsn_split(text, "5.7.1" if upper == "REJECT" else "4.7.1")
        code = s.code("access_map_reject_code" if upper == "REJECT" else "access_map_defer_code")
        return reject(s, code, dsn, f"<{reply_name}>: {reply_class} rejected: {rest or 'Access denied'}")
    if upper in ("DEFER_IF_PERMIT", "DEFER_IF_REJECT"):
        dsn, rest = dsn_split(text, "4.7.1")
        text = f"<{reply_name}>: {reply_class} rejected: {rest or 'Service unavailable'}"
        defer = Defer(s.code("access_map_defer_code"), dsn, text)
        s.step(what, "armed", note, where)
        if upper == "DEFER_IF_PERMIT":
            if s.warn_if_reject:
                return reject(s, defer.code, defer.dsn, defer.text)
            s.defer_if_permit = s.defer_if_permit or defer
        else:
            s.defer_if_reject = s.defer_if_reject or defer
        return DUNNO
    if digits(value):
        s.step(what, "permit", note + " (a number means OK)", where, hit.pattern)
        return PERMIT
    if len(word) == 3 and word[0] in "45" and digits(word[1:]) and text:
        s.step(what, "reject" if word[0] == "5" else "defer", note, where)
        dsn, rest = dsn_split(text, word[0] + ".7.1")
        return reject(s, int(word), dsn, f"<{reply_name}>: {reply_class} rejected: {rest}")
    if upper in ("OK", "RELAY"):
        s.step(what, "permit", note, where, hit.pattern)
        return PERMIT
    if ":" in value:
        server_error(s, f"access table result {value!r} names a lookup table", where)
    if s.recursion > 100:
        server_error(s, "access table results recurse too deep", where)
    items = parse_value(s.view, value)
    if not items:
        s.step(what, "permit", note + " (an empty result means OK)", where, hit.pattern)
        return PERMIT
    s.step(what, "restrictions", note + ": the result is a restriction list", where)
    located = [Item(i.text, i.kind, where, i.argument, i.restriction, i.missing_argument) for i in items]
    # a class named again through a table result is no loop of classes: the recursion limit above ends it
    outer, s.classes = s.classes, ()
    try:
        return s.evaluate(s, located, reply_name, reply_class, def_acl)
    finally:
        s.classes = outer
