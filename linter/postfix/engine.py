"""The decision engine: what one smtpd service answers to one SMTP transaction, and why.

A model of smtpd_check.c: the restriction lists run left to right until something permits,
rejects or defers; a PERMIT ends only its own list; with smtpd_delay_reject = yes the client,
HELO and sender lists run at RCPT TO; relay and recipient lists run in the order the release
and compatibility_level give. Replies are built the way smtpd_check_reject() builds them
(soft_bounce, warn_if_reject, defer_if_permit, defer_if_reject). Anything that needs DNS, a
policy server or a table outside the snapshot is recorded as undecided and treated as no match.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from mailcfg.errors import MailcfgError
from mailcfg.findings import Location
from mailcfg.postfix.address import Resolved, internal_form, is_local, own_addresses, resolve, valid_hostname
from mailcfg.postfix.config import PostfixConfig
from mailcfg.postfix.effective import ParameterView
from mailcfg.postfix.known import restrictions
from mailcfg.postfix.lookup import Hit, Undecided, find
from mailcfg.postfix.mastercf import Service
from mailcfg.postfix.matchlist import match_domains, match_hosts, parent_style
from mailcfg.postfix.probe import Decision, Probe, Step
from mailcfg.postfix.restrictions import Item, parse, parse_value
from mailcfg.postfix.tables import parse_ref
from mailcfg.postfix.tls import auth_needs_tls, has_certificate, tls_mode
from mailcfg.postfix.tokens import split_list

PERMIT, DUNNO, REJECT = "permit", "dunno", "reject"
REQUIRED = ("reject_unauth_destination", "defer_unauth_destination", "reject", "defer", "defer_if_permit",
            "check_relay_domains")
FAKE_RELAY = "permit_mynetworks, permit_sasl_authenticated, permit_auth_destination"
CLIENT, HELO, SENDER, RECIPIENT = "Client host", "Helo command", "Sender address", "Recipient address"
SOFTWARE = "software"  # configuration errors: warn_if_reject cannot turn them into warnings
SERVER_ERROR = "451 4.3.5 Server configuration error"
DNS_CHECKS = ("reject_unknown_helo_hostname", "reject_unknown_hostname", "reject_unknown_sender_domain",
              "reject_unknown_address", "reject_unverified_sender", "reject_unverified_recipient",
              "reject_maps_rbl")


class _ServerError(Exception):
    """smtpd's longjmp out of the restriction lists with a 4.3.5 (or 4.3.0) reply."""

    def __init__(self, status: str) -> None:
        self.status = status


@dataclass
class _Defer:
    code: int
    dsn: str
    text: str


@dataclass
class _Session:
    view: ParameterView
    probe: Probe
    authenticated: bool
    helo: str | None
    sender: str
    recipient: str | None = None
    stage: str = "rcpt"
    trace: list[Step] = field(default_factory=list)
    undecided: list[str] = field(default_factory=list)
    warn_if_reject: int = 0
    recursion: int = 0
    defer_if_permit: _Defer | None = None
    defer_if_reject: _Defer | None = None
    carried_defer: _Defer | None = None  # defer_if_permit raised by an earlier stage
    reply: str | None = None
    rcptmap_checked: bool = False

    @property
    def name(self) -> str:
        return self.probe.client_name or "unknown"

    @property
    def namaddr(self) -> str:
        return f"{self.name}[{self.probe.client}]"

    def step(self, what: str, result: str, note: str = "", location: Location | None = None,
             matched: str = "") -> None:
        self.trace.append(Step(self.stage, what, result, note, location, matched))

    def cannot_decide(self, what: str, why: str, location: Location | None = None) -> None:
        self.undecided.append(f"{what}: {why}")
        self.step(what, "undecided", f"{why}; not decided offline, taken as no match", location)

    def code(self, name: str) -> int:
        text = self.view.get(name).strip()
        return int(text) if text.isdigit() else 0


def select_service(config: PostfixConfig, service: str | None, port: int | None) -> Service:
    services = config.smtpd_services
    if service is not None:
        chosen = [s for s in services if s.name == service or s.key == service]
    elif port is not None:
        chosen = [s for s in services if s.port == port]
    else:
        chosen = [s for s in services if s.port == 25] or services[:1]
    if not chosen:
        names = ", ".join(s.name for s in services) or "none"
        wanted = f"service {service!r}" if service is not None else f"port {port}"
        raise MailcfgError(f"no smtpd {wanted} in master.cf (smtpd services: {names})")
    return chosen[-1]


def decide(config: PostfixConfig, probe: Probe) -> Decision:
    service = select_service(config, probe.service, probe.port)
    return decide_on(ParameterView(config, service), probe)


def decide_on(view: ParameterView, probe: Probe) -> Decision:
    """The decision of the service `view` stands for (rules reuse one view for many probes)."""
    decision = _decide(view, probe)
    decision.service = view.service.name if view.service else None
    return decision


def startup_error(view: ParameterView) -> tuple[str, Location | None] | None:
    """The fatal error smtpd dies with at start on this service, if any (smtpd_check_init)."""
    classes = split_list(view.get("smtpd_restriction_classes"))
    for name in classes:
        if not view.get(name).strip():
            return f"fatal: restriction class `{name}' needs a definition", view.location("smtpd_restriction_classes")
    if view.config.version >= (2, 10):
        lists = ("smtpd_recipient_restrictions", "smtpd_relay_restrictions")
        where = "smtpd_relay_restrictions or smtpd_recipient_restrictions"
    else:
        lists = ("smtpd_recipient_restrictions",)
        where = "smtpd_recipient_restrictions"
    if not any(_has_required(view, view.get(name), set()) for name in lists):
        names = ", ".join(REQUIRED[:-1]) + " or " + REQUIRED[-1]
        location = next((loc for name in lists if (loc := view.location(name)) is not None), None)
        return f"fatal: in parameter {where}, specify at least one working instance of: {names}", location
    return None


