"""The decision engine: what one smtpd service answers to one SMTP transaction, and why.

A model of smtpd_check.c: the restriction lists run left to right until something permits,
rejects or defers; a PERMIT ends only its own list; with smtpd_delay_reject = yes the client,
HELO and sender lists run at RCPT TO; relay and recipient lists run in the order the release
and compatibility_level give. Replies are built the way smtpd_check_reject() builds them
(soft_bounce, warn_if_reject, defer_if_permit, defer_if_reject). Anything that needs DNS, a
policy server or a table outside the snapshot is recorded as undecided and treated as no match.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import TypeVar

from mailcfg.errors import MailcfgError
from mailcfg.findings import Location
from mailcfg.postfix.address import internal_form
from mailcfg.postfix.config import PostfixConfig
from mailcfg.postfix.destinations import bad_syntax, unlisted
from mailcfg.postfix.effective import ParameterView
from mailcfg.postfix.evaluate import Ready, class_program, generic, run_items
from mailcfg.postfix.lookup import Undecided
from mailcfg.postfix.mastercf import Service
from mailcfg.postfix.matchlist import match_hosts
from mailcfg.postfix.restrictions import IMPLICIT_ACCESS
from mailcfg.postfix.services import port as listening_port
from mailcfg.postfix.services import views
from mailcfg.postfix.session import (
    CLIENT,
    DUNNO,
    HELO,
    RECIPIENT,
    REJECT,
    SENDER,
    Crash,
    Defer,
    ServerError,
    Session,
    action_of,
    reject,
    soft_bounce,
)
from mailcfg.postfix.tls import auth_needs_tls, offers_tls, tls_mode
from mailcfg.postfix.tokens import split_list
from mailcfg.transaction import Decision, Probe, Step

REQUIRED = (
    "reject_unauth_destination",
    "defer_unauth_destination",
    "reject",
    "defer",
    "defer_if_permit",
    "check_relay_domains",
)
FAKE_RELAY = "permit_mynetworks, permit_sasl_authenticated, permit_auth_destination"


def select_service(config: PostfixConfig, service: str | None, port: int | None) -> Service:
    chosen = config.remember(("service", service, port), lambda: _select_service(config, service, port))
    if isinstance(chosen, str):
        raise MailcfgError(chosen)
    return chosen


def _select_service(config: PostfixConfig, service: str | None, port: int | None) -> Service | str:
    """The service, or why there is none."""
    services = config.smtpd_services
    if service is not None:
        chosen = [s for s in services if s.name == service or s.key == service]
    elif port is not None:
        chosen = [s for s in services if listening_port(config, s) == port]
    else:
        chosen = [s for s in services if listening_port(config, s) == 25] or services[:1]
    if not chosen:
        names = ", ".join(s.name for s in services) or "none"
        wanted = f"service {service!r}" if service is not None else f"port {port}"
        return f"no smtpd {wanted} in master.cf (smtpd services: {names})"
    return chosen[-1]


def decide(config: PostfixConfig, probe: Probe) -> Decision:
    # the view a probe's service and port lead to, kept under one key: every decision asks
    view = config.memo.get(("view for", probe.service, probe.port))
    if view is None:
        service = select_service(config, probe.service, probe.port)
        view = config.memo[("view for", probe.service, probe.port)] = next(v for s, v in views(config)
                                                                           if s is service)
    return decide_on(view, probe)


# How many probes the memo of decisions keeps: linting asks a view fewer than a hundred (150 generated snapshots,
# the bundled examples and the real-world corpus), some of them again from rule to rule. A memo kept whole would
# hold every probe ever decided (a long `mailcfg test` policy asks each once), and the objects kept make each
# full garbage collection longer.
RECENT = 128
# How many the memos keep that serve probes asked in a row: what happens before RCPT TO (the relay search asks
# one client, HELO name and sender with dozens of recipients) and decisions that never read the HELO name (it
# tries HELO names one after another). Kept fewer, their objects are freed before the collector walks them.
IN_A_ROW = 32
T = TypeVar("T")


def _keep_recent(cache: dict, key: tuple, value: T, size: int = RECENT) -> T:
    """`value` kept under `key`, in a `cache` emptied once it holds `size` (dropping only its oldest entry
    would cost more: a dict skips the slots of deleted entries to find its first)."""
    if len(cache) >= size:
        cache.clear()
    cache[key] = value
    return value


def decide_on(view: ParameterView, probe: Probe) -> Decision:
    """The decision of the service `view` stands for (rules reuse one view for many probes).

    Decided once per view and probe, until the memo starts over at RECENT: several rules ask the same questions
    (a decision is never changed after it is made)."""
    cache = view.memo["decisions"]
    key = _all(probe)  # a tuple: Probe's own hash is a Python call
    decision = cache.get(key)
    if decision is None:
        decision = _keep_recent(cache, key, _decided(view, probe))
    return decision


_all = attrgetter(*(f.name for f in fields(Probe)))


# A probe's fields but its HELO name: a decision that never read the name holds for every other name.
_but_helo = attrgetter(*(f.name for f in fields(Probe) if f.name != "helo"))


def _decided(view: ParameterView, probe: Probe) -> Decision:
    blind = view.memo["helo-blind"]
    if probe.helo is not None:
        known = blind.get(_but_helo(probe))
        if known is not None:  # the relay search tries HELO names one after another
            return Decision(known.action, known.stage, known.reply, known.service, list(known.trace),
                            list(known.undecided))
    try:
        decision, s = _decide(view, probe)
    except Crash as crash:
        s = crash.session
        decision = Decision("error", s.stage, "connection closed by the server", trace=s.trace, undecided=s.undecided)
    decision.service = view.service.name if view.service else None
    if probe.helo is not None and (s is None or not s.helo_read):
        _keep_recent(blind, _but_helo(probe), decision, IN_A_ROW)
    return decision


def startup_error(view: ParameterView) -> tuple[str, Location | None] | None:
    """The fatal error smtpd dies with at start on this service, if any (smtpd_check_init)."""
    cache = view.memo["startup"]
    if "error" not in cache:
        cache["error"] = _startup_error(view)
    return cache["error"]


def _startup_error(view: ParameterView) -> tuple[str, Location | None] | None:
    for name in view.items("smtpd_restriction_classes"):
        if not view.get(name).strip():
            return f"fatal: restriction class `{name}' needs a definition", view.location("smtpd_restriction_classes")
    try:
        _relay_check_found(view)
    except ClassLoop as exc:
        return (f"restriction class loop ({' -> '.join(exc.loop)}): smtpd follows it while checking for a relay "
                "check at start, until its stack overflows and it dies (signal 11)", view.location(exc.loop[0]))
    return missing_relay_check(view)


def _relay_lists(view: ParameterView) -> tuple[tuple[str, ...], str]:
    """The lists smtpd_check_init searches for a relay check, and how its fatal error names them."""
    if view.config.version >= (2, 10):
        return ("smtpd_recipient_restrictions", "smtpd_relay_restrictions"), \
            "smtpd_relay_restrictions or smtpd_recipient_restrictions"
    return ("smtpd_recipient_restrictions",), "smtpd_recipient_restrictions"


def _relay_check_found(view: ParameterView) -> bool:
    classes = set(view.items("smtpd_restriction_classes"))
    return any(_has_required(view, view.get(name), classes) for name in _relay_lists(view)[0])


def missing_relay_check(view: ParameterView) -> tuple[str, Location | None] | None:
    """The fatal error of an smtpd whose relay and recipient lists lack a working relay check
    (None also where a class loop kills smtpd before it can tell: startup_error says so)."""
    try:
        if _relay_check_found(view):
            return None
    except ClassLoop:
        return None
    lists, where = _relay_lists(view)
    names = ", ".join(REQUIRED[:-1]) + " or " + REQUIRED[-1]
    location = next((loc for name in lists if (loc := view.location(name)) is not None), None)
    return f"fatal: in parameter {where}, specify at least one working instance of: {names}", location


class ClassLoop(Exception):
    """has_required() entered a restriction class it is already inside."""

    def __init__(self, loop: list[str]) -> None:
        self.loop = loop


def _has_required(view: ParameterView, value: str, classes: set[str]) -> bool:
    """has_required(): depth first through restriction classes, `permit` ending the list it is in.
    smtpd follows a class inside itself without end (ClassLoop: it dies of a stack overflow).
    Walked with a stack of its own, however deep the classes are nested."""
    frames: list[tuple[list[str], int]] = [(split_list(value), 0)]
    path: list[str] = []  # the class each frame after the first walks
    while frames:
        words, i = frames.pop()
        if i >= len(words) or words[i].lower() == "permit":
            if path:
                path.pop()
            continue
        word = words[i].lower()
        if word == "warn_if_reject" and i + 1 < len(words):
            frames.append((words, i + 2))
            continue
        if word in REQUIRED:
            return True
        frames.append((words, i + 1))
        if words[i] in classes:
            if words[i] in path:
                raise ClassLoop([*path[path.index(words[i]):], words[i]])
            path.append(words[i])
            frames.append((split_list(view.get(words[i])), 0))
    return False


def _decide(view: ParameterView, probe: Probe) -> tuple[Decision, Session | None]:
    """The decision, and the session that made it (None: smtpd never started one)."""
    fatal = startup_error(view)
    if fatal is not None:
        step = Step("startup", "smtpd_check_init", "error", fatal[0], fatal[1])
        return Decision("error", "startup", None, trace=[step]), None
    # Everything before RCPT TO is the same for every recipient: the relay search sends dozens of
    # recipient forms with one client, HELO and sender, so it is worked out once for them.
    others = _others(probe)
    cache = view.memo["opened"]
    opened = cache.get(others)
    if opened is None:
        opened = _keep_recent(cache, others, _opened(view, probe), IN_A_ROW)
    if isinstance(opened, tuple):
        decision, s = opened
        return Decision(decision.action, decision.stage, decision.reply, trace=list(decision.trace),
                        undecided=list(decision.undecided)), s
    s = opened.copy(probe)
    recipient = internal_form(probe.rcpt)
    if recipient.lower() == "postmaster":
        s.step("RCPT TO", "permit", "RFC 5321 requires plain <postmaster> to be accepted")
        return _done(s, "250 2.1.5 Ok", "rcpt"), s
    if not recipient or bad_syntax(s, recipient):
        s.step("RCPT TO", "reject", "trivial-rewrite finds the recipient address invalid")
        return _done(s, "501 5.1.3 Bad recipient address syntax", "rcpt"), s
    s.recipient = recipient
    reply = _check_rcpt(s, view.yes("smtpd_delay_reject"), others)
    return _done(s, reply or "250 2.1.5 Ok", "rcpt"), s


# A probe's fields but its recipient: what a session knows before RCPT TO.
_others = attrgetter(*(f.name for f in fields(Probe) if f.name != "rcpt"))

def _opened(view: ParameterView, probe: Probe) -> Session | tuple[Decision, Session]:
    """The session up to RCPT TO (its recipient not looked at), or the decision if it ends before (with
    the session that made it)."""
    s = Session(view, probe, False, probe.helo, internal_form(probe.sender) if probe.sender else "")
    s.evaluate = run_items
    s.stage = "connect"
    tls = _tls(s)
    s.authenticated = _authenticated(s, tls)
    milters = view.items("smtpd_milters")
    if milters:
        s.step("smtpd_milters", "not decided offline",
               f"{', '.join(milters)} also see(s) the transaction and may reject it; taken to accept",
               view.location("smtpd_milters"))
    delay = view.yes("smtpd_delay_reject")
    s.trace.append(_delay_step(view))
    if not delay:
        reply = _run_stage(s, "connect", "smtpd_client_restrictions", s.namaddr, CLIENT)
        if reply is not None:
            return _done(s, reply, "connect"), s
    s.stage = "helo"
    if probe.helo is not None and not delay:
        s.carried_defer = s.defer_if_permit
        reply = _run_stage(s, "helo", "smtpd_helo_restrictions", s.quoted_helo(), HELO)
        if reply is not None:
            return _done(s, reply, "helo"), s
    s.stage = "mail"
    if tls_mode(view) in ("encrypt",) and not tls:
        s.step(
            "smtpd_tls_security_level",
            "reject",
            "TLS is mandatory and the client did not STARTTLS",
            view.location("smtpd_tls_security_level") or view.location("smtpd_enforce_tls"),
        )
        return _done(s, "530 5.7.0 Must issue a STARTTLS command first", "mail"), s
    if view.yes("smtpd_helo_required") and probe.helo is None:
        s.step("smtpd_helo_required", "reject", "the client sent no HELO/EHLO", view.location("smtpd_helo_required"))
        return _done(s, "503 5.5.1 Error: send HELO/EHLO first", "mail"), s
    if s.sender and bad_syntax(s, s.sender):
        s.step("MAIL FROM", "reject", "trivial-rewrite finds the sender address invalid")
        return _done(s, "501 5.1.7 Bad sender address syntax", "mail"), s
    if not delay:
        reply = _run_stage(s, "mail", "smtpd_sender_restrictions", s.sender, SENDER)
        if reply is not None:
            return _done(s, reply, "mail"), s
    s.stage = "rcpt"
    return s


def _delay_step(view: ParameterView) -> Step:
    """The step saying when the client, HELO and sender lists run: made once per view, shared by the traces."""
    step = view.memo.get("delay step")
    if step is None:
        delay = view.yes("smtpd_delay_reject")
        step = view.memo["delay step"] = Step(
            "connect",
            "smtpd_delay_reject",
            "yes" if delay else "no",
            "client, HELO and sender restrictions wait until RCPT TO"
            if delay
            else "client, HELO and sender restrictions run at their own stage",
            view.location("smtpd_delay_reject"),
        )
    return step


def _tls(s: Session) -> bool:
    if not s.probe.tls:
        return tls_mode(s.view) == "wrapper"
    if not offers_tls(s.view):
        s.step(
            "STARTTLS",
            "unavailable",
            "this service offers no TLS: the session stays in plaintext",
            s.view.location("smtpd_tls_security_level"),
        )
        return False
    return True


def _authenticated(s: Session, tls: bool) -> bool:
    if s.probe.sasl_user is None:
        return False
    view = s.view
    where = view.location("smtpd_sasl_auth_enable")
    if not view.yes("smtpd_sasl_auth_enable"):
        s.step(
            "AUTH",
            "not offered",
            "smtpd_sasl_auth_enable is off for this service: the client stays unauthenticated",
            where,
        )
        return False
    if auth_needs_tls(view) and not tls:
        s.step("AUTH", "not offered", "AUTH is offered only after STARTTLS on this service", where)
        return False
    exceptions = view.get("smtpd_sasl_exceptions_networks").strip()
    if exceptions:
        try:
            if match_hosts(view, "smtpd_sasl_exceptions_networks", s.probe.client_name, s.probe.client).matched:
                s.step(
                    "AUTH",
                    "not offered",
                    "the client is in smtpd_sasl_exceptions_networks",
                    view.location("smtpd_sasl_exceptions_networks"),
                )
                return False
        except Undecided as exc:
            s.cannot_decide("smtpd_sasl_exceptions_networks", str(exc))
    s.step(
        "AUTH",
        "authenticated",
        f"the client logs in as {s.probe.sasl_user!r} (assuming the SASL backend "
        f"{view.get('smtpd_sasl_type')}:{view.get('smtpd_sasl_path')} accepts it)",
        where,
    )
    return True


def _done(s: Session, reply: str, stage: str) -> Decision:
    reply = soft_bounce(s, reply)
    return Decision(action_of(reply), stage, reply, trace=s.trace, undecided=s.undecided)


def _run_stage(s: Session, stage: str, param: str, reply_name: str, reply_class: str) -> str | None:
    """One list at its own protocol stage (smtpd_check_client/helo/mail); the reply if it rejects."""
    s.stage = stage
    s.warn_if_reject = s.recursion = 0
    s.defer_if_reject = None
    s.defer_if_permit = s.carried_defer
    status = _run_list(s, param, reply_name, reply_class)
    s.carried_defer = s.defer_if_permit
    return s.reply if status == REJECT else None


@dataclass
class _List:
    """A restriction list as a view runs it (kept per view: every decision runs two to five): ready to run,
    where it is set, whether it is Postfix's built-in value, and the steps saying how it ended."""

    param: str
    program: tuple[Ready, ...]  # its items ready to run (evaluate.program)
    location: Location | None
    built_in: bool
    # by stage and result: such a step says nothing else, so each is made once and shared by the traces
    # (a step is never changed once its list has run: _run_list marks only the steps its own items make)
    ends: dict[tuple[str, str], Step] = field(default_factory=dict)

    def end(self, stage: str, result: str, note: str) -> Step:
        found = self.ends.get((stage, result))
        if found is None:
            found = self.ends[(stage, result)] = Step(stage, self.param, result, note, self.location)
        return found


