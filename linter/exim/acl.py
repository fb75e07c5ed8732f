"""Running an Exim ACL for one SMTP command, as acl_check_internal and acl_check_condition do.

Statements in order; each one's conditions and modifiers in order until one fails; the verb decides
what the outcome means. A condition this model cannot decide is recorded and taken as not met, so a
decision that depended on it says so and rules do not build on it.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING, NamedTuple

from mailcfg.exim.expand import expand, truth
from mailcfg.exim.lines import Origin
from mailcfg.exim.match import Host, ListError, answer_for_any, match_list, may_answer_for_any
from mailcfg.exim.parse import Acl, AclItem, Statement, inline_acl
from mailcfg.exim.routing import verify_address
from mailcfg.findings import Location
from mailcfg.transaction import Step

if TYPE_CHECKING:
    from mailcfg.exim.config import EximConfig
    from mailcfg.exim.session import Session

OK, FAIL, DEFER, ERROR, DISCARD, DROP = "ok", "fail", "defer", "error", "discard", "drop"
# Where the statement's `message` is used, by verb and outcome (acl.c's msgcond)
_MESSAGE_USED = {"accept": (OK, FAIL, DROP), "defer": (OK,), "deny": (OK,), "discard": (OK, FAIL, DROP),
                 "drop": (OK,), "require": (FAIL, DROP), "warn": ()}
# Conditions that need what only the live server has: DNS lists, rate counters, content scanners...
_LIVE = {"dnslists", "ratelimit", "spf", "spf_guess", "dkim_signers", "dkim_status", "dmarc_status", "malware",
         "spam", "regex", "mime_regex", "decode", "dcc", "seen"}


@dataclass
class AclResult:
    """How an ACL ended: its return code, message and the statement that ended it."""

    rc: str  # OK (accept), FAIL (deny), DEFER, ERROR, DISCARD or DROP
    message: str | None = None  # the user message, when one applies
    statement: Statement | None = None  # the statement that ended the ACL; None at the implicit deny
    acl: str = ""  # the ACL's name


def run_acl(session: Session, where: str, text: str, origin: Origin | None, level: int = 0) -> AclResult:
    """The ACL named (or written inline) by `text`, already expanded, run for the command at `where`."""
    if level > 20:
        session.step(where, f'ACL "{text}"', "error", "ACL nested too deep: possible loop", origin)
        return AclResult(ERROR, None, None, text)
    text = text.strip()
    found = _found(session, where, text, origin)
    if isinstance(found, AclResult):
        return found
    name, statements = found
    trace = session.trace
    for ready in statements:
        steps = ready.went_on.get(where)
        if steps is not None:  # a statement that goes on whatever the probe: its steps, as it left them
            session.endpass_seen = False  # as _statement leaves it
            trace.extend(steps)
            continue
        mark = len(trace)
        rc, message = _statement(session, where, ready, level)
        ends = ready.ends.get(rc)
        if ends is None and session.endpass_seen and ready.ends_after_endpass:
            ends = rc  # conditions that fail after endpass end the ACL as they are
        # its step, made once for each stage and ending and shared by the decisions' traces (steps are records,
        # never changed; a statement belongs to one ACL, whose name the ending step says)
        step = ready.steps.get((where, ends))
        if step is None:
            step = ready.steps[where, ends] = Step(where, ready.text, "next", "", ready.location) if ends is None \
                else Step(where, ready.text, _WORD[ends], f"end of {name}", ready.location)
        trace.append(step)
        if ends is not None:
            return AclResult(ends, message, ready.statement, name)
        if ready.lists is not None and _answered_for_any(session, ready.lists):
            ready.went_on[where] = tuple(trace[mark:])
    session.step(where, name, "deny", "end of the ACL: implicit deny", origin)
    return AclResult(FAIL, None, None, name)


def _found(session: Session, where: str, text: str, origin: Origin | None
           ) -> tuple[str, tuple[_Ready, ...]] | AclResult:
    """(name, statements ready to run) of the ACL `text` names or writes inline, with the trace's step for
    it; how the ACL ends when it cannot run or has no statements."""
    config = session.config
    ready = session.acls.get(text)
    if ready is None and " " not in text and text in config.parsed.acls:
        acl = config.parsed.acls[text]
        ready = session.acls[text] = _ReadyAcl(acl, _ready(acl, per_configuration=True))
    if ready is not None:
        session.trace.append(ready.runs(where))
        if not ready.statements:
            session.step(where, f'ACL "{text}"', "deny", "the ACL is empty: implicit deny", ready.acl.origin)
            return AclResult(FAIL, None, None, text)
        return text, ready.statements
    if " " not in text and text.startswith("/"):
        session.undecided_step(where, f"ACL file {text}", "ACLs read from files are not evaluated offline", origin,
                               branch=False)
        return AclResult(DEFER, None, None, text)
    statements = _inline(text, origin)
    if statements is None:
        session.step(where, f'ACL "{text}"', "error",
                     "no ACL has this name, and as inline ACL text it does not parse", origin)
        return AclResult(ERROR, None, None, "inline ACL")
    return "inline ACL", statements


@dataclass
class _ReadyAcl:
    """A named ACL ready to run: its statements, and the step that says it runs in each stage's trace."""

    acl: Acl
    statements: tuple[_Ready, ...]
    # the step, by stage, as each first runs the ACL (shared by the decisions' traces as its statements' are)
    run_steps: dict[str, Step] = field(default_factory=dict)

    def runs(self, where: str) -> Step:
        """The step that says the ACL runs for the command at `where`."""
        step = self.run_steps.get(where)
        if step is None:
            step = self.run_steps[where] = Step(where, f'ACL "{self.acl.name}"', "run", "", self.acl.origin.location)
        return step