def _has_required(view: ParameterView, value: str, seen: set[str]) -> bool:
    words = split_list(value)
    classes = set(split_list(view.get("smtpd_restriction_classes"))) | {"reject_sender_login_mismatch"}
    i = 0
    while i < len(words):
        word = words[i]
        if word.lower() == "warn_if_reject" and i + 1 < len(words):
            i += 2
            continue
        if word.lower() == "permit":
            return False
        if word.lower() in REQUIRED:
            return True
        if word in classes and word not in seen and word != "reject_sender_login_mismatch" \
                and _has_required(view, view.get(word), seen | {word}):
            return True
        i += 1
    return False


def _decide(view: ParameterView, probe: Probe) -> Decision:
    fatal = startup_error(view)
    if fatal is not None:
        step = Step("startup", "smtpd_check_init", "error", fatal[0], fatal[1])
        return Decision("error", "startup", None, trace=[step])
    s = _Session(view, probe, False, probe.helo, internal_form(probe.sender) if probe.sender else "")
    s.stage = "connect"
    tls = _tls(s)
    s.authenticated = _authenticated(s, tls)
    delay = view.yes("smtpd_delay_reject")
    s.step("smtpd_delay_reject", "yes" if delay else "no",
           "client, HELO and sender restrictions wait until RCPT TO" if delay else
           "client, HELO and sender restrictions run at their own stage", view.location("smtpd_delay_reject"))
    if not delay:
        reply = _run_stage(s, "connect", "smtpd_client_restrictions", s.namaddr, CLIENT)
        if reply is not None:
            return _done(s, reply, "connect")
    s.stage = "helo"
    if probe.helo is not None and not delay:
        s.carried_defer = s.defer_if_permit
        reply = _run_stage(s, "helo", "smtpd_helo_restrictions", probe.helo, HELO)
        if reply is not None:
            return _done(s, reply, "helo")
    s.stage = "mail"
    if tls_mode(view) in ("encrypt",) and not tls:
        s.step("smtpd_tls_security_level", "reject", "TLS is mandatory and the client did not STARTTLS",
               view.location("smtpd_tls_security_level") or view.location("smtpd_enforce_tls"))
        return _done(s, "530 5.7.0 Must issue a STARTTLS command first", "mail")
    if view.yes("smtpd_helo_required") and probe.helo is None:
        s.step("smtpd_helo_required", "reject", "the client sent no HELO/EHLO", view.location("smtpd_helo_required"))
        return _done(s, "503 5.5.1 Error: send HELO/EHLO first", "mail")
    if s.sender and _bad_syntax(s, s.sender):
        s.step("MAIL FROM", "reject", "trivial-rewrite finds the sender address invalid")
        return _done(s, "501 5.1.7 Bad sender address syntax", "mail")
    if not delay:
        reply = _run_stage(s, "mail", "smtpd_sender_restrictions", s.sender, SENDER)
        if reply is not None:
            return _done(s, reply, "mail")
    s.stage = "rcpt"
    recipient = internal_form(probe.rcpt)
    if recipient.lower() == "postmaster":
        s.step("RCPT TO", "permit", "RFC 5321 requires plain <postmaster> to be accepted")
        return _done(s, "250 2.1.5 Ok", "rcpt")
    if not recipient or _bad_syntax(s, recipient):
        s.step("RCPT TO", "reject", "trivial-rewrite finds the recipient address invalid")
        return _done(s, "501 5.1.3 Bad recipient address syntax", "rcpt")
    s.recipient = recipient
    reply = _check_rcpt(s, delay)
    return _done(s, reply or "250 2.1.5 Ok", "rcpt")


def _tls(s: _Session) -> bool:
    mode = tls_mode(s.view)
    if not s.probe.tls:
        return mode == "wrapper"
    if mode == "none" or not has_certificate(s.view):
        s.step("STARTTLS", "unavailable", "this service offers no TLS: the session stays in plaintext",
               s.view.location("smtpd_tls_security_level"))
        return False
    return True


def _authenticated(s: _Session, tls: bool) -> bool:
    if s.probe.sasl_user is None:
        return False
    view = s.view
    where = view.location("smtpd_sasl_auth_enable")
    if not view.yes("smtpd_sasl_auth_enable"):
        s.step("AUTH", "not offered", "smtpd_sasl_auth_enable is off for this service: the client stays "
               "unauthenticated", where)
        return False
    if auth_needs_tls(view) and not tls:
        s.step("AUTH", "not offered", "AUTH is offered only after STARTTLS on this service", where)
        return False
    exceptions = view.get("smtpd_sasl_exceptions_networks").strip()
    if exceptions:
        try:
            if match_hosts(view, "smtpd_sasl_exceptions_networks", s.probe.client_name, s.probe.client).matched:
                s.step("AUTH", "not offered", "the client is in smtpd_sasl_exceptions_networks",
                       view.location("smtpd_sasl_exceptions_networks"))
                return False
        except Undecided as exc:
            s.cannot_decide("smtpd_sasl_exceptions_networks", str(exc))
    s.step("AUTH", "authenticated", f"the client logs in as {s.probe.sasl_user!r} (assuming the SASL backend "
           f"{view.get('smtpd_sasl_type')}:{view.get('smtpd_sasl_path')} accepts it)", where)
    return True


def _done(s: _Session, reply: str, stage: str) -> Decision:
    reply = _soft_bounce(s, reply)
    code = reply[:3]
    action = "accept" if code.startswith("2") else "reject" if code.startswith("5") else \
        "error" if reply.startswith("451 4.3.5") else "defer"
    return Decision(action, stage, reply, trace=s.trace, undecided=s.undecided)