def _list_of(view: ParameterView, param: str) -> _List:
    """Restriction list `param` as this view runs it."""
    found = view.memo["run lists"].get(param)
    if found is None:
        found = view.memo["run lists"][param] = _List(param, class_program(view, param, IMPLICIT_ACCESS[param]),
                                                      view.location(param), view.origin(param) is None)
    return found


def _run_list(s: Session, param: str, reply_name: str, reply_class: str) -> str:
    run = _list_of(s.view, param)
    if not run.program:
        s.trace.append(run.end(s.stage, "empty", "nothing to check"))
        return DUNNO
    first = len(s.trace)
    try:
        status = generic(s, run.program, reply_name, reply_class, IMPLICIT_ACCESS[param])
    except ServerError as exc:
        status = exc.status
    if run.built_in:
        for step in s.trace[first:]:
            if step.location is None and not step.default_of:
                step.default_of = param
    result = action_of(s.reply or "") if status == REJECT else status if status != DUNNO else "no decision"
    s.trace.append(run.end(s.stage, result, "end of list" if status == DUNNO else ""))
    return status


def _check_rcpt(s: Session, delay: bool, others: tuple) -> str | None:
    """smtpd_check_rcpt(): delayed lists, then relay and recipient lists, defer_if_permit, unlisted."""
    view = s.view
    if delay:
        reply = _delayed(s, others)
        if reply is not None:
            return reply
    s.stage = "rcpt"
    s.warn_if_reject = s.recursion = 0
    s.defer_if_reject = None
    s.defer_if_permit = s.carried_defer
    status = DUNNO
    for param in _rcpt_lists(s):
        status = _run_list(s, param, s.recipient or "", RECIPIENT)
        if status == REJECT:
            break
    if status != REJECT and s.defer_if_permit is not None:
        d = s.defer_if_permit
        s.step("defer_if_permit", "defer", "an earlier defer_if_permit turns this permission into a deferral")
        status = reject(s, d.code, d.dsn, d.text)
    if status != REJECT and view.yes("smtpd_reject_unlisted_recipient") and not s.rcptmap_checked:
        status = unlisted(s, "smtpd_reject_unlisted_recipient")
    return s.reply if status == REJECT else None


