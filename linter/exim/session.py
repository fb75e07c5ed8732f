"""One SMTP session being decided: the probe, what the server knows so far, and the trace."""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field, replace

from mailcfg.exim.address import Split
from mailcfg.exim.config import EximConfig
from mailcfg.exim.expand import Context, expand
from mailcfg.exim.lines import Origin
from mailcfg.exim.match import Environment, Host, Scope, in_list
from mailcfg.exim.parse import AclItem, Driver
from mailcfg.transaction import Probe, Step

# What $tls_in_cipher holds for a TLS session in the model: Exim with GnuTLS names TLS 1.3 suites so.
TLS_CIPHER = "TLS1.3:TLS_AES_256_GCM_SHA384:256"


@dataclass(frozen=True)
class World:
    """What the network around the server answers, which no configuration shows."""

    dns: bool = True  # remote domains and host names resolve
    no_dns_verdict: str = "defer"  # what routing a remote domain gives when DNS does not answer


@dataclass(frozen=True)
class _Start:
    """What every session of one configuration starts from: worked out once, not for each decision."""

    variables: dict[str, str]  # the variables whose values no probe changes (copied into each session's)
    scope: Scope  # what list matching consults, and its answers (shared by the configuration's sessions)
    expansions: dict  # Context.answers, likewise
    acls: dict  # the named ACLs made ready to run, by name, as they are first run (acl.run_acl)

    @classmethod
    def of(cls, config: EximConfig) -> _Start:
        hostname = config.primary_hostname or ""
        variables = {"primary_hostname": hostname, "tls_in_cipher": "", "tls_cipher": "", "received_protocol": "esmtp",
                     "authenticated_id": "", "sender_host_authenticated": "", "authenticated_sender": "",
                     "sender_address": "", "sender_address_domain": "", "sender_address_local_part": "",
                     "rcpt_count": "0", "recipients_count": "0", "smtp_active_hostname": hostname,
                     # each session's own (set as it starts): a copy of this dictionary has room for them
                     "sender_host_address": "", "sender_host_name": "", "sender_helo_name": "",
                     "received_port": "", "interface_port": ""}
        interfaces = config.snapshot.facts.interfaces
        addresses = [i.address for i in interfaces] if interfaces is not None else None
        # /etc/hosts is read when a host list or a route first names a host, not for every configuration
        scope = Scope(config.parsed.lists, config.primary_hostname, addresses, lambda: config.hosts_file,
                      config.read_lines, config.snapshot.directory)
        return cls(variables, scope, {}, {})