def _soft_bounce(s: _Session, reply: str) -> str:
    """soft_bounce turns every 5xx reply into 4xx, DSN class included (smtpd_chat_reply)."""
    if reply.startswith("5") and s.view.yes("soft_bounce"):
        reply = "4" + reply[1:]
        if reply[4:5] == "5":
            reply = reply[:4] + "4" + reply[5:]
    return reply


# --- the stages ---------------------------------------------------------------------------

def _run_stage(s: _Session, stage: str, param: str, reply_name: str, reply_class: str) -> str | None:
    """One list at its own protocol stage (smtpd_check_client/helo/mail); the reply if it rejects."""
    s.stage = stage
    s.warn_if_reject = s.recursion = 0
    s.defer_if_reject = None
    s.defer_if_permit = s.carried_defer
    status = _run_list(s, param, reply_name, reply_class)
    s.carried_defer = s.defer_if_permit
    return s.reply if status == REJECT else None


def _run_list(s: _Session, param: str, reply_name: str, reply_class: str, items: list[Item] | None = None) -> str:
    items = parse(s.view, param) if items is None else items
    if not items:
        s.step(param, "empty", "nothing to check", s.view.location(param))
        return DUNNO
    try:
        status = _generic(s, items, reply_name, reply_class, _IMPLICIT[reply_class])
    except _ServerError as exc:
        status = exc.status
    s.step(param, status if status != DUNNO else "no decision", "end of list" if status == DUNNO else "",
           s.view.location(param))
    return status


_IMPLICIT = {CLIENT: "check_client_access", HELO: "check_helo_access", SENDER: "check_sender_access",
             RECIPIENT: "check_recipient_access"}


def _check_rcpt(s: _Session, delay: bool) -> str | None:
    """smtpd_check_rcpt(): delayed lists, then relay and recipient lists, defer_if_permit, unlisted."""
    view = s.view
    if delay:
        s.carried_defer = None
        for param, name, cls in (("smtpd_client_restrictions", s.namaddr, CLIENT),
                                 ("smtpd_helo_restrictions", s.helo, HELO),
                                 ("smtpd_sender_restrictions", s.sender, SENDER)):
            if name is None:
                continue
            reply = _run_stage(s, "rcpt", param, name, cls)
            if reply is not None:
                return reply
    s.stage = "rcpt"
    s.warn_if_reject = s.recursion = 0
    s.defer_if_reject = None
    s.defer_if_permit = s.carried_defer
    order = _rcpt_lists(s)
    status = DUNNO
    for param, items in order:
        status = _run_list(s, param, s.recipient or "", RECIPIENT, items)
        if status == REJECT:
            break
    if status != REJECT and s.defer_if_permit is not None:
        d = s.defer_if_permit
        s.step("defer_if_permit", "defer", "an earlier defer_if_permit turns this permission into a deferral")
        status = _reject(s, d.code, d.dsn, d.text)
    if status != REJECT and view.yes("smtpd_reject_unlisted_recipient") and not s.rcptmap_checked:
        status = _unlisted(s, "smtpd_reject_unlisted_recipient")
    return s.reply if status == REJECT else None


def _rcpt_lists(s: _Session) -> list[tuple[str, list[Item] | None]]:
    view = s.view
    version = view.config.version
    if version < (2, 10):
        return [("smtpd_recipient_restrictions", None)]
    relay: tuple[str, list[Item] | None] = ("smtpd_relay_restrictions", None)
    emulated = version >= (3, 3) and view.compat < (1,) and view.origin("smtpd_relay_restrictions") is None
    if emulated:
        s.step("smtpd_relay_restrictions", "compatibility",
               "compatibility_level < 1 and smtpd_relay_restrictions not set: Postfix evaluates "
               f"({FAKE_RELAY}) only to log a warning, so no relay list is enforced",
               view.location("compatibility_level"))
        return [("smtpd_recipient_restrictions", None)]
    recipient: tuple[str, list[Item] | None] = ("smtpd_recipient_restrictions", None)
    if version < (3, 3):
        return [relay, recipient]
    relay_first = version >= (3, 6) and view.yes("smtpd_relay_before_recipient_restrictions") and not emulated
    return [relay, recipient] if relay_first else [recipient, relay]


def _unlisted(s: _Session, what: str) -> str:
    s.rcptmap_checked = s.warn_if_reject == 0
    try:
        return _rcpt_maps(s, what)
    except _ServerError as exc:
        return exc.status


# --- one restriction list -----------------------------------------------------------------

def _generic(s: _Session, items: list[Item], reply_name: str, reply_class: str, def_acl: str) -> str:
    saved_recursion = s.recursion
    s.recursion += 1
    status = DUNNO
    classes = set(split_list(s.view.get("smtpd_restriction_classes")))
    for index, item in enumerate(items):
        if item.name == "warn_if_reject":
            if not s.warn_if_reject:
                s.warn_if_reject = s.recursion
            s.step("warn_if_reject", "armed", "the next rejection only logs a warning", item.location)
            continue
        status = _one(s, item, items[index + 1:], reply_name, reply_class, def_acl, classes)
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


def _reject(s: _Session, code: int, dsn: str, text: str, klass: str = "policy") -> str:
    """smtpd_check_reject(): warn_if_reject, bad codes, defer_if_reject, soft_bounce, DSN class."""
    warn = bool(s.warn_if_reject) and klass != SOFTWARE
    reply = f"{code} {dsn} {text}"
    if not 400 <= code <= 599:
        reply = "450 4.7.1 Service unavailable"
    reply = reply[:510]
    if not warn and s.defer_if_reject is not None and reply.startswith("5"):
        d = s.defer_if_reject
        s.warn_if_reject = 0
        s.defer_if_reject = None
        s.step("defer_if_reject", "defer", "an earlier defer_if_reject turns this rejection into a deferral")
        return _reject(s, d.code, d.dsn, d.text)
    reply = _soft_bounce(s, reply)
    reply = reply[:4] + reply[0] + reply[5:] if reply[4:5].isdigit() else reply
    if warn:
        s.step("warn_if_reject", "warning", f"would reply {reply!r}; logs reject_warning instead")
        return DUNNO
    s.reply = reply
    return REJECT