@dataclass(frozen=True)
class _Delayed:
    """What the delayed client, HELO and sender lists added to a session that did not ask for its recipient."""

    trace: list[Step]
    undecided: list[str]
    carried_defer: Defer | None
    reply: str | None
    refused: bool
    helo_read: bool


def _delayed(s: Session, others: tuple) -> str | None:
    """The client, HELO and sender lists at RCPT TO; the reply if one rejects. Where they never looked at the
    recipient, what they did holds for every recipient of the same client, HELO and sender (kept per view)."""
    cache = s.view.memo["delayed"]
    known = cache.get(others)
    if known is not None:
        s.trace += known.trace
        s.undecided += known.undecided
        s.carried_defer, s.reply, s.stage, s.helo_read = known.carried_defer, known.reply, "rcpt", known.helo_read
        return known.reply if known.refused else None
    first, undecided, s.recipient_read = len(s.trace), len(s.undecided), False
    s.carried_defer = None
    reply = None
    for param, name, cls in (
        ("smtpd_client_restrictions", s.namaddr, CLIENT),
        ("smtpd_helo_restrictions", s.quoted_helo(), HELO),
        ("smtpd_sender_restrictions", s.sender, SENDER),
    ):
        if name is None:
            continue
        reply = _run_stage(s, "rcpt", param, name, cls)
        if reply is not None:
            break
    if not s.recipient_read:
        known = _Delayed(s.trace[first:], s.undecided[undecided:], s.carried_defer, s.reply, reply is not None,
                         s.helo_read)
        _keep_recent(cache, others, known, IN_A_ROW)
    return reply


