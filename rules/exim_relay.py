"""Exim relay control: who may send through the server to other domains, and who may not."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from mailcfg.exim.acl import missing_acl
from mailcfg.exim.config import EximConfig
from mailcfg.exim.lists import split_list
from mailcfg.exim.parse import NamedList
from mailcfg.exim.probes import Trial, outsider_trials, user_trial
from mailcfg.findings import Finding, Location, Severity
from mailcfg.postfix.probe import Decision
from mailcfg.rule import Rule
from mailcfg.trust import judge

OPEN_RELAY = Rule("exim-open-relay", "An outside client can relay mail to other domains", Severity.ERROR,
                  ("relay",), "exim")
NO_RCPT_ACL = Rule("exim-no-rcpt-acl", "No usable RCPT ACL: Exim refuses every recipient", Severity.ERROR,
                   ("relay", "deliverability"), "exim")
RELAY_FROM_ANY = Rule("exim-relay-from-any", "relay_from_hosts trusts public address space", Severity.ERROR,
                      ("relay",), "exim")
USERS_CANNOT_RELAY = Rule("exim-users-cannot-relay", "Logged-in users are refused when they send to other domains",
                          Severity.ERROR, ("relay", "auth", "deliverability"), "exim")


def _granted_by(decision: Decision) -> Location | None:
    """Where the statement that accepted stands."""
    for step in reversed(decision.trace):
        if step.result in ("accept", "discard") and step.location is not None:
            return step.location
    return None


def _refused_by(decision: Decision) -> Location | None:
    for step in reversed(decision.trace):
        if step.result in ("deny", "defer", "drop", "error") and step.location is not None:
            return step.location
    return None


def open_relays(config: EximConfig) -> list[Trial]:
    """One decided, accepted outsider attempt per port."""
    found: dict[int | None, Trial] = {}
    for trial in outsider_trials(config):
        if trial.decision.action == "accept" and not trial.decision.undecided and trial.probe.port not in found:
            found[trial.probe.port] = trial
    return list(found.values())


def describe(trial: Trial) -> str:
    p = trial.probe
    sender = f"<{p.sender}>"
    return (f"{p.client} on port {p.port}{' after STARTTLS' if p.tls else ''}, MAIL FROM:{sender}, "
            f"RCPT TO:<{p.rcpt}>")


@OPEN_RELAY.checker
def check_open_relay(config: EximConfig) -> Iterator[Finding]:
    if config.error is not None:
        return
    for trial in open_relays(config):
        where = _granted_by(trial.decision)
        what = f" by the statement at {where.file}:{where.line}" if where else ""
        yield OPEN_RELAY.finding(f"open relay: an outside client ({describe(trial)}) gets "
                                 f"\"{trial.decision.reply}\"{what}", where, service=str(trial.probe.port))


@NO_RCPT_ACL.checker
def check_no_rcpt_acl(config: EximConfig) -> Iterator[Finding]:
    if config.error is not None:
        return
    setting = config.setting("acl_smtp_rcpt")
    if setting is None or not setting.value.strip():
        where = setting.origin.location if setting else Location(config.parsed.read.files[0] if
                                                                 config.parsed.read.files else None)
        yield NO_RCPT_ACL.finding("acl_smtp_rcpt is not set: Exim refuses every recipient with \"550 "
                                  "Administrative prohibition\", so no mail is received over SMTP", where)
        return
    why = missing_acl(config, "acl_smtp_rcpt")
    if why:
        yield NO_RCPT_ACL.finding(why, setting.origin.location)


def relay_hosts_list(config: EximConfig) -> NamedList | None:
    return config.parsed.lists.get(("host", "relay_from_hosts"))


def wide_items(config: EximConfig) -> list[tuple[str, Severity, str]]:
    """(item, severity, why) for each relay_from_hosts item that trusts too much."""
    named = relay_hosts_list(config)
    if named is None:
        return []
    found = []
    for raw in split_list(named.value):
        if raw.startswith("!"):
            continue
        if raw.strip() == "*":
            found.append((raw, Severity.ERROR, "every host, the whole Internet"))
            continue
        if raw.strip() in ("+include_unknown", "+include_defer"):
            found.append((raw, Severity.ERROR, "any client whose name or address lookup fails, which an "
                                               "attacker can arrange"))
            continue
        try:
            net = ipaddress.ip_network(raw.strip(), strict=False)
        except ValueError:
            continue
        verdict = judge(net)
        if verdict:
            found.append((raw, verdict[0], verdict[1]))
    return found


def relay_nets_location(config: EximConfig) -> Location | None:
    """Where relay_from_hosts is really set: Debian's dc_relay_nets when the list comes from it."""
    named = relay_hosts_list(config)
    if named is None:
        return None
    if config.debian is not None and "dc_relay_nets" in config.debian.settings:
        source = config.sources.get(named.origin.file)
        raw = source.line_text(named.origin.line) if source else ""
        if "MAIN_RELAY_NETS" in raw:
            return config.debian.settings["dc_relay_nets"].origin.location
    return named.origin.location


@RELAY_FROM_ANY.checker
def check_relay_from_any(config: EximConfig) -> Iterator[Finding]:
    if config.error is not None:
        return
    where = relay_nets_location(config)
    via = "relay_from_hosts"
    if config.debian is not None and "dc_relay_nets" in config.debian.settings and \
            where == config.debian.settings["dc_relay_nets"].origin.location:
        via = "dc_relay_nets (which becomes relay_from_hosts)"
    for item, severity, why in wide_items(config):
        yield RELAY_FROM_ANY.finding(f"{via} trusts {item!r} to relay without logging in: {why}", where,
                                     severity=severity)


def logged_in(trial: Trial) -> bool:
    return any(step.result == "authenticated" for step in trial.decision.trace)


@USERS_CANNOT_RELAY.checker
def check_users_cannot_relay(config: EximConfig) -> Iterator[Finding]:
    if config.error is not None:
        return
    trial = user_trial(config)
    if not logged_in(trial) or trial.decision.action == "accept" or trial.decision.undecided:
        return
    where = _refused_by(trial.decision)
    yield USERS_CANNOT_RELAY.finding(
        f"a user logged in on port {trial.probe.port} gets \"{trial.decision.reply}\" for "
        f"<{trial.probe.rcpt}>: the RCPT ACL refuses authenticated clients before accepting them", where,
        service=str(trial.probe.port))