@functools.lru_cache(maxsize=256)  # a pure function, bounded: an option's text may come from an expansion
def _inline(text: str, origin: Origin | None) -> tuple[_Ready, ...] | None:
    """An ACL written in an option, ready to run; None when it does not parse."""
    inline = inline_acl(text, origin or Origin("(inline ACL)", 0))
    return _ready(inline, per_configuration=False) if inline is not None else None


class _Ready(NamedTuple):
    """A statement as run_acl runs it, worked out once (per configuration for a named ACL, per text for an
    inline one): each item with what checks it (None for a modifier), and what its verb makes of an outcome."""

    statement: Statement
    checks: tuple[tuple[Check | None, AclItem], ...]
    text: str
    location: Location
    ends: dict[str, str]  # the conditions' outcome -> how it ends the ACL (absent: on to the next statement)
    ends_after_endpass: bool  # any outcome ends it once `endpass` is passed (accept, discard)
    message_used: tuple[str, ...]  # the outcomes whose reply the statement's `message` gives
    # the trace's step by stage and how it ends the ACL (None: it lets the ACL go on), as each is first needed
    steps: dict[tuple[str, str | None], Step]
    # (kind, text) of its list conditions, when nothing else in it reads the probe or changes the session;
    # None otherwise, and in an inline ACL (whose statements serve every configuration)
    lists: tuple[tuple[str, str], ...] | None
    # by stage, the steps it left going on when its lists' answers hold for every subject (see match_list):
    # it goes on so for every probe of the configuration
    went_on: dict[str, tuple[Step, ...]]


def _ready(acl: Acl, per_configuration: bool) -> tuple[_Ready, ...]:
    """The ACL's statements ready to run."""
    return tuple(_Ready(statement, tuple((_check(item), item) for item in statement.items),
                        str(statement), statement.origin.location, _ENDS[statement.verb],
                        statement.verb in ("accept", "discard"), _MESSAGE_USED[statement.verb], {},
                        _lists(statement) if per_configuration else None, {})
                 for statement in acl.statements)


def _lists(statement: Statement) -> tuple[tuple[str, str], ...] | None:
    """(kind, text) of the statement's list conditions when it has no other condition, and no modifier that
    changes the session (set, endpass) or a message it would expand while going on (accept, discard when a
    condition fails); None otherwise, and when a list's items read the subject whatever the probe.
    sender_domains is not one: it reads whether there is a sender."""
    verb = statement.verb
    expands_going_on = any(rc in _MESSAGE_USED[verb] and rc not in _ENDS[verb] for rc in (OK, FAIL))
    if any(item.name in ("set", "endpass") or (item.name == "message" and expands_going_on)
           for item in statement.items):
        return None
    conditions = [item for item in statement.items if not item.modifier]
    if not all(item.name in _SUBJECTS and item.name != "sender_domains" for item in conditions):
        return None
    lists = tuple((_SUBJECTS[item.name][0], item.value) for item in conditions)
    return lists if all(may_answer_for_any(kind, text) for kind, text in lists) else None


def _answered_for_any(session: Session, lists: tuple[tuple[str, str], ...]) -> bool:
    """Whether every list has an answer that holds for every subject, and decides (a list left undecided
    takes the session's branch)."""
    for kind, text in lists:
        outcome = answer_for_any(session.env, kind, text)
        if outcome is None or outcome.result is None:
            return False
    return True


