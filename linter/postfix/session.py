"""The state smtpd keeps while it decides one transaction, and how it words its answers.

Replies are built the way smtpd_check_reject() builds them: warn_if_reject turns a rejection
into a logged warning, an armed defer_if_reject turns a 5xx into 450, soft_bounce turns 5xx into
4xx, and the DSN class always follows the reply code.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

from mailcfg.asciidigits import digits
from mailcfg.findings import Location
from mailcfg.postfix.address import Resolved
from mailcfg.postfix.effective import ParameterView
from mailcfg.postfix.restrictions import Item
from mailcfg.transaction import Probe, Step

PERMIT, DUNNO, REJECT = "permit", "dunno", "reject"
CLIENT, HELO, SENDER, RECIPIENT = "Client host", "Helo command", "Sender address", "Recipient address"
REVERSE_CLIENT, SASL_LOGIN = "Unverified Client host", "SASL login name"  # smtpd_dsn_fix.h
SOFTWARE = "software"  # configuration errors: warn_if_reject cannot turn them into warnings


class ServerError(Exception):
    """smtpd's longjmp out of the restriction lists with a 4.3.5 (or 4.3.0) reply."""

    def __init__(self, status: str) -> None:
        self.status = status


class Crash(Exception):
    """smtpd dies in the middle of the transaction (a restriction class loop overflows its stack):
    the client sees the connection close without a reply."""

    def __init__(self, session: Session) -> None:
        self.session = session


@dataclass
class Defer:
    """A deferral held back (defer_if_permit, defer_if_reject)."""

    code: int
    dsn: str
    text: str


@dataclass
class Session:
    """One SMTP session as smtpd keeps it while the restriction lists run."""

    view: ParameterView
    probe: Probe
    authenticated: bool
    helo_name: str | None  # the HELO name: read it as `helo`, which notes that it was read
    sender: str
    rcpt: str | None = None  # the recipient: read it as `recipient`, which notes that it was read
    stage: str = "rcpt"
    trace: list[Step] = field(default_factory=list)
    undecided: list[str] = field(default_factory=list)
    warn_if_reject: int = 0
    recursion: int = 0
    classes: tuple[str, ...] = ()  # restriction classes being run, since the last table result
    defer_if_permit: Defer | None = None
    defer_if_reject: Defer | None = None
    carried_defer: Defer | None = None  # defer_if_permit raised by an earlier stage
    reply: str | None = None
    rcptmap_checked: bool = False
    # runs a restriction list written out, for access-table results (access.py cannot import the evaluator)
    evaluate: Callable[..., str] | None = field(default=None, repr=False)
    # whether anything asked for the recipient (what the engine decided without it holds for every recipient)
    recipient_read: bool = False
    helo_read: bool = False  # the same for the HELO name (quoting it in a reply counts)
    # trivial-rewrite's answers by address, shared with the copies for other recipients: a decision asks
    # for the sender's and the recipient's several times (the view's answers are the same for every session)
    resolved: dict[str, Resolved] = field(default_factory=dict, repr=False)

    @property
    def recipient(self) -> str | None:
        self.recipient_read = True
        return self.rcpt

    @property
    def helo(self) -> str | None:
        self.helo_read = True
        return self.helo_name

    def quoted_helo(self) -> str | None:
        """The HELO name as the name a reply quotes (the HELO list's): read only if a reply quotes it."""
        return None if self.helo_name is None else Quoted(self.helo_name, self)

    @recipient.setter
    def recipient(self, value: str | None) -> None:
        self.rcpt = value

    def copy(self, probe: Probe) -> Session:
        """This session's state for `probe` (another recipient), to go on from where this one stands."""
        new = object.__new__(Session)  # not through __init__: called for every probe of a relay search
        new.__dict__.update(self.__dict__)
        new.probe, new.trace, new.undecided = probe, list(self.trace), list(self.undecided)
        return new

    @property
    def name(self) -> str:
        return self.probe.client_name or "unknown"

    @property
    def namaddr(self) -> str:
        return f"{self.name}[{self.probe.client}]"

    def step(self, what: str, result: str, note: str = "", location: Location | None = None, matched: str = "") -> None:
        self.trace.append(Step(self.stage, what, result, note, location, matched))

    def cannot_decide(self, what: str, why: str, location: Location | None = None) -> None:
        self.undecided.append(f"{what}: {why}")
        self.step(what, "undecided", f"{why}; not decided offline, taken as no match", location)

    def code(self, name: str) -> int:
        text = self.view.get(name).strip()
        return int(text) if digits(text) else 0


class Quoted(str):
    """A HELO name a reply may quote: formatting it into a text notes that the session read it."""

    def __new__(cls, text: str, session: Session) -> Quoted:
        quoted = super().__new__(cls, text)
        quoted.session = session
        return quoted

    def __format__(self, spec: str) -> str:
        self.session.helo_read = True
        return format(str(self), spec)


def reject(s: Session, code: int, dsn: str, text: str, klass: str = "policy") -> str:
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
        return reject(s, d.code, d.dsn, d.text)
    reply = soft_bounce(s, reply)
    reply = reply[:4] + reply[0] + reply[5:] if digits(reply[4:5]) else reply
    if warn:
        s.step("warn_if_reject", "warning", f"would reply {reply!r}; logs reject_warning instead")
        return DUNNO
    s.reply = reply
    return REJECT


def server_error(s: Session, why: str, location: Location | None = None) -> NoReturn:
    s.step("server configuration error", "error", why, location)
    reject(s, 451, "4.3.5", "Server configuration error", SOFTWARE)
    raise ServerError(REJECT)


def permit(s: Session, item: Item, why: str, location: Location | None = None, matched: str = "") -> str:
    s.step(item.text, "permit", why, location or item.location, matched)
    return PERMIT


def refuse(s: Session, item: Item, why: str, code: int, dsn: str, text: str, result: str = "reject") -> str:
    """The item refuses the request: its step in the trace, then smtpd's reply."""
    s.step(item.text, result, why, item.location)
    return reject(s, code, dsn, text)


def action_of(reply: str) -> str:
    """accept, reject, defer or error (451 4.3.5: smtpd's configuration error), from a reply line."""
    if reply.startswith("2"):
        return "accept"
    if reply.startswith("5"):
        return "reject"
    return "error" if reply.startswith("451 4.3.5") else "defer"


def soft_bounce(s: Session, reply: str) -> str:
    """soft_bounce turns every 5xx reply into 4xx, DSN class included (smtpd_chat_reply)."""
    if reply.startswith("5") and s.view.yes("soft_bounce"):
        reply = "4" + reply[1:]
        if reply[4:5] == "5":
            reply = reply[:4] + "4" + reply[5:]
    return reply


def dsn_split(text: str, default: str) -> tuple[str, str]:
    """dsn_split(): a leading x.y.z in the text replaces the default DSN."""
    m = re.match(r"([245]\.[0-9]{1,3}\.[0-9]{1,3})(\s+|$)", text)
    if m:
        return m.group(1), text[m.end() :]
    return default, text
