"""The SMTP transaction model, shared by every mail system: one transaction to decide (Probe), and the
decision (Decision) with the trace of steps (Step) that explains it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from mailcfg.asciidigits import digits
from mailcfg.findings import Location

ACTIONS = ("accept", "reject", "defer", "error")
STAGES = ("startup", "connect", "helo", "mail", "rcpt")


@dataclass(frozen=True)
class Probe:
    """What the client does: who it is, what it says, and where it connects."""

    client: str  # IP address of the SMTP client
    rcpt: str
    sender: str = ""
    helo: str | None = None  # None: the client sends no HELO/EHLO
    client_name: str | None = None  # verified reverse DNS name; None: "unknown"
    sasl_user: str | None = None  # the client authenticates as this login where AUTH is offered
    tls: bool = False  # STARTTLS done (or a wrapper-mode port)
    service: str | None = None  # master.cf service name
    port: int | None = None  # or the port it listens on


@dataclass(slots=True)
class Step:
    """One thing the engine consulted, in order, with where the setting is."""

    stage: str
    what: str  # the parameter, restriction or table consulted
    result: str  # what it gave: "permit", "reject", "dunno", "no match", "undecided", ...
    note: str = ""
    location: Location | None = None
    matched: str = ""  # the list pattern or table key that matched, when something matched
    default_of: str = ""  # the parameter whose built-in value holds this item (no file to point at)

    def to_json(self) -> dict:
        where = self.location
        return {"stage": self.stage, "what": self.what, "result": self.result, "note": self.note,
                "file": where.file if where else None, "line": where.line if where else None,
                "column": where.column if where else None, "matched": self.matched or None,
                "default_of": self.default_of or None}


@dataclass
class Decision:
    """What the server answers a transaction, and the steps that decided it."""

    action: str  # one of ACTIONS
    stage: str  # one of STAGES: where the answer was given
    reply: str | None  # the SMTP reply line, "250 2.1.5 Ok" on acceptance
    service: str | None = None
    trace: list[Step] = field(default_factory=list)
    undecided: list[str] = field(default_factory=list)  # what could not be decided offline

    @property
    def code(self) -> int | None:
        return int(self.reply[:3]) if self.reply and digits(self.reply[:3]) else None

    def to_json(self) -> dict:
        return {"decision": self.action, "stage": self.stage, "reply": self.reply, "service": self.service,
                "undecided": list(self.undecided), "trace": [s.to_json() for s in self.trace]}


def literal_helo(client: str) -> str:
    """The HELO a client without a name of its own sends: its address literal (RFC 5321 4.1.3)."""
    return f"[IPv6:{client}]" if ":" in client else f"[{client}]"


def probe_json(probe: Probe) -> dict:
    return {k: v for k, v in asdict(probe).items() if v not in (None, "", False) or k in ("client", "rcpt")}