def _check(item: AclItem) -> Check | None:
    """What answers a condition (None for a modifier); a list condition's check keeps the steps it leaves."""
    if item.modifier:
        return None
    if item.name in _SUBJECTS:
        return functools.partial(_listed, {})
    return _CONDITIONS.get(item.name, _not_evaluated)


TEMPORARY = "Temporary local problem - please try later"
# acl_check_internal: what each verb makes of its conditions' outcome when that ends the ACL (absent: on to
# the next statement): an error always, a deferral but for warn, and the verb's own
_ENDS: dict[str, dict[str, str]] = {
    verb: {ERROR: ERROR, **({} if verb == "warn" else {DEFER: DEFER}), **own} for verb, own in {
        "accept": {OK: OK, DISCARD: DISCARD}, "discard": {OK: DISCARD, DISCARD: DISCARD}, "defer": {OK: DEFER},
        "deny": {OK: FAIL}, "drop": {OK: DROP}, "require": {FAIL: FAIL, DISCARD: DISCARD, DROP: DROP},
        "warn": {}}.items()}
_WORD = {OK: "accept", FAIL: "deny", DEFER: "defer", ERROR: "error", DISCARD: "discard", DROP: "drop"}


def _statement(session: Session, where: str, ready: _Ready, level: int) -> tuple[str, str | None]:
    """acl_check_condition: the statement's items in order; (rc, the user message that applies)."""
    session.endpass_seen = False
    message: str | None = None
    verified_message: str | None = None  # a message a failed verification supplies
    rc = OK
    for check, item in ready.checks:
        if check is None:  # a modifier
            if item.name == "message":
                message = item.value
            elif item.name == "endpass":
                session.endpass_seen = True
            elif item.name == "set":
                session.set_variable(item)
            continue
        result, supplied = check(session, where, item, level)
        if supplied:
            verified_message = supplied
        if item.negated and result in (OK, FAIL):
            result = FAIL if result == OK else OK
        if result != OK:
            rc = result
            break
    if session.endpass_seen and rc == OK:
        message = None
    if rc not in ready.message_used:
        return rc, None
    if ready.ends_after_endpass and rc == OK:  # accept, discard: a condition's own message is dropped then
        verified_message = None
    if message is not None:
        expanded = expand(message, session.context)
        if expanded.value:
            return rc, expanded.value
        if expanded.value is None and not expanded.forced_fail:
            session.undecided_step(where, "message", expanded.why, ready.statement.origin, branch=False)
    return rc, verified_message


# The list conditions: the kind of list, and the session's attribute that holds what is looked for in it
# (attrgetter: read without a Python call of its own, for every list condition of every decision)
_SUBJECTS: dict[str, tuple[str, Callable[[Session], Host | str]]] = {
    "hosts": ("host", attrgetter("client")),
    "domains": ("domain", attrgetter("rcpt_domain")),
    "local_parts": ("localpart", attrgetter("rcpt_local")),
    "senders": ("address", attrgetter("sender")),
    "sender_domains": ("domain", attrgetter("sender_domain")),
    "recipients": ("address", attrgetter("rcpt")),
}
# What answers a condition: (session, where, item, nesting level) -> (outcome, a user message it supplies)
Check = Callable[["Session", str, AclItem, int], tuple[str, str | None]]


def _listed(steps: dict[tuple[str, bool, str], Step], session: Session, where: str, item: AclItem, level: int
            ) -> tuple[str, str | None]:
    """hosts, domains, local_parts, senders, sender_domains, recipients: the subject in the list. Its answer's
    step is made once per stage, answer and matching item, and shared as run_acl shares its own."""
    kind, subject_of = _SUBJECTS[item.name]
    subject = subject_of(session)
    if item.name == "sender_domains" and not session.sender:
        session.step(where, item.text, "no match", "the sender is empty: it has no domain", item.origin)
        return FAIL, None
    env = session.recipient_env() if item.name == "domains" else session.env
    try:
        outcome = match_list(env, kind, item.value, subject)
    except ListError as exc:
        session.step(where, item.text, "error", str(exc), item.origin)
        return DEFER, None
    if outcome.result is None:
        return _unknown(session, where, item.text, outcome.undecided, item.origin)
    key = (where, outcome.result, outcome.item)
    step = steps.get(key)
    if step is None:
        step = Step(where, item.text, "match" if outcome.result else "no match", "", item.origin.location,
                    outcome.item)
        if len(steps) < _STEPS_KEPT:
            steps[key] = step
    session.trace.append(step)
    return (OK if outcome.result else FAIL), None