def _server_error(s: _Session, why: str, location: Location | None = None) -> None:
    s.step("server configuration error", "error", why, location)
    _reject(s, 451, "4.3.5", "Server configuration error", SOFTWARE)
    raise _ServerError(REJECT)


def _permit(s: _Session, item: Item, why: str, location: Location | None = None, matched: str = "") -> str:
    s.step(item.text, "permit", why, location or item.location, matched)
    return PERMIT


def _one(s: _Session, item: Item, rest: list[Item], reply_name: str, reply_class: str, def_acl: str,
         classes: set[str]) -> str:
    view = s.view
    name = item.name
    version = view.config.version
    if item.kind == "table":
        item = Item(def_acl, "restriction", item.location, item.text, restrictions()[def_acl])
        name = def_acl
    info = item.restriction
    if item.kind == "class" and item.text in classes:
        s.step(item.text, "class", "restriction class: its list runs here", item.location)
        items = parse(view, item.text)
        return _generic(s, items, reply_name, reply_class, def_acl)
    if info is None or (info.since is not None and version < info.since):
        _server_error(s, f"unknown smtpd restriction {item.text!r}", item.location)
    if info.removed is not None and version >= info.removed:
        _server_error(s, f"support for restriction {item.text!r} has been removed in Postfix "
                      f"{info.removed[0]}.{info.removed[1]}", item.location)
    if item.missing_argument:
        _server_error(s, f"{item.text} needs an argument", item.location)
    if name == "reject_sender_login_mismatch":
        items = parse_value(view, "reject_authenticated_sender_login_mismatch "
                                  "reject_unauthenticated_sender_login_mismatch")
        return _generic(s, items, reply_name, reply_class, def_acl)
    handler = _HANDLERS.get(name)
    if handler is not None:
        return handler(s, item, rest, reply_name, reply_class, def_acl)
    if info.kind in ("dnsbl", "policy") or name in DNS_CHECKS:
        s.cannot_decide(item.text, "needs DNS or an external service", item.location)
        return DUNNO
    s.step(item.text, "no decision", "has no effect on this transaction", item.location)
    return DUNNO


# --- individual restrictions --------------------------------------------------------------

def _r_permit(s, item, rest, reply_name, reply_class, def_acl):
    return _permit(s, item, "permits unconditionally" + ("; what follows is ignored" if rest else ""))


def _r_reject(s, item, rest, reply_name, reply_class, def_acl):
    s.step(item.text, "reject", "rejects unconditionally", item.location)
    return _reject(s, s.code("reject_code"), "5.7.1", f"<{reply_name}>: {reply_class} rejected: Access denied")


def _r_defer(s, item, rest, reply_name, reply_class, def_acl):
    s.step(item.text, "defer", "defers unconditionally", item.location)
    return _reject(s, s.code("defer_code"), "4.3.2", f"<{reply_name}>: {reply_class} rejected: Try again later")


def _r_defer_if_permit(s, item, rest, reply_name, reply_class, def_acl):
    text = f"<{reply_name}>: {reply_class} rejected: defer_if_permit requested"
    if s.warn_if_reject:
        return _reject(s, 450, "4.7.0", text)
    s.step(item.text, "armed", "a later permission becomes a 450 deferral", item.location)
    if s.defer_if_permit is None:
        s.defer_if_permit = _Defer(450, "4.7.0", text)
    return DUNNO


def _r_defer_if_reject(s, item, rest, reply_name, reply_class, def_acl):
    s.step(item.text, "armed", "a later 5xx rejection becomes a 450 deferral", item.location)
    if s.defer_if_reject is None:
        s.defer_if_reject = _Defer(450, "4.7.0", f"<{reply_name}>: {reply_class} rejected: defer_if_reject requested")
    return DUNNO


def _r_mynetworks(s, item, rest, reply_name, reply_class, def_acl):
    view = s.view
    try:
        m = match_hosts(view, "mynetworks", s.probe.client_name, s.probe.client)
    except Undecided as exc:
        s.cannot_decide(item.text, str(exc), item.location)
        return DUNNO
    networks = view.get("mynetworks")
    if m.matched:
        return _permit(s, item, f"client {s.probe.client} matches mynetworks ({m.pattern}; mynetworks = {networks})",
                       item.location, m.pattern)
    s.step(item.text, "no match", f"client {s.probe.client} is not in mynetworks ({networks})", item.location)
    return DUNNO


def _r_inet_interfaces(s, item, rest, reply_name, reply_class, def_acl):
    if _same_address(s.probe.client, own_addresses(s.view)):
        return _permit(s, item, "the client uses one of this host's own addresses")
    s.step(item.text, "no match", "the client is not one of this host's addresses", item.location)
    return DUNNO


def _r_sasl(s, item, rest, reply_name, reply_class, def_acl):
    if s.authenticated:
        return _permit(s, item, f"the client is authenticated as {s.probe.sasl_user!r}")
    why = "the client is not authenticated" if s.probe.sasl_user is None else \
        "the login did not happen on this service (see AUTH above)"
    s.step(item.text, "no match", why, item.location)
    return DUNNO


def _r_no_client_cert(s, item, rest, reply_name, reply_class, def_acl):
    s.step(item.text, "no match", "the client presents no certificate", item.location)
    return DUNNO


