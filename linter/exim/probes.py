"""Probes the Exim rules send through the engine: the ports Exim listens on, outsiders, users.

An outsider chooses its sender, its HELO, whether to start TLS and which of the server's ports to
use; it cannot choose its address or log in. A user logs in on the submission port where there is
one, with TLS where the server offers it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from mailcfg.asciidigits import digits
from mailcfg.exim.chosen import chosen
from mailcfg.exim.config import EximConfig
from mailcfg.exim.engine import decide, recipient_domain, start_tls
from mailcfg.exim.lists import split_list
from mailcfg.exim.services import SERVICE_PORTS
from mailcfg.exim.session import Session, World
from mailcfg.outsiders import FOREIGN, OUTSIDE_SENDER, OUTSIDE_V4, OUTSIDE_V6, USER, VICTIM
from mailcfg.transaction import Decision, Probe, literal_helo

OUTSIDE_HELO = "client.outside.example"
LITERAL = "[192.0.2.254]"  # another host's address literal (documentation range)


@dataclass
class Trial:
    """One attempt of the open-relay search, its decision and the trick it uses."""

    probe: Probe
    decision: Decision
    form: str = "a plain foreign address"  # the trick the attempt uses


def listening_ports(config: EximConfig) -> list[int]:
    """daemon_smtp_ports, ports named in local_interfaces, and -oX in /etc/default/exim4 (Debian)."""
    ports: list[int] = []
    words = split_list(config.option("daemon_smtp_ports") or "smtp")
    for item in split_list(config.option("local_interfaces")):
        m = re.search(r"(?:\]:|\.)([0-9]+)$", item)
        if m and (item.count(".") == 4 or "]:" in item):
            words.append(m[1])
    for line in config.read_lines("/etc/default/exim4") or []:
        m = re.search(r"-oX\s+([0-9:,]+)", line)
        if m and line.lstrip().startswith("SMTPLISTENEROPTIONS"):
            words += re.split(r"[:,]", m[1])
    for word in words:
        port = SERVICE_PORTS.get(word.strip()) if not digits(word.strip()) else int(word)
        if port and port not in ports:
            ports.append(port)
    return ports or [25]


def submission_port(config: EximConfig) -> int:
    ports = listening_ports(config)
    return next((p for p in (587, 465) if p in ports), ports[0])


def local_domain_names(config: EximConfig) -> list[str]:
    """The plain names in local_domains (no patterns, lookups or `@`)."""
    named = config.parsed.lists.get(("domain", "local_domains"))
    if named is None:
        return []
    return [d for d in split_list(named.value) if re.fullmatch(r"[a-z0-9.-]+\.[a-z0-9-]+", d.lower())]


def recipient_forms(config: EximConfig, world: World | None = None) -> list[tuple[str, str]]:
    """(recipient as written, what trick it is) for the forms open-relay scanners try that Exim would
    send to another host: each is kept only where Exim reads it as an address there (a % hack that
    this configuration does not undo, or a syntax error, is no relay attempt)."""
    local = local_domain_names(config)[:1] or [config.primary_hostname or "localhost"]
    forms = [(VICTIM, "a plain foreign address"), (f"victim@{FOREIGN.upper()}", "an upper-case domain"),
             (f"{VICTIM}.", "a trailing dot"), (f" victim@{LITERAL}", "an address literal without angle brackets "
                                                 "(Exim takes it whatever allow_domain_literals says)"),
             (f"victim@{LITERAL}", "an address literal")]
    for domain in local:
        forms += [(f"@{domain}:{VICTIM}", f"a source route through {domain}"),
                  (f" @{domain},@{domain}:{VICTIM}", f"a source route through {domain} without angle brackets"),
                  (f"victim%{FOREIGN}@{domain}", f"the % hack through {domain}")]
    forms += [(f"{lp}@{FOREIGN}", f"a local part the ACL names ({lp})") for lp in chosen(config).local_parts]
    kept = []
    for written, form in forms:
        target = LITERAL if LITERAL in written else FOREIGN
        if recipient_domain(config, Probe(OUTSIDE_V4[0], written, OUTSIDE_SENDER, OUTSIDE_HELO), world) == target:
            kept.append((written, form))
    return kept


def outsider_trials(config: EximConfig, world: World | None = None) -> list[Trial]:
    """An outsider's attempts to relay, from each port, IPv4 and IPv6, with and without TLS: the
    scanners' recipient forms, then one changed choice at a time: an empty, a local and any sender
    the ACLs name; where something decides by HELO, the server's own names and addresses, the
    client's address literal and any HELO name the ACLs name."""
    return config.remember(("outsider_trials", world), lambda: _outsider_trials(config, world))


def _outsider_trials(config: EximConfig, world: World | None) -> list[Trial]:
    found = chosen(config)
    local = local_domain_names(config)[:1]
    senders = ["", *(f"postmaster@{d}" for d in local), *found.senders]
    server = [i.address for i in config.snapshot.facts.interfaces or []][:1]
    forms = recipient_forms(config, world)
    trials = []
    for port in listening_ports(config):
        for client in (OUTSIDE_V4[0], OUTSIDE_V6[0]):
            helos = [config.primary_hostname or "", "localhost", literal_helo(client), *local,
                     *(literal_helo(a) for a in server), *found.helos] if found.mentions_helo else []
            for tls in (False, True):
                base = Probe(client, VICTIM, OUTSIDE_SENDER, OUTSIDE_HELO, tls=tls, port=port)
                # after STARTTLS: the plain attempt and the senders (TLS costs a handshake on a real server,
                # and the recipient forms and HELO names are read the same way with or without it)
                attempts = [(replace(base, rcpt=rcpt), form) for rcpt, form in (forms if not tls else forms[:1])]
                attempts += [(replace(base, sender=s), f"the sender <{s}>") for s in _unique(senders)]
                attempts += [(replace(base, helo=h), f"HELO {h}") for h in _unique(helos)
                             if h and h != OUTSIDE_HELO and not tls]
                trials += [Trial(probe, decide(config, probe, world), form) for probe, form in attempts]
    return trials


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def user_trial(config: EximConfig, world: World | None = None) -> Trial:
    """A logged-in user on the internet sending to a foreign domain, with STARTTLS where it is offered."""
    return config.remember(("user_trial", world), lambda: _user_trial(config, world))


def _user_trial(config: EximConfig, world: World | None) -> Trial:
    domains = local_domain_names(config)
    sender = f"{USER}@{domains[0]}" if domains else OUTSIDE_SENDER
    probe = Probe(OUTSIDE_V4[0], VICTIM, sender, OUTSIDE_HELO, sasl_user=USER, tls=True,
                  port=submission_port(config))
    session = Session(config, probe, world or World())
    start_tls(session)
    if not session.tls:  # a mail program set up for STARTTLS would stop here: this one sends in clear
        probe = replace(probe, tls=False)
    return Trial(probe, decide(config, probe, world))


def logged_in(trial: Trial) -> bool:
    """Whether the trial's client did log in (AUTH was offered and accepted)."""
    return any(step.result == "authenticated" for step in trial.decision.trace)