_STEPS_KEPT = 64  # a list's items may come from an expansion that reads the probe: a list's steps stay bounded


def _live(session: Session, where: str, item: AclItem, level: int) -> tuple[str, None]:
    return _unknown(session, where, item.text, "needs the live server (DNS, counters or message content)",
                    item.origin)


def _not_evaluated(session: Session, where: str, item: AclItem, level: int) -> tuple[str, None]:
    return _unknown(session, where, item.text, "this condition is not evaluated offline", item.origin)


def _authenticated(session: Session, where: str, item: AclItem, level: int) -> tuple[str, None]:
    if session.authenticated is None:
        session.step(where, item.text, "no match", "the session is not authenticated", item.origin)
        return FAIL, None
    outcome = match_list(session.env, "localpart", item.value, session.authenticated.name)
    session.step(where, item.text, "match" if outcome.result else "no match",
                 f"authenticated by {session.authenticated.name}", item.origin)
    return (OK if outcome.result else FAIL), None


def _encrypted(session: Session, where: str, item: AclItem, level: int) -> tuple[str, None]:
    if not session.tls:
        session.step(where, item.text, "no match", "the session is not encrypted", item.origin)
        return FAIL, None
    if item.value.strip() == "*":
        session.step(where, item.text, "match", "the session is encrypted", item.origin)
        return OK, None
    return _unknown(session, where, item.text, "the cipher the client negotiates is not known", item.origin)


def _condition(session: Session, where: str, item: AclItem, level: int) -> tuple[str, None]:
    """`condition =`: the expansion's truth."""
    expanded = expand(item.value, session.context)
    if expanded.error:
        session.step(where, item.text, "error", expanded.why, item.origin)
        return ERROR, None
    if expanded.forced_fail:
        session.step(where, item.text, "match", "forced expansion failure: the condition is ignored", item.origin)
        return OK, None
    if expanded.value is None:
        return _unknown(session, where, item.text, expanded.why, item.origin)
    result = truth(expanded.value)
    if result is None:
        session.step(where, item.text, "defer", f"{expanded.value!r} is neither true nor false", item.origin)
        return DEFER, None
    session.step(where, item.text, "true" if result else "false", f"expands to {expanded.value!r}", item.origin)
    return (OK if result else FAIL), None


def _nested(session: Session, where: str, item: AclItem, level: int) -> tuple[str, str | None]:
    """`acl =`: another ACL, whose outcome is the condition's."""
    expanded = expand(item.value, session.context)
    if expanded.value is None:
        return _unknown(session, where, item.text, expanded.why, item.origin)
    nested = run_acl(session, where, expanded.value, item.origin, level + 1)
    return nested.rc, nested.message


def _verify(session: Session, where: str, item: AclItem, level: int) -> tuple[str, str | None]:
    what, _, options = item.value.strip().partition("/")
    what = what.strip().lower()
    if "callout" in options:
        return _unknown(session, where, item.text, "a callout asks another server", item.origin)
    if what == "recipient":
        verdict = verify_address(session, session.rcpt, where, item.origin, recipient=True)
    elif what == "sender":
        if not session.sender:
            session.step(where, item.text, "ok", "the sender is empty (a bounce): verification succeeds",
                         item.origin)
            return OK, None
        verdict = verify_address(session, session.sender, where, item.origin, recipient=False)
    elif what == "reverse_host_lookup":
        if session.probe.client_name is None:
            session.step(where, item.text, "fail", "the client has no reverse DNS name", item.origin)
            return FAIL, None
        return _unknown(session, where, item.text, "the forward lookup of the client's name needs DNS", item.origin)
    elif what == "helo":
        return _verify_helo(session, where, item)
    elif what == "certificate":
        if not session.tls:
            session.step(where, item.text, "fail", "the session is not encrypted", item.origin)
            return FAIL, None
        return _unknown(session, where, item.text, "the client's certificate is not known", item.origin)
    else:
        return _unknown(session, where, item.text, f"verify = {what} is not evaluated offline", item.origin)
    if verdict.rc != "undecided":
        session.step(where, item.text, verdict.rc, verdict.note, item.origin)
    if verdict.rc == "undecided":
        return _unknown(session, where, item.text, verdict.note, item.origin)
    if verdict.rc == "ok" or (verdict.rc == "defer" and "defer_ok" in options.split("/")):
        return OK, None
    if what == "sender":  # the reply then starts with what failed (smtp_handle_acl_fail)
        session.sender_failure = (session.sender, verdict.message or "")
        return (DEFER, "Could not complete sender verify") if verdict.rc == "defer" else (FAIL, "Sender verify failed")
    return (DEFER if verdict.rc == "defer" else FAIL), verdict.message