def _r_auth_destination(s, item, rest, reply_name, reply_class, def_acl):
    if s.recipient is None:
        return DUNNO
    ok, why, where = _authorized(s)
    if ok:
        return _permit(s, item, why, where)
    s.step(item.text, "no match", why, item.location)
    return DUNNO


def _r_unauth_destination(s, item, rest, reply_name, reply_class, def_acl):
    if s.recipient is None:
        return DUNNO
    ok, why, where = _authorized(s)
    if ok:
        s.step(item.text, "no match", why, where)
        return DUNNO
    defer = item.name == "defer_unauth_destination"
    s.step(item.text, "defer" if defer else "reject", why, item.location)
    code = s.code("relay_domains_reject_code") - (100 if defer else 0)
    return _reject(s, code, "4.7.1" if defer else "5.7.1", f"<{s.recipient}>: Relay access denied")


def _r_relay_domains(s, item, rest, reply_name, reply_class, def_acl):
    if s.recipient is None:
        return DUNNO
    try:
        if s.probe.client_name and match_domains(s.view, "relay_domains", s.probe.client_name).matched:
            return _permit(s, item, "the client's name matches relay_domains")
    except Undecided as exc:
        s.cannot_decide(item.text, str(exc), item.location)
    ok, why, where = _authorized(s)
    if ok:
        return _permit(s, item, why, where)
    s.step(item.text, "reject", why, item.location)
    return _reject(s, s.code("relay_domains_reject_code"), "5.7.1",
                   f"<{s.recipient}>: {RECIPIENT} rejected: Relay access denied")


def _r_mx_backup(s, item, rest, reply_name, reply_class, def_acl):
    if s.recipient is None:
        return DUNNO
    ok, why, where = _authorized(s)
    if ok:
        return _permit(s, item, why, where)
    s.cannot_decide(item.text, "whether this host is a backup MX for the domain needs DNS", item.location)
    return DUNNO


def _r_unlisted_recipient(s, item, rest, reply_name, reply_class, def_acl):
    if not s.recipient or s.rcptmap_checked:
        return DUNNO
    return _unlisted(s, item.text)


def _r_plaintext(s, item, rest, reply_name, reply_class, def_acl):
    if s.probe.tls or tls_mode(s.view) == "wrapper":
        s.step(item.text, "no match", "the session is encrypted", item.location)
        return DUNNO
    s.step(item.text, "reject", "the session is not encrypted", item.location)
    return _reject(s, s.code("plaintext_reject_code"), "4.7.1", "Session encryption is required")


def _r_unknown_client(s, item, rest, reply_name, reply_class, def_acl):
    if s.probe.client_name:
        s.step(item.text, "no match", f"the client has the name {s.probe.client_name}", item.location)
        return DUNNO
    s.step(item.text, "reject", "the client has no reverse DNS name (the probe gives none)", item.location)
    return _reject(s, s.code("unknown_client_reject_code"), "4.7.25",
                   f"Client host rejected: cannot find your hostname, [{s.probe.client}]")


def _helo_form(s, item, rest, reply_name, reply_class, def_acl):
    helo = s.helo
    if helo is None:
        return DUNNO
    name = helo[:-1] if len(helo) > 1 and helo.endswith(".") and not helo.endswith("..") else helo
    if helo.startswith("["):
        ok = _valid_address(helo[1:-1] if helo.endswith("]") else helo)
        text, code = "invalid ip address", "invalid_hostname_reject_code"
    elif item.name in ("reject_invalid_helo_hostname", "reject_invalid_hostname"):
        ok = valid_hostname(name) or _valid_address(name)
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
    s.step(item.text, "reject", f"HELO {helo!r} fails this check", item.location)
    return _reject(s, s.code(code), "5.5.2", f"<{helo}>: {HELO} rejected: {text}")


def _valid_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text[5:] if text.lower().startswith("ipv6:") else text)
    except ValueError:
        return False
    return True


def _non_fqdn_address(s, item, rest, reply_name, reply_class, def_acl):
    is_sender = item.name == "reject_non_fqdn_sender"
    addr = s.sender if is_sender else s.recipient
    if not addr:
        return DUNNO
    domain = addr[addr.rfind("@") + 1:] if "@" in addr else ""
    if domain.startswith("[") and domain.endswith("]"):
        return DUNNO
    test = domain[:-1] if len(domain) > 1 and domain.endswith(".") and not domain.endswith("..") else domain
    if test and valid_hostname(test) and "." in test:
        s.step(item.text, "no match", f"<{addr}> has a fully-qualified domain", item.location)
        return DUNNO
    s.step(item.text, "reject", f"<{addr}> has no fully-qualified domain", item.location)
    return _reject(s, s.code("non_fqdn_reject_code"), "4.5.2",
                   f"<{addr}>: {SENDER if is_sender else RECIPIENT} rejected: need fully-qualified address")


def _login_mismatch(s, item, rest, reply_name, reply_class, def_acl):
    view = s.view
    if not view.yes("smtpd_sasl_auth_enable"):
        s.step(item.text, "ignored", "no SASL on this service: smtpd ignores it with a warning", item.location)
        return DUNNO
    if not s.sender:
        return DUNNO
    name = item.name
    if name == "reject_known_sender_login_mismatch":
        name = "reject_authenticated_sender_login_mismatch" if s.authenticated else \
            "reject_unauthenticated_sender_login_mismatch"
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
        s.step(item.text, "reject", f"<{s.sender}> is not owned by {s.probe.sasl_user!r}", item.location)
        return _reject(s, 553, "5.7.1", f"<{s.sender}>: {SENDER} rejected: not owned by user {s.probe.sasl_user}")
    if s.authenticated or not owners:
        return DUNNO
    s.step(item.text, "reject", f"<{s.sender}> belongs to a login and the client is not logged in", item.location)
    return _reject(s, 553, "5.7.1", f"<{s.sender}>: {SENDER} rejected: not logged in")


