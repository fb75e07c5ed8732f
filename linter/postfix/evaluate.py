"""One restriction list, item by item (generic_checks in smtpd_check.c), and what each
restriction does. A PERMIT, REJECT or DEFER ends the list; anything needing DNS or an external
service is recorded as undecided and does not match.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple, NoReturn

from mailcfg.postfix.access import access, domain_access, mail_access
from mailcfg.postfix.address import own_addresses, valid_address, valid_hostname, without_final_dot
from mailcfg.postfix.clientfacts import client_keys
from mailcfg.postfix.destinations import authorized, resolve_for, same_address, unlisted
from mailcfg.postfix.effective import ParameterView
from mailcfg.postfix.known import restrictions
from mailcfg.postfix.lookup import Undecided, find_first
from mailcfg.postfix.matchlist import match_domains, match_hosts
from mailcfg.postfix.restrictions import Item, parse, parse_value
from mailcfg.postfix.session import (
    CLIENT,
    DUNNO,
    HELO,
    RECIPIENT,
    REVERSE_CLIENT,
    SASL_LOGIN,
    SENDER,
    Crash,
    Defer,
    Session,
    permit,
    refuse,
    reject,
    server_error,
)
from mailcfg.postfix.tables import parse_ref
from mailcfg.postfix.tls import tls_mode
from mailcfg.postfix.tokens import split_list

# restriction lists inside lists (classes, access-table results) followed this deep: smtpd has no
# limit for classes, but the analysis's own stack is finite (about four frames a level)
MAX_NESTING = 180
DNS_CHECKS = (
    "reject_unknown_helo_hostname",
    "reject_unknown_hostname",
    "reject_unknown_sender_domain",
    "reject_unknown_address",
    "reject_unverified_sender",
    "reject_unverified_recipient",
    "reject_maps_rbl",
)


Handler = Callable[[Session, Item, bool, str, str, str], str]


class Ready(NamedTuple):
    """One item of a restriction list made ready to run on a view: everything about it that holds for
    every transaction (its handler, an implicit table check's item, a configuration error) decided once."""

    run: Handler | None  # None: warn_if_reject, which arms the next item
    item: Item
    more: bool  # items follow it in its list


def program(view: ParameterView, items: list[Item], def_acl: str) -> tuple[Ready, ...]:
    """`items` ready to run on `view`, in a list whose bare `type:table` items mean `def_acl`."""
    classes = view.memo.get("classes")
    if classes is None:
        classes = view.memo["classes"] = set(view.items("smtpd_restriction_classes"))
    last = len(items) - 1
    return tuple(Ready(*_ready(view, item, def_acl, classes), index < last) for index, item in enumerate(items))


def class_program(view: ParameterView, name: str, def_acl: str) -> tuple[Ready, ...]:
    """The list of restriction class (or list parameter) `name`, ready to run; kept per view."""
    return _kept(view, name, def_acl, lambda: parse(view, name))


def _kept(view: ParameterView, key: str, def_acl: str, items: Callable[[], list[Item]]) -> tuple[Ready, ...]:
    """The program of `items()`, made once per view, key and implicit access check."""
    programs = view.memo["programs"]
    found = programs.get((key, def_acl))
    if found is None:
        found = programs[(key, def_acl)] = program(view, items(), def_acl)
    return found


def _ready(view: ParameterView, item: Item, def_acl: str, classes: set[str]) -> tuple[Handler | None, Item]:
    """What runs `item` (generic_checks' tests, in its order), and the item it runs."""
    if item.name == "warn_if_reject":
        return None, item
    if item.kind == "table":  # the list's implicit access check
        item = Item(def_acl, "restriction", item.location, item.text, restrictions()[def_acl])
    info = item.restriction
    version = view.config.version
    if item.kind == "class" and item.text in classes:
        return _class, item
    if info is None or (info.since is not None and version < info.since):
        return partial(_fails, f"unknown smtpd restriction {item.text!r}"), item
    if info.removed is not None and version >= info.removed:
        return partial(_fails, f"support for restriction {item.text!r} has been removed in Postfix "
                               f"{info.removed[0]}.{info.removed[1]}"), item
    if item.missing_argument:
        return partial(_fails, f"{item.text} needs an argument"), item
    handler = _HANDLERS.get(item.name)
    if handler is not None:
        return handler, item
    if info.kind in ("dnsbl", "policy") or item.name in DNS_CHECKS:
        return _undecidable, item
    return _no_effect, item


def run_items(s: Session, items: list[Item], reply_name: str, reply_class: str, def_acl: str) -> str:
    """A restriction list written out (an access table's result) run here."""
    return generic(s, program(s.view, items, def_acl), reply_name, reply_class, def_acl)


def generic(s: Session, program: tuple[Ready, ...], reply_name: str, reply_class: str, def_acl: str) -> str:
    """generic_checks(): the program's items left to right until one permits, rejects or defers (its
    status), or both defer_if_permit and defer_if_reject are armed."""
    saved_recursion = s.recursion
    s.recursion += 1
    status = DUNNO
    for run, item, more in program:
        if run is None:
            if not s.warn_if_reject:
                s.warn_if_reject = s.recursion
            s.step("warn_if_reject", "armed", "the next rejection only logs a warning", item.location)
            continue
        status = run(s, item, more, reply_name, reply_class, def_acl)
        if s.warn_if_reject >= s.recursion:
            s.warn_if_reject = 0
        if status != DUNNO:
            break
        if s.defer_if_permit is not None and s.defer_if_reject is not None:
            break
    s.recursion = saved_recursion
    if s.warn_if_reject >= s.recursion:
        s.warn_if_reject = 0
    return status


def _fails(why: str, s: Session, item: Item, more: bool, reply_name: str, reply_class: str, def_acl: str) -> NoReturn:
    """An item smtpd cannot run: a configuration error (451 4.3.5)."""
    server_error(s, why, item.location)


def _cannot_decide(why: str, s: Session, item: Item, more: bool, reply_name: str, reply_class: str,
                   def_acl: str) -> str:
    """An item whose answer depends on what cannot be known offline: the decision is undecided, not passed."""
    s.cannot_decide(item.text, why, item.location)
    return DUNNO


_undecidable = partial(_cannot_decide, "needs DNS or an external service")
_dns_access = partial(_cannot_decide, "looks up DNS records (MX, NS or A)")


def _no_effect(s, item, more, reply_name, reply_class, def_acl):
    s.step(item.text, "no decision", "has no effect on this transaction", item.location)
    return DUNNO


def _class(s, item, more, reply_name, reply_class, def_acl):
    """A restriction class: its list runs here. smtpd has no loop check (generic_checks calls itself),
    so a class reached again inside its own list recurses until smtpd's stack overflows."""
    if item.text in s.classes:
        loop = " -> ".join([*s.classes[s.classes.index(item.text):], item.text])
        s.step(item.text, "crash", f"restriction class loop ({loop}): smtpd recurses until its stack overflows and "
               "dies (signal 11); the client sees the connection close", item.location)
        raise Crash(s)
    if s.recursion >= MAX_NESTING:
        s.cannot_decide(item.text, f"restriction lists nested more than {MAX_NESTING} deep (classes and access-table "
                        "results) are not followed", item.location)
        return DUNNO
    s.step(item.text, "class", "restriction class: its list runs here", item.location)
    outer, s.classes = s.classes, (*s.classes, item.text)
    try:
        return generic(s, class_program(s.view, item.text, def_acl), reply_name, reply_class, def_acl)
    finally:
        s.classes = outer


_BOTH_MISMATCHES = "reject_authenticated_sender_login_mismatch reject_unauthenticated_sender_login_mismatch"


def _r_sender_login_mismatch(s, item, more, reply_name, reply_class, def_acl):
    """Both of the login-mismatch checks it stands for."""
    # kept under a key no restriction class can have (a name with a blank)
    both = _kept(s.view, " login mismatch", def_acl, lambda: parse_value(s.view, _BOTH_MISMATCHES))
    return generic(s, both, reply_name, reply_class, def_acl)


def _r_permit(s, item, more, reply_name, reply_class, def_acl):
    return permit(s, item, "permits unconditionally" + ("; what follows is ignored" if more else ""))


def _r_reject(s, item, more, reply_name, reply_class, def_acl):
    return refuse(s, item, "rejects unconditionally", s.code("reject_code"), "5.7.1",
                  f"<{reply_name}>: {reply_class} rejected: Access denied")


def _r_defer(s, item, more, reply_name, reply_class, def_acl):
    return refuse(s, item, "defers unconditionally", s.code("defer_code"), "4.3.2",
                  f"<{reply_name}>: {reply_class} rejected: Try again later", result="defer")


def _r_defer_if_permit(s, item, more, reply_name, reply_class, def_acl):
    text = f"<{reply_name}>: {reply_class} rejected: defer_if_permit requested"
    if s.warn_if_reject:
        return reject(s, 450, "4.7.0", text)
    s.step(item.text, "armed", "a later permission becomes a 450 deferral", item.location)
    if s.defer_if_permit is None:
        s.defer_if_permit = Defer(450, "4.7.0", text)
    return DUNNO


def _r_defer_if_reject(s, item, more, reply_name, reply_class, def_acl):
    s.step(item.text, "armed", "a later 5xx rejection becomes a 450 deferral", item.location)
    if s.defer_if_reject is None:
        s.defer_if_reject = Defer(450, "4.7.0", f"<{reply_name}>: {reply_class} rejected: defer_if_reject requested")
    return DUNNO


def _r_mynetworks(s, item, more, reply_name, reply_class, def_acl):
    view = s.view
    try:
        m = match_hosts(view, "mynetworks", s.probe.client_name, s.probe.client)
    except Undecided as exc:
        s.cannot_decide(item.text, str(exc), item.location)
        return DUNNO
    networks = " ".join(view.get("mynetworks").split())
    if m.matched:
        return permit(
            s,
            item,
            f"client {s.probe.client} matches mynetworks ({m.pattern}; mynetworks = {networks})",
            item.location,
            m.pattern,
        )
    s.step(item.text, "no match", f"client {s.probe.client} is not in mynetworks ({networks})", item.location)
    return DUNNO


def _r_inet_interfaces(s, item, more, reply_name, reply_class, def_acl):
    if same_address(s.probe.client, own_addresses(s.view)):
        return permit(s, item, "the client uses one of this host's own addresses")
    s.step(item.text, "no match", "the client is not one of this host's addresses", item.location)
    return DUNNO


def _r_sasl(s, item, more, reply_name, reply_class, def_acl):
    if s.authenticated:
        return permit(s, item, f"the client is authenticated as {s.probe.sasl_user!r}")
    why = (
        "the client is not authenticated"
        if s.probe.sasl_user is None
        else "the login did not happen on this service (see AUTH above)"
    )
    s.step(item.text, "no match", why, item.location)
    return DUNNO


def _r_no_client_cert(s, item, more, reply_name, reply_class, def_acl):
    s.step(item.text, "no match", "the client presents no certificate", item.location)
    return DUNNO


def _r_auth_destination(s, item, more, reply_name, reply_class, def_acl):
    if s.recipient is None:
        return DUNNO
    ok, why, where = authorized(s)
    if ok:
        return permit(s, item, why, where)
    s.step(item.text, "no match", why, item.location)
    return DUNNO


def _r_unauth_destination(s, item, more, reply_name, reply_class, def_acl):
    if s.recipient is None:
        return DUNNO
    ok, why, where = authorized(s)
    if ok:
        s.step(item.text, "no match", why, where)
        return DUNNO
    defer = item.name == "defer_unauth_destination"
    s.step(item.text, "defer" if defer else "reject", why, item.location)
    code = s.code("relay_domains_reject_code") - (100 if defer else 0)
    return reject(s, code, "4.7.1" if defer else "5.7.1", f"<{s.recipient}>: Relay access denied")


def _r_relay_domains(s, item, more, reply_name, reply_class, def_acl):
    if s.recipient is None:
        return DUNNO
    try:
        if s.probe.client_name and match_domains(s.view, "relay_domains", s.probe.client_name).matched:
            return permit(s, item, "the client's name matches relay_domains")
    except Undecided as exc:
        s.cannot_decide(item.text, str(exc), item.location)
    ok, why, where = authorized(s)
    if ok:
        return permit(s, item, why, where)
    return refuse(s, item, why, s.code("relay_domains_reject_code"), "5.7.1",
                  f"<{s.recipient}>: {RECIPIENT} rejected: Relay access denied")


def _r_mx_backup(s, item, more, reply_name, reply_class, def_acl):
    if s.recipient is None:
        return DUNNO
    ok, why, where = authorized(s)
    if ok:
        return permit(s, item, why, where)
    s.cannot_decide(item.text, "whether this host is a backup MX for the domain needs DNS", item.location)
    return DUNNO


def _r_unlisted_recipient(s, item, more, reply_name, reply_class, def_acl):
    if not s.recipient or s.rcptmap_checked:
        return DUNNO
    return unlisted(s, item.text)


def _r_plaintext(s, item, more, reply_name, reply_class, def_acl):
    if s.probe.tls or tls_mode(s.view) == "wrapper":
        s.step(item.text, "no match", "the session is encrypted", item.location)
        return DUNNO
    return refuse(s, item, "the session is not encrypted", s.code("plaintext_reject_code"), "4.7.1",
                  "Session encryption is required")


def _r_unknown_client(s, item, more, reply_name, reply_class, def_acl):
    if s.probe.client_name:
        s.step(item.text, "no match", f"the client has the name {s.probe.client_name}", item.location)
        return DUNNO
    return refuse(
        s,
        item,
        "the client has no reverse DNS name (the probe gives none)",
        s.code("unknown_client_reject_code"),
        "4.7.25",
        f"Client host rejected: cannot find your hostname, [{s.probe.client}]",
    )


def _helo_form(s, item, more, reply_name, reply_class, def_acl):
    helo = s.helo
    if helo is None:
        return DUNNO
    name = without_final_dot(helo)
    if helo.startswith("["):
        ok = valid_address(helo[1:-1] if helo.endswith("]") else helo)
        text, code = "invalid ip address", "invalid_hostname_reject_code"
    elif item.name in ("reject_invalid_helo_hostname", "reject_invalid_hostname"):
        ok = valid_hostname(name) or valid_address(name)
        text, code = "Invalid name", "invalid_hostname_reject_code"
    elif item.name in ("reject_non_fqdn_helo_hostname", "reject_non_fqdn_hostname"):
        ok = valid_hostname(name) and "." in name
        text, code = "need fully-qualified hostname", "non_fqdn_reject_code"
    else:
        s.cannot_decide(item.text, "needs DNS", item.location)
        return DUNNO
    if ok:
        s.step(item.text, "no match", f"HELO {helo!r} passes", item.location)
        return DUNNO
    return refuse(s, item, f"HELO {helo!r} fails this check", s.code(code), "5.5.2",
                  f"<{helo}>: {HELO} rejected: {text}")


def _non_fqdn_address(s, item, more, reply_name, reply_class, def_acl):
    is_sender = item.name == "reject_non_fqdn_sender"
    addr = s.sender if is_sender else s.recipient
    if not addr:
        return DUNNO
    domain = addr[addr.rfind("@") + 1 :] if "@" in addr else ""
    if domain.startswith("[") and domain.endswith("]"):
        return DUNNO
    test = without_final_dot(domain)
    if test and valid_hostname(test) and "." in test:
        s.step(item.text, "no match", f"<{addr}> has a fully-qualified domain", item.location)
        return DUNNO
    return refuse(
        s,
        item,
        f"<{addr}> has no fully-qualified domain",
        s.code("non_fqdn_reject_code"),
        "4.5.2",
        f"<{addr}>: {SENDER if is_sender else RECIPIENT} rejected: need fully-qualified address",
    )


def _login_mismatch(s, item, more, reply_name, reply_class, def_acl):
    view = s.view
    if not view.yes("smtpd_sasl_auth_enable"):
        s.step(item.text, "ignored", "no SASL on this service: smtpd ignores it with a warning", item.location)
        return DUNNO
    if not s.sender:
        return DUNNO
    name = item.name
    if name == "reject_known_sender_login_mismatch":
        name = (
            "reject_authenticated_sender_login_mismatch"
            if s.authenticated
            else "reject_unauthenticated_sender_login_mismatch"
        )
    if name == "reject_authenticated_sender_login_mismatch" and not s.authenticated:
        return DUNNO
    owners = _sender_owners(s, item)
    if owners is None:
        return DUNNO
    if name == "reject_authenticated_sender_login_mismatch":
        if owners and s.probe.sasl_user and s.probe.sasl_user.lower() in owners:
            s.step(item.text, "no match", f"{s.probe.sasl_user!r} owns <{s.sender}>", item.location)
            return DUNNO
        if not owners and item.name == "reject_known_sender_login_mismatch":
            return DUNNO
        return refuse(s, item, f"<{s.sender}> is not owned by {s.probe.sasl_user!r}", 553, "5.7.1",
                      f"<{s.sender}>: {SENDER} rejected: not owned by user {s.probe.sasl_user}")
    if s.authenticated or not owners:
        return DUNNO
    return refuse(s, item, f"<{s.sender}> belongs to a login and the client is not logged in", 553, "5.7.1",
                  f"<{s.sender}>: {SENDER} rejected: not logged in")


def _sender_owners(s: Session, item: Item) -> list[str] | None:
    view = s.view
    refs = [parse_ref(x) for x in view.items("smtpd_sender_login_maps")]
    if not refs:
        return []
    sender = resolve_for(s, s.sender).recipient
    at = sender.rfind("@")
    keys = [(sender, False)] + ([(sender[at:], True)] if at >= 0 else [])
    try:
        for ref in refs:
            if ref is None:
                continue
            hit = find_first(view.config.table(ref), keys)
            if hit is not None:
                return [x.lower() for x in split_list(hit.value)]
    except Undecided as exc:
        s.cannot_decide(item.text, str(exc), item.location)
        return None
    return []


def _r_sasl_access(s, item, more, reply_name, reply_class, def_acl):
    if not s.view.yes("smtpd_sasl_auth_enable"):
        s.step(item.text, "ignored", "no SASL on this service: smtpd ignores it with a warning", item.location)
        return DUNNO
    if not s.authenticated:
        return DUNNO
    login = s.probe.sasl_user or ""
    return access(s, item, [(login, False)], login, SASL_LOGIN, def_acl)


def _r_client_access(s, item, more, reply_name, reply_class, def_acl):
    # check_reverse_client_hostname_access answers as the unverified name (the probe's name stands for both)
    if item.name == "check_reverse_client_hostname_access":
        who, cls = s.name, REVERSE_CLIENT
    else:
        who, cls = s.namaddr, CLIENT
    status, found = domain_access(s, item, s.name, who, cls, def_acl)
    if found:
        return status
    return access(s, item, client_keys(s.probe.client), who, cls, def_acl)


def _r_helo_access(s, item, more, reply_name, reply_class, def_acl):
    if s.helo is None:
        return DUNNO
    return domain_access(s, item, s.helo, s.helo, HELO, def_acl)[0]


def _r_sender_access(s, item, more, reply_name, reply_class, def_acl):
    if s.sender:
        return mail_access(s, item, s.sender, SENDER, def_acl)
    return access(s, item, [(s.view.get("smtpd_null_access_lookup_key"), False)], s.sender, SENDER, def_acl)


def _r_recipient_access(s, item, more, reply_name, reply_class, def_acl):
    if s.recipient is None:
        return DUNNO
    return mail_access(s, item, s.recipient, RECIPIENT, def_acl)


def _r_rhsbl(s, item, more, reply_name, reply_class, def_acl):
    if (
        item.name in ("reject_rhsbl_client", "permit_rhswl_client", "reject_rhsbl_reverse_client")
        and not s.probe.client_name
    ):
        s.step(item.text, "no match", "the client has no name to look up", item.location)
        return DUNNO
    s.cannot_decide(item.text, "queries a DNS list", item.location)
    return DUNNO


def _r_nothing(s, item, more, reply_name, reply_class, def_acl):
    s.step(item.text, "no decision", "does not decide this transaction", item.location)
    return DUNNO


_HANDLERS = {
    "permit": _r_permit,
    "reject": _r_reject,
    "defer": _r_defer,
    "defer_if_permit": _r_defer_if_permit,
    "defer_if_reject": _r_defer_if_reject,
    "permit_mynetworks": _r_mynetworks,
    "permit_inet_interfaces": _r_inet_interfaces,
    "permit_sasl_authenticated": _r_sasl,
    "permit_tls_clientcerts": _r_no_client_cert,
    "permit_tls_all_clientcerts": _r_no_client_cert,
    "check_ccert_access": _r_no_client_cert,
    "check_sasl_access": _r_sasl_access,
    "permit_auth_destination": _r_auth_destination,
    "reject_unauth_destination": _r_unauth_destination,
    "defer_unauth_destination": _r_unauth_destination,
    "check_relay_domains": _r_relay_domains,
    "permit_mx_backup": _r_mx_backup,
    "reject_unlisted_recipient": _r_unlisted_recipient,
    "check_recipient_maps": _r_unlisted_recipient,
    "reject_plaintext_session": _r_plaintext,
    "reject_unknown_client_hostname": _r_unknown_client,
    "reject_unknown_client": _r_unknown_client,
    "reject_unknown_reverse_client_hostname": _r_unknown_client,
    "reject_invalid_helo_hostname": _helo_form,
    "reject_invalid_hostname": _helo_form,
    "reject_non_fqdn_helo_hostname": _helo_form,
    "reject_non_fqdn_hostname": _helo_form,
    "reject_unknown_helo_hostname": _helo_form,
    "reject_unknown_hostname": _helo_form,
    "reject_non_fqdn_sender": _non_fqdn_address,
    "reject_non_fqdn_recipient": _non_fqdn_address,
    "reject_sender_login_mismatch": _r_sender_login_mismatch,
    "reject_authenticated_sender_login_mismatch": _login_mismatch,
    "reject_unauthenticated_sender_login_mismatch": _login_mismatch,
    "reject_known_sender_login_mismatch": _login_mismatch,
    "check_client_access": _r_client_access,
    "check_reverse_client_hostname_access": _r_client_access,
    "check_helo_access": _r_helo_access,
    "check_sender_access": _r_sender_access,
    "check_recipient_access": _r_recipient_access,
    "reject_rhsbl_client": _r_rhsbl,
    "permit_rhswl_client": _r_rhsbl,
    "reject_rhsbl_reverse_client": _r_rhsbl,
    "reject_unauth_pipelining": _r_nothing,
    "sleep": _r_nothing,
    "check_etrn_access": _r_nothing,
    "reject_multi_recipient_bounce": _r_nothing,
}


for _name in (
    "check_client_mx_access",
    "check_client_ns_access",
    "check_client_a_access",
    "check_reverse_client_hostname_mx_access",
    "check_reverse_client_hostname_ns_access",
    "check_reverse_client_hostname_a_access",
    "check_helo_mx_access",
    "check_helo_ns_access",
    "check_helo_a_access",
    "check_sender_mx_access",
    "check_sender_ns_access",
    "check_sender_a_access",
    "check_recipient_mx_access",
    "check_recipient_ns_access",
    "check_recipient_a_access",
):
    _HANDLERS[_name] = _dns_access