def _relay_list_emulated(view: ParameterView) -> bool:
    """compatibility_level < 1 on 3.3+ with smtpd_relay_restrictions unset: no relay list is enforced."""
    return view.config.version >= (3, 3) and view.compat < (1,) and view.origin("smtpd_relay_restrictions") is None


def relay_gate_list(view: ParameterView) -> str:
    """The restriction list whose relay check (reject_unauth_destination) Postfix enforces for
    this service: smtpd_relay_restrictions where it is enforced and not empty, else the recipient list."""
    if view.config.version < (2, 10) or _relay_list_emulated(view) or not view.items("smtpd_relay_restrictions"):
        return "smtpd_recipient_restrictions"
    return "smtpd_relay_restrictions"


def _rcpt_lists(s: Session) -> tuple[str, ...]:
    view = s.view
    found = view.memo.get("rcpt lists")
    if found is None:  # kept per view: every decision asks
        found = view.memo["rcpt lists"] = _rcpt_order(view)
    lists, emulated = found
    if emulated:
        s.step(
            "smtpd_relay_restrictions",
            "compatibility",
            "compatibility_level < 1 and smtpd_relay_restrictions not set: Postfix evaluates "
            f"({FAKE_RELAY}) only to log a warning, so no relay list is enforced",
            view.location("compatibility_level"),
        )
    return lists


def _rcpt_order(view: ParameterView) -> tuple[tuple[str, ...], bool]:
    """The relay and recipient lists in the order smtpd runs them, and whether the relay list is only emulated."""
    version = view.config.version
    if version < (2, 10):
        return ("smtpd_recipient_restrictions",), False
    if _relay_list_emulated(view):
        return ("smtpd_recipient_restrictions",), True
    relay_first = version < (3, 3) or (version >= (3, 6) and view.yes("smtpd_relay_before_recipient_restrictions"))
    lists = ("smtpd_relay_restrictions", "smtpd_recipient_restrictions")
    return (lists if relay_first else lists[::-1]), False