def _sender_owners(s: _Session, item: Item) -> list[str] | None:
    view = s.view
    refs = [parse_ref(x) for x in split_list(view.get("smtpd_sender_login_maps"))]
    if not refs:
        return []
    sender = _resolved(s, s.sender).recipient
    at = sender.rfind("@")
    keys = [(sender, False)] + ([(sender[at:], True)] if at >= 0 else [])
    try:
        for ref in refs:
            if ref is None:
                continue
            for key, partial in keys:
                hit = find(view.config.table(ref), key, partial)
                if hit is not None:
                    return [x.lower() for x in split_list(hit.value)]
    except Undecided as exc:
        s.cannot_decide(item.text, str(exc), item.location)
        return None
    return []


def _r_sasl_access(s, item, rest, reply_name, reply_class, def_acl):
    if not s.view.yes("smtpd_sasl_auth_enable"):
        s.step(item.text, "ignored", "no SASL on this service: smtpd ignores it with a warning", item.location)
        return DUNNO
    if not s.authenticated:
        return DUNNO
    return _access(s, item, [(s.probe.sasl_user or "", False)], s.namaddr, CLIENT, def_acl)


def _r_ccert(s, item, rest, reply_name, reply_class, def_acl):
    return _r_no_client_cert(s, item, rest, reply_name, reply_class, def_acl)


def _r_client_access(s, item, rest, reply_name, reply_class, def_acl):
    status, found = _domain_access(s, item, s.name, s.namaddr, CLIENT, def_acl)
    if found:
        return status
    addr = s.probe.client
    keys = [(addr, False)]
    delim = ":" if ":" in addr else "."
    parts = addr.split(delim)
    for n in range(len(parts) - 1, 0, -1):
        keys.append((delim.join(parts[:n]), True))
    return _access(s, item, keys, s.namaddr, CLIENT, def_acl)


def _r_helo_access(s, item, rest, reply_name, reply_class, def_acl):
    if s.helo is None:
        return DUNNO
    return _domain_access(s, item, s.helo, s.helo, HELO, def_acl)[0]


def _r_sender_access(s, item, rest, reply_name, reply_class, def_acl):
    if s.sender:
        return _mail_access(s, item, s.sender, SENDER, def_acl)
    return _access(s, item, [(s.view.get("smtpd_null_access_lookup_key"), False)], s.sender, SENDER, def_acl)


def _r_recipient_access(s, item, rest, reply_name, reply_class, def_acl):
    if s.recipient is None:
        return DUNNO
    return _mail_access(s, item, s.recipient, RECIPIENT, def_acl)


def _dns_access(s, item, rest, reply_name, reply_class, def_acl):
    s.cannot_decide(item.text, "looks up DNS records (MX, NS or A)", item.location)
    return DUNNO


def _r_rhsbl(s, item, rest, reply_name, reply_class, def_acl):
    if item.name in ("reject_rhsbl_client", "permit_rhswl_client", "reject_rhsbl_reverse_client") \
            and not s.probe.client_name:
        s.step(item.text, "no match", "the client has no name to look up", item.location)
        return DUNNO
    s.cannot_decide(item.text, "queries a DNS list", item.location)
    return DUNNO


def _r_nothing(s, item, rest, reply_name, reply_class, def_acl):
    s.step(item.text, "no decision", "does not decide this transaction", item.location)
    return DUNNO


_HANDLERS = {
    "permit": _r_permit, "reject": _r_reject, "defer": _r_defer,
    "defer_if_permit": _r_defer_if_permit, "defer_if_reject": _r_defer_if_reject,
    "permit_mynetworks": _r_mynetworks, "permit_inet_interfaces": _r_inet_interfaces,
    "permit_sasl_authenticated": _r_sasl,
    "permit_tls_clientcerts": _r_no_client_cert, "permit_tls_all_clientcerts": _r_no_client_cert,
    "check_ccert_access": _r_ccert, "check_sasl_access": _r_sasl_access,
    "permit_auth_destination": _r_auth_destination,
    "reject_unauth_destination": _r_unauth_destination, "defer_unauth_destination": _r_unauth_destination,
    "check_relay_domains": _r_relay_domains, "permit_mx_backup": _r_mx_backup,
    "reject_unlisted_recipient": _r_unlisted_recipient, "check_recipient_maps": _r_unlisted_recipient,
    "reject_plaintext_session": _r_plaintext,
    "reject_unknown_client_hostname": _r_unknown_client, "reject_unknown_client": _r_unknown_client,
    "reject_unknown_reverse_client_hostname": _r_unknown_client,
    "reject_invalid_helo_hostname": _helo_form, "reject_invalid_hostname": _helo_form,
    "reject_non_fqdn_helo_hostname": _helo_form, "reject_non_fqdn_hostname": _helo_form,
    "reject_unknown_helo_hostname": _helo_form, "reject_unknown_hostname": _helo_form,
    "reject_non_fqdn_sender": _non_fqdn_address, "reject_non_fqdn_recipient": _non_fqdn_address,
    "reject_authenticated_sender_login_mismatch": _login_mismatch,
    "reject_unauthenticated_sender_login_mismatch": _login_mismatch,
    "reject_known_sender_login_mismatch": _login_mismatch,
    "check_client_access": _r_client_access, "check_reverse_client_hostname_access": _r_client_access,
    "check_helo_access": _r_helo_access, "check_sender_access": _r_sender_access,
    "check_recipient_access": _r_recipient_access,
    "reject_rhsbl_client": _r_rhsbl, "permit_rhswl_client": _r_rhsbl, "reject_rhsbl_reverse_client": _r_rhsbl,
    "reject_unauth_pipelining": _r_nothing, "sleep": _r_nothing, "check_etrn_access": _r_nothing,
    "reject_multi_recipient_bounce": _r_nothing,
}
for _name in ("check_client_mx_access", "check_client_ns_access", "check_client_a_access",
              "check_reverse_client_hostname_mx_access", "check_reverse_client_hostname_ns_access",
              "check_reverse_client_hostname_a_access", "check_helo_mx_access", "check_helo_ns_access",
              "check_helo_a_access", "check_sender_mx_access", "check_sender_ns_access", "check_sender_a_access",
              "check_recipient_mx_access", "check_recipient_ns_access", "check_recipient_a_access"):
    _HANDLERS[_name] = _dns_access