@dataclass(slots=True, weakref_slot=True)
class Session:
    """One SMTP session as the ACLs see it, with its trace and its branch points."""

    config: EximConfig
    probe: Probe
    world: World = field(default_factory=World)
    trace: list[Step] = field(default_factory=list)
    undecided: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    choices: tuple[bool, ...] = ()  # the branch to take at each undecided point, in order (default: not met)
    authenticated: Driver | None = None
    tls: bool = False
    endpass_seen: bool = False
    points: int = 0  # undecided conditions met so far, each a branch point
    # what list conditions look for (plain attributes: read for every list condition of every decision)
    sender: str = ""  # MAIL FROM's address, once read ("" before, and for a bounce)
    sender_domain: str = ""  # its domain, lower case
    recipient: str = ""  # the recipient as the RCPT ACL sees it (route dropped, after the percent hack), once known
    recipient_parts: Split | None = None  # its local part (unquoted) and domain
    rcpt_local: str = ""  # $local_part: lower case, without quoting
    rcpt_domain: str = ""
    recipient_cache: dict[str, bool] | None = None  # named domain lists answered before a percent hack
    depth: int = 0  # redirections being followed
    accepted_with: str | None = None  # the message of the statement that accepted the last command
    sender_failure: tuple[str, str] | None = None  # (sender, why) once sender verification has failed
    context: Context = field(init=False)
    env: Environment = field(init=False)
    client: Host = field(init=False)  # the probe's client, as host lists see it
    acls: dict = field(init=False)  # _Start.acls

    def __post_init__(self) -> None:
        probe, config = self.probe, self.config
        self.client = Host(probe.client, probe.client_name)
        port = str(probe.port or 25)
        start = config.memo.get(_Start)  # as Memo.remember keeps it, without a new closure for each session
        if start is None:
            start = config.memo[_Start] = _Start.of(config)
        self.acls = start.acls
        variables = start.variables.copy()
        variables["sender_host_address"] = probe.client
        variables["sender_host_name"] = probe.client_name or ""
        variables["sender_helo_name"] = probe.helo or ""
        variables["received_port"] = variables["interface_port"] = port
        # The Context and Environment call back into the session through a weak reference: references both
        # ways would leave every finished session to the cycle collector (in a policy or relay search, a
        # collection every few decisions, each promoting the configuration's memos to be scanned again).
        me = weakref.ref(self)
        self.context = Context(variables, config.exists, config.read_lines,
                               lambda address, hosts: me()._host_in(address, hosts), start.expansions)
        self.env = Environment(start.scope, self.context, lambda text: me().assume(text), self.world.dns)

    def recipient_env(self) -> Environment:
        """Matching for the recipient's own domain, with the answers Exim cached for it."""
        return replace(self.env, domain_cache=self.recipient_cache) if self.recipient_cache is not None else self.env

    def _host_in(self, address: str, hosts: str) -> bool | None:
        return in_list(self.env, "host", hosts, Host(address, self.probe.client_name))

    def set_sender(self, sender: str) -> None:
        """MAIL FROM's address, read: as list conditions and routers see it, and in its variables."""
        local, at, domain = sender.rpartition("@")
        self.sender, self.sender_domain = sender, domain.lower() if at else ""
        self.context.variables.update({"sender_address": sender, "sender_address_domain": self.sender_domain,
                                       "sender_address_local_part": local})

    def set_recipient(self, recipient: str, parts: Split) -> None:
        """RCPT TO's address, read (and rewritten by the percent hack)."""
        self.recipient, self.recipient_parts = recipient, parts
        self.rcpt_local, self.rcpt_domain = parts.local_part.lower(), parts.domain

    @property
    def rcpt(self) -> str:
        return self.recipient or self.probe.rcpt

    def step(self, stage: str, what: str, result: str, note: str = "", origin: Origin | None = None,
             matched: str = "") -> None:
        self.trace.append(Step(stage, what, result, note, origin.location if origin else None, matched))

    def undecided_step(self, stage: str, what: str, why: str, origin: Origin | None, branch: bool = True) -> bool:
        """Record something the snapshot cannot decide. For a condition (`branch`), returns whether this
        run takes it as met: not, unless the engine is exploring the other branches (engine.decide)."""
        self.undecided.append(f"{what}: {why}")
        if not branch:
            self.step(stage, what, "undecided", f"{why}; not decided offline", origin)
            return False
        taken = self.choices[self.points] if self.points < len(self.choices) else False
        self.points += 1
        self.step(stage, what, "undecided", f"{why}; not decided offline, taken as {'met' if taken else 'not met'}",
                  origin)
        return taken

    def assume(self, text: str) -> None:
        """Something the snapshot cannot show, taken the way a careful admin would, and said in the trace."""
        if text not in self.assumptions:
            self.assumptions.append(text)
            self.step("assumption", text, "assumed")

    def set_variable(self, item: AclItem) -> None:
        """`set acl_m_x = value`: later conditions see the value when it is decidable."""
        name, _, value = item.value.partition("=")
        expanded = expand(value.strip(), self.context)
        if expanded.value is None:
            self.context.variables.pop(name.strip(), None)
        else:
            self.context.variables[name.strip()] = expanded.value