_CONDITIONS: dict[str, Check] = {**dict.fromkeys(_LIVE, _live),
                                 "authenticated": _authenticated, "encrypted": _encrypted, "condition": _condition,
                                 "acl": _nested, "verify": _verify}


def _verify_helo(session: Session, where: str, item: AclItem) -> tuple[str, str | None]:
    """smtp_verify_helo: an address literal must start with the client's address (a prefix test, as
    Exim makes it, on the address as the daemon writes it: IPv6 compressed, `[IPv6:...]` never
    matches); a name must be the client's reverse name or resolve to its address in DNS."""
    helo, client = session.probe.helo, session.probe.client
    with contextlib.suppress(ValueError):
        client = ipaddress.ip_address(client).compressed
    if helo is None:
        session.step(where, item.text, "fail", "the client sent no HELO or EHLO", item.origin)
        return FAIL, None
    if helo.startswith("["):
        ok = helo[1:].startswith(client) or (client.lower().startswith("::ffff:") and helo[1:].startswith(client[7:]))
        session.step(where, item.text, "ok" if ok else "fail",
                     f"the HELO literal {'starts' if ok else 'does not start'} with the client's address {client}",
                     item.origin)
        return (OK if ok else FAIL), None
    if session.probe.client_name and session.probe.client_name.lower() == helo.lower():
        session.step(where, item.text, "ok", "the HELO name is the client's reverse DNS name", item.origin)
        return OK, None
    if not session.world.dns:
        session.step(where, item.text, "fail", "DNS does not answer here: the HELO name cannot be verified",
                     item.origin)
        return FAIL, None
    return _unknown(session, where, item.text, f"whether {helo} resolves to {client} is a question for DNS",
                    item.origin)


def _unknown(session: Session, where: str, what: str, why: str, origin: Origin | None) -> tuple[str, None]:
    """A condition the model cannot decide: met or not as the session's current branch says."""
    return (OK if session.undecided_step(where, what, why, origin) else FAIL), None


def missing_acl(config: EximConfig, option: str) -> str | None:
    """Why the ACL `option` names cannot run (no ACL of that name, and not inline ACL text), or None."""
    setting = config.setting(option)
    if setting is None or "$" in setting.value:
        return None
    name = setting.value.strip()
    if not name or name in config.parsed.acls or name.startswith("/"):
        return None
    if inline_acl(name, setting.origin) is not None:
        return None
    return (f"{option} names {name!r}, but no ACL has that name and it does not parse as inline ACL "
            "text: every such command gets \"451 Temporary local problem - please try later\"")


def reply_for(result: AclResult, default_code: str, session: Session) -> str:
    """The reply Exim sends when an ACL refuses (smtp_handle_acl_fail); lines joined by newlines."""
    if result.rc in (DEFER, ERROR):
        # Details of a temporary failure are given only for the `defer` verb (acl_temp_details)
        chosen = result.rc == DEFER and result.statement is not None and result.statement.verb == "defer"
        return with_code("451", result.message if chosen and result.message else TEMPORARY)
    lines = []
    if session.sender_failure and session.sender_failure[1]:
        address, why = session.sender_failure
        lines = [f"Verification failed for <{address}>", *why.splitlines()]
    return with_code(default_code, result.message or "Administrative prohibition", lines)


_CODE = re.compile(r"^[0-9]{3}\s(?:[0-9]\.[0-9]{1,3}\.[0-9]{1,3}\s)?")


def with_code(code: str, text: str, before: list[str] | None = None) -> str:
    """`text` as Exim sends it (smtp_message_code, smtp_respond): a code (and enhanced code) at its start
    replaces `code` when the first digit agrees and is dropped when not; each line carries it."""
    return _with_code(code, text, tuple(before or ()))


@functools.lru_cache(maxsize=1024)  # the same few replies, for every probe
def _with_code(code: str, text: str, before: tuple[str, ...]) -> str:
    prefix = code + " "
    m = _CODE.match(text)
    if m:
        if text[0] == code[0]:
            prefix = m[0]
        text = text[m.end():]
    base, enhanced = prefix[:3], prefix[4:]
    lines = [*before, *(text.split("\n") or [""])]
    return "\n".join(f"{base}{' ' if i == len(lines) - 1 else '-'}{enhanced}{line}" for i, line in enumerate(lines))