# --- access tables ------------------------------------------------------------------------

def _table(s: _Session, item: Item):
    ref = parse_ref(item.argument or "")
    if ref is None:
        _server_error(s, f"{item.text}: {item.argument!r} is not a lookup table", item.location)
    return s.view.config.table(ref)


def _lookup(s: _Session, item: Item, keys: list[tuple[str, bool]]) -> Hit | None:
    table = _table(s, item)
    try:
        for key, partial in keys:
            hit = find(table, key, partial)
            if hit is not None:
                return hit
    except Undecided as exc:
        s.cannot_decide(item.text, str(exc), item.location)
    return None


def _access(s: _Session, item: Item, keys: list[tuple[str, bool]], reply_name: str, reply_class: str,
            def_acl: str) -> str:
    hit = _lookup(s, item, keys)
    if hit is None:
        s.step(f"{item.text} {item.argument}", "no match", f"no entry for {keys[0][0]!r}", item.location)
        return DUNNO
    return _table_result(s, item, hit, reply_name, reply_class, def_acl)


def _domain_access(s: _Session, item: Item, domain: str, reply_name: str, reply_class: str,
                   def_acl: str) -> tuple[str, bool]:
    """check_domain_access(): the name, then its parent domains as partial keys."""
    parent = parent_style(s.view, "smtpd_access_maps")
    keys = [(domain, False)]
    if not _valid_address(domain.strip("[]")):
        labels = domain.split(".")
        for i in range(1, len(labels)):
            rest = ".".join(labels[i:])
            if rest:
                keys.append((rest if parent else "." + rest, True))
    hit = _lookup(s, item, keys)
    if hit is None:
        s.step(f"{item.text} {item.argument}", "no match", f"no entry for {domain!r}", item.location)
        return DUNNO, False
    return _table_result(s, item, hit, reply_name, reply_class, def_acl), True


def _mail_access(s: _Session, item: Item, addr: str, reply_class: str, def_acl: str) -> str:
    """check_mail_access(): full address, domain and parents, then `user@`, on the resolved address."""
    resolved = _resolved(s, addr)
    full = resolved.recipient
    at = full.rfind("@")
    if at < 0:
        return DUNNO
    parent = parent_style(s.view, "smtpd_access_maps")
    keys = [(full, False)]
    labels = full[at + 1:].split(".")
    for i in range(len(labels)):
        rest = ".".join(labels[i:])
        keys.append((rest if parent or i == 0 else "." + rest, True))
    keys.append((full[:at + 1], True))
    hit = _lookup(s, item, keys)
    if hit is None:
        s.step(f"{item.text} {item.argument}", "no match", f"no entry for <{full}>", item.location)
        return DUNNO
    status = _table_result(s, item, hit, addr, reply_class, def_acl)
    if status == PERMIT and reply_class == RECIPIENT and resolved.routed and not s.view.yes("allow_untrusted_routing"):
        s.step(item.text, "no decision", "OK ignored: the recipient has sender-specified routing "
               "(allow_untrusted_routing = no)", item.location)
        return DUNNO
    return status


def _table_result(s: _Session, item: Item, hit: Hit, reply_name: str, reply_class: str, def_acl: str) -> str:
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
        dsn, rest = _dsn(text, "5.7.1" if upper == "REJECT" else "4.7.1")
        code = s.code("access_map_reject_code" if upper == "REJECT" else "access_map_defer_code")
        return _reject(s, code, dsn, f"<{reply_name}>: {reply_class} rejected: {rest or 'Access denied'}")
    if upper in ("DEFER_IF_PERMIT", "DEFER_IF_REJECT"):
        dsn, rest = _dsn(text, "4.7.1")
        defer = _Defer(s.code("access_map_defer_code"), dsn,
                       f"<{reply_name}>: {reply_class} rejected: {rest or 'Access denied'}")
        s.step(what, "armed", note, where)
        if upper == "DEFER_IF_PERMIT":
            if s.warn_if_reject:
                return _reject(s, defer.code, defer.dsn, defer.text)
            s.defer_if_permit = s.defer_if_permit or defer
        else:
            s.defer_if_reject = s.defer_if_reject or defer
        return DUNNO
    if value.isdigit():
        s.step(what, "permit", note + " (a number means OK)", where, hit.pattern)
        return PERMIT
    if len(word) == 3 and word[0] in "45" and word[1:].isdigit() and text:
        s.step(what, "reject" if word[0] == "5" else "defer", note, where)
        dsn, rest = _dsn(text, word[0] + ".7.1")
        return _reject(s, int(word), dsn, f"<{reply_name}>: {reply_class} rejected: {rest}")
    if upper in ("OK", "RELAY"):
        s.step(what, "permit", note, where, hit.pattern)
        return PERMIT
    if ":" in value:
        _server_error(s, f"access table result {value!r} names a lookup table", where)
    if s.recursion > 100:
        _server_error(s, "access table results recurse too deep", where)
    items = parse_value(s.view, value)
    if not items:
        s.step(what, "permit", note + " (an empty result means OK)", where, hit.pattern)
        return PERMIT
    s.step(what, "restrictions", note + ": the result is a restriction list", where)
    located = [Item(i.text, i.kind, where, i.argument, i.restriction, i.missing_argument) for i in items]
    return _generic(s, located, reply_name, reply_class, def_acl)


