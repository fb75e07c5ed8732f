"""Probes the Exim rules send through the engine: the ports Exim listens on, outsiders, users.

An outsider chooses its sender, its HELO, whether to start TLS and which of the server's ports to
use; it cannot choose its address or log in. A user logs in on the submission port where there is
one, with TLS where the server offers it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from mailcfg.exim.config import EximConfig
from mailcfg.exim.engine import decide, start_tls
from mailcfg.exim.lists import split_list
from mailcfg.exim.session import Session, World
from mailcfg.outsiders import OUTSIDE_SENDER, OUTSIDE_V4, OUTSIDE_V6, USER, VICTIM
from mailcfg.transaction import Decision, Probe

SERVICE_PORTS = {"smtp": 25, "submission": 587, "smtps": 465, "ssmtp": 465, "urd": 465}
OUTSIDE_HELO = "client.outside.example"


@dataclass
class Trial:
    probe: Probe
    decision: Decision


def listening_ports(config: EximConfig) -> list[int]:
    """daemon_smtp_ports, ports named in local_interfaces, and -oX in /etc/default/exim4 (Debian)."""
    ports: list[int] = []
    words = split_list(config.option("daemon_smtp_ports") or "smtp")
    for item in split_list(config.option("local_interfaces")):
        m = re.search(r"(?:\]:|\.)(\d+)$", item)
        if m and (item.count(".") == 4 or "]:" in item):
            words.append(m[1])
    for line in config.read_lines("/etc/default/exim4") or []:
        m = re.search(r"-oX\s+([0-9:,]+)", line)
        if m and line.lstrip().startswith("SMTPLISTENEROPTIONS"):
            words += re.split(r"[:,]", m[1])
    for word in words:
        port = SERVICE_PORTS.get(word.strip()) if not word.strip().isdigit() else int(word)
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


def outsider_trials(config: EximConfig, world: World | None = None) -> list[Trial]:
    """An outsider's attempts to relay: each port, IPv4 and IPv6, with and without TLS, with a
    foreign, an empty and (where there is one) a local sender."""
    local = local_domain_names(config)[:1]
    senders = [OUTSIDE_SENDER, ""] + [f"postmaster@{d}" for d in local]
    recipients = [VICTIM]
    if config.option("percent_hack_domains") and local:  # user%foreign@local is relayed to foreign
        recipients.append(VICTIM.replace("@", "%") + f"@{local[0]}")
    trials = []
    for port in listening_ports(config):
        for client in (OUTSIDE_V4[0], OUTSIDE_V6[0]):
            for tls in (False, True):
                for sender in senders:
                    for rcpt in recipients:
                        probe = Probe(client, rcpt, sender, OUTSIDE_HELO, tls=tls, port=port)
                        trials.append(Trial(probe, decide(config, probe, world)))
    return trials


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