def _dsn(text: str, default: str) -> tuple[str, str]:
    """dsn_split(): a leading x.y.z in the text replaces the default DSN."""
    m = re.match(r"([245]\.\d{1,3}\.\d{1,3})(\s+|$)", text)
    if m:
        return m.group(1), text[m.end():]
    return default, text


# --- destinations -------------------------------------------------------------------------

def _resolved(s: _Session, address: str | None = None) -> Resolved:
    """The recipient (or `address`) as trivial-rewrite resolves it; a list it cannot read is recorded."""
    address = s.recipient or "" if address is None else address
    try:
        return resolve(s.view, address)
    except Undecided as exc:
        s.cannot_decide("address class", str(exc))
        return Resolved(address, address[address.rfind("@") + 1:], "unknown", reason="unknown offline")


def _bad_syntax(s: _Session, address: str) -> bool:
    return _resolved(s, address).error


def _authorized(s: _Session) -> tuple[bool, str, Location | None]:
    """permit_auth_destination(): a final or relay destination without sender-specified routing."""
    r = _resolved(s)
    for note in r.notes:
        s.step("trivial-rewrite", r.klass, note)
    if r.routed and not s.view.yes("allow_untrusted_routing"):
        return False, f"<{r.recipient}> has sender-specified routing (allow_untrusted_routing = no)", \
            s.view.location("allow_untrusted_routing")
    if r.klass in ("local", "alias", "virtual", "relay"):
        return True, f"{r.domain} is an authorized destination: {r.reason}", r.location
    return False, f"{r.domain} is not an authorized destination ({r.reason})", None


def _rcpt_maps(s: _Session, what: str) -> str:
    """check_rcpt_maps(): does the recipient exist in its address class?"""
    view = s.view
    r = _resolved(s)
    rcpt = s.recipient or ""
    try:
        for param in ("recipient_canonical_maps", "canonical_maps", "virtual_alias_maps"):
            hit = _address_hit(s, param, r)
            if hit is not None:
                s.step(what, "no match", f"<{r.recipient}> is listed in {param}", hit.location or view.location(param))
                return DUNNO
        if r.klass == "alias":
            s.step(what, "reject", f"{r.domain} is a virtual alias domain and <{r.recipient}> is not in "
                   "virtual_alias_maps", view.location("virtual_alias_maps"))
            return _reject(s, s.code("unknown_virtual_alias_reject_code"), "5.1.1",
                           f"<{rcpt}>: {RECIPIENT} rejected: User unknown{_table_name(s, 'virtual alias table')}")
        checks = {"local": ("local_recipient_maps", "unknown_local_recipient_reject_code", "local recipient table"),
                  "virtual": ("virtual_mailbox_maps", "unknown_virtual_mailbox_reject_code", "virtual mailbox table"),
                  "relay": ("relay_recipient_maps", "unknown_relay_recipient_reject_code", "relay recipient table")}
        if r.klass not in checks:
            return DUNNO
        param, code, table_name = checks[r.klass]
        if not view.get(param).strip():
            s.step(what, "no match", f"{param} is empty: every recipient in {r.domain} is accepted",
                   view.location(param))
            return DUNNO
        local_part = r.recipient[:r.recipient.rfind("@")].lower()
        if r.klass == "local" and local_part in (view.get("double_bounce_sender").lower(), "postmaster",
                                                 "mailer-daemon"):
            return DUNNO
        hit = _address_hit(s, param, r)
        if hit is not None:
            s.step(what, "no match", f"<{r.recipient}> is listed in {param}", hit.location or view.location(param))
            return DUNNO
        s.step(what, "reject", f"<{r.recipient}> is in no table of {param}", view.location(param))
        return _reject(s, s.code(code), "5.1.1", f"<{rcpt}>: {RECIPIENT} rejected: User unknown"
                       f"{_table_name(s, table_name)}")
    except Undecided as exc:
        s.cannot_decide(what, f"{exc}; the recipient is assumed to exist")
        return DUNNO


def _table_name(s: _Session, name: str) -> str:
    return f" in {name}" if s.view.yes("show_user_unknown_table_name") else ""


def _address_hit(s: _Session, param: str, r: Resolved) -> Hit | None:
    """mail_addr_find() with the default strategy: user@domain, user (local domains), @domain."""
    view = s.view
    at = r.recipient.rfind("@")
    local, domain = r.recipient[:at], r.recipient[at + 1:]
    keys = [(r.recipient, False)]
    if domain.lower() == view.get("myorigin").lower() or is_local(view, domain)[0]:
        keys.append((local, True))
    keys.append(("@" + domain, True))
    for word in split_list(view.get(param)):
        ref = parse_ref(word)
        if ref is None:
            continue
        if ref.text in ("unix:passwd.byname", "proxy:unix:passwd.byname"):
            if r.klass != "local" or _passwd_has(s, local):
                return Hit(local, ref.text, local, None) if r.klass == "local" else None
            continue
        table = view.config.table(ref)
        aliases = word in view.items("alias_maps")  # postalias files: `name: value`
        for key, partial in keys:
            hit = find(table, key, partial, aliases)
            if hit is not None:
                return hit
    return None


def _same_address(addr: str, addresses: list[str]) -> bool:
    try:
        return ipaddress.ip_address(addr) in {ipaddress.ip_address(a) for a in addresses}
    except ValueError:
        return False


def _passwd_has(s: _Session, user: str) -> bool:
    path = s.view.config.snapshot.resolve("/etc/passwd")
    if path is None:
        raise Undecided("local users (unix:passwd.byname) are not in the snapshot")
    users = {line.split(":", 1)[0].lower() for line in path.read_text(errors="replace").splitlines() if ":" in line}
    return user.lower() in users
