"""Exim relay control: who may send through the server to other domains, and who may not."""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Iterator
from functools import partial

from mailcfg.edits import Edit, render
from mailcfg.exim.acl import missing_acl
from mailcfg.exim.address import argument
from mailcfg.exim.config import EximConfig
from mailcfg.exim.edit import exim_fix, insert_statements, set_list, set_main_option
from mailcfg.exim.engine import decide, recipient_domain
from mailcfg.exim.lists import split_list
from mailcfg.exim.match import in_list
from mailcfg.exim.parse import NamedList, Statement
from mailcfg.exim.probes import Trial, logged_in, outsider_trials, user_trial
from mailcfg.exim.services import service_name
from mailcfg.exim.session import Session, World
from mailcfg.exim.whatif import keeps_answers, legitimate, losers, named_identities
from mailcfg.findings import Finding, Location, Severity
from mailcfg.fix import SAFE, UNSAFE, Fix
from mailcfg.outsiders import VICTIM
from mailcfg.rule import Rule
from mailcfg.transaction import Decision, Probe
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


def open_relays(config: EximConfig, world: World | None = None) -> list[Trial]:
    """One decided, accepted outsider attempt per port (the check and each port's fix ask)."""
    return config.remember(("open_relays", world), lambda: _open_relays(config, world))


def _open_relays(config: EximConfig, world: World | None) -> list[Trial]:
    found: dict[int | None, Trial] = {}
    for trial in outsider_trials(config, world):
        if trial.decision.action == "accept" and not trial.decision.undecided and trial.probe.port not in found:
            found[trial.probe.port] = trial
    return list(found.values())


def describe(trial: Trial) -> str:
    p = trial.probe
    return (f"{p.client} on port {p.port}{' after STARTTLS' if p.tls else ''}, HELO {p.helo}, "
            f"MAIL FROM:{argument(p.sender)}, RCPT TO:{argument(p.rcpt)}: {trial.form}")


@OPEN_RELAY.checker
def check_open_relay(config: EximConfig) -> Iterator[Finding]:
    if config.error is not None:
        return
    for trial in open_relays(config):
        where = _granted_by(trial.decision)
        what = f" by the statement at {where.file}:{where.line}" if where else ""
        fix = relay_fix(config, service_name(trial.probe.port))
        loss = f"; {fix.summary.split('; ', 1)[1]}" if fix is not None and "; " in fix.summary else ""
        yield OPEN_RELAY.finding(f"open relay: an outside client ({describe(trial)}) gets "
                                 f"\"{trial.decision.reply}\"{what}{loss}", where,
                                 service=service_name(trial.probe.port))


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


def _relay_items(config: EximConfig) -> list[str]:
    """relay_from_hosts' items; on Debian when no configuration can be generated, dc_relay_nets' own."""
    named = relay_hosts_list(config)
    if named is not None:
        return split_list(named.value)
    if config.debian is not None and config.error is not None and "dc_relay_nets" in config.debian.settings:
        value = config.debian.settings["dc_relay_nets"].value
        return [i.strip() for i in value.split(";")] if ";" in value else split_list(value)
    return []


def wide_items(config: EximConfig) -> list[tuple[str, Severity, str]]:
    """(item, severity, why) for each relay_from_hosts item that trusts too much."""
    found = []
    for raw in _relay_items(config):
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
        dc = config.debian.settings.get("dc_relay_nets") if config.debian is not None else None
        return dc.origin.location if dc else None
    if config.debian is not None and "dc_relay_nets" in config.debian.settings:
        source = config.sources.get(named.origin.file)
        raw = source.line_text(named.origin.line) if source else ""
        if "MAIN_RELAY_NETS" in raw:
            return config.debian.settings["dc_relay_nets"].origin.location
    return named.origin.location


@RELAY_FROM_ANY.checker
def check_relay_from_any(config: EximConfig) -> Iterator[Finding]:
    where = relay_nets_location(config)
    via = "relay_from_hosts"
    if config.debian is not None and "dc_relay_nets" in config.debian.settings and \
            where == config.debian.settings["dc_relay_nets"].origin.location:
        via = "dc_relay_nets (which becomes relay_from_hosts)"
    for item, severity, why in wide_items(config):
        yield RELAY_FROM_ANY.finding(f"{via} trusts {item!r} to relay without logging in: {why}", where,
                                     severity=severity)


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
        service=service_name(trial.probe.port))


def _statement_at(config: EximConfig, where: Location | None) -> tuple[str, int] | None:
    """(ACL name, index) of the statement that starts at `where`."""
    if where is None:
        return None
    for acl in config.parsed.acls.values():
        for i, st in enumerate(acl.statements):
            if st.origin.file == where.file and st.origin.line == where.line:
                return acl.name, i
    return None


def _granting(config: EximConfig, probes: list[Probe]) -> list[Statement]:
    """The statements that accept the mail in `probes` today, in order, once each."""
    found: list[Statement] = []
    for probe in probes:
        decision = decide(config, probe)
        place = _statement_at(config, _granted_by(decision)) if decision.action == "accept" else None
        if place is not None:
            statement = config.parsed.acls[place[0]].statements[place[1]]
            if statement not in found:
                found.append(statement)
    return found


def _relay_gate(config: EximConfig) -> str | None:
    lists = [f"+{name}" for name in ("local_domains", "relay_to_domains") if ("domain", name) in config.parsed.lists]
    return " : ".join(lists) if "+local_domains" in lists else None


@OPEN_RELAY.fixer
def fix_open_relay(config: EximConfig, finding: Finding) -> Fix | None:
    return relay_fix(config, finding.service)


def relay_fix(config: EximConfig, service: str | None) -> Fix | None:
    """The open-relay fix for the outsider on `service` (computed once per configuration)."""
    return config.remember(("relay_fix", service), lambda: _relay_fix(config, service))


def _relay_fix(config: EximConfig, service: str | None) -> Fix | None:
    """The relay check (`require domains = +local_domains : +relay_to_domains`) right before the
    statement that let the outsider in, when every trusted client was accepted earlier. Unsafe when
    a client address or sender the ACL's `hosts`/`senders` conditions name loses relaying by it."""
    trial = next((t for t in open_relays(config) if service_name(t.probe.port) == service), None)
    gate = _relay_gate(config)
    if trial is None or gate is None:
        return None
    if _gate_matches(config, trial):
        return _narrow_relay_domains(config, trial)
    place = _statement_at(config, _granted_by(trial.decision))
    if place is None:
        return _rcpt_acl_named(config, OPEN_RELAY.id, legitimate(config))
    acl = config.parsed.acls[place[0]]
    statement = acl.statements[place[1]]
    check = ("require", ["message = relay not permitted", f"domains = {gate}"])
    users = ("accept", ["authenticated = *"])
    keep = legitimate(config)
    # Clients that relay through a later statement keep it: a copy goes before the check too.
    relaying = [p for p in keep if p.rcpt == VICTIM]
    later = [st for st in _granting(config, relaying) if st in acl.statements[place[1]:] and st is not statement]
    for statements in ([check], [users, check], [*later, check], [*later, users, check]):
        edit = insert_statements(config, statement, statements)
        if edit is not None and keeps_answers(config, (edit,), keep, refused=trial.probe):
            with_copies = (" (with the statements trusted clients relay through before it)"
                           if len(statements) > 1 else "")
            summary = f"add the relay check before the statement at {statement.origin}{with_copies}"
            lose = losers(config, (edit,), named_identities(config, place[0]))
            if lose:
                summary += (f"; the fix takes relaying away from {', '.join(lose)} (list their addresses in "
                            f"relay_from_hosts, or have them authenticate)")
            return exim_fix(config, OPEN_RELAY.id, UNSAFE if lose else SAFE, summary, (edit,))
    return None  # the check would stop mail that works today


def _gate_matches(config: EximConfig, trial: Trial) -> bool:
    """Whether the foreign recipient is in +local_domains : +relay_to_domains itself (a wildcard there)."""
    session = Session(config, trial.probe)
    gate = _relay_gate(config) or ""
    return bool(in_list(session.env, "domain", gate, recipient_domain(config, trial.probe) or ""))


def _narrow_relay_domains(config: EximConfig, trial: Trial) -> Fix | None:
    """relay_to_domains matches any domain: drop the items that match the foreign one (unsafe: mail
    for domains this host really relays to must then be listed)."""
    named = config.parsed.lists.get(("domain", "relay_to_domains"))
    if named is None:
        return None
    session = Session(config, trial.probe)
    domain = recipient_domain(config, trial.probe) or ""
    items = split_list(named.value)
    kept = [i for i in items if not i.startswith("!") and not in_list(session.env, "domain", i, domain)]
    if kept == items:
        return None
    result = set_list(config, named, kept)
    if result is None or not keeps_answers(config, (result[0],), legitimate(config)):
        return None  # routers or other checks depend on the wildcard: the admin must decide
    edit, where = result
    return exim_fix(config, OPEN_RELAY.id, UNSAFE, f"remove the items of {where} that match every domain", (edit,))


@RELAY_FROM_ANY.fixer
def fix_relay_from_any(config: EximConfig, finding: Finding) -> Fix | None:
    """Drop the public ranges from relay_from_hosts (loopback stays); clients there must log in."""
    named = relay_hosts_list(config)
    wide = [item for item, _, _ in wide_items(config)]
    if named is None or not wide:
        return None
    kept = [i for i in split_list(named.value) if i not in wide]
    if config.debian is None and not [i for i in kept if not i.startswith("!")]:
        kept = ["127.0.0.1", "::1"]
    result = set_list(config, named, kept)
    # clients in the removed ranges lose their trust by intent; everybody else must see no change
    keep = [p for p in legitimate(config, trusted=False) if not _in_any(p.client, wide)]
    if result is None or not keeps_answers(config, (result[0],), keep):
        return None
    edit, where = result
    return exim_fix(config, RELAY_FROM_ANY.id, UNSAFE, f"remove {', '.join(wide)} from {where}", (edit,))


def _in_any(client: str, items: list[str]) -> bool:
    address = ipaddress.ip_address(client)
    for item in items:
        if item.strip() in ("*", "+include_unknown", "+include_defer"):
            return True
        try:
            if address in ipaddress.ip_network(item.strip(), strict=False):
                return True
        except (ValueError, TypeError):
            continue
    return False


@USERS_CANNOT_RELAY.fixer
def fix_users_cannot_relay(config: EximConfig, finding: Finding) -> Fix | None:
    """`accept authenticated = *` right before the statement that refused the logged-in user."""
    trial = user_trial(config)
    if trial.decision.stage != "rcpt":
        return None
    place = _statement_at(config, _refused_by(trial.decision))
    if place is None:
        return None
    statement = config.parsed.acls[place[0]].statements[place[1]]
    edit = insert_statements(config, statement, [("accept", ["authenticated = *"])])
    if edit is None or not keeps_answers(config, (edit,), legitimate(config, users=False)):
        return None
    return exim_fix(config, USERS_CANNOT_RELAY.id, SAFE,
                    f"accept logged-in users before the statement at {statement.origin}", (edit,))


def _rcpt_acl_named(config: EximConfig, rule: str, keep: list) -> Fix | None:
    """acl_smtp_rcpt pointed at the configuration's one ACL with `rcpt` in its name (when it is set to
    something else, such as the inline ACL `accept`), if the mail in `keep` keeps its answers. Unsafe
    when it replaces an ACL: every check of the named one now applies, so recipients it refuses (a
    mailbox that does not exist, say) are refused where they were accepted."""
    rcpt = [n for n in config.parsed.acls if "rcpt" in n.lower()]
    setting = config.setting("acl_smtp_rcpt")
    if len(rcpt) != 1 or (setting is not None and setting.value.strip() == rcpt[0]):
        return None
    edit = set_main_option(config, "acl_smtp_rcpt", rcpt[0])
    if edit is None or not keeps_answers(config, (edit,), keep):
        return None
    return exim_fix(config, rule, SAFE if setting is None or not setting.value.strip() else UNSAFE,
               f"acl_smtp_rcpt = {rcpt[0]}", (edit,))


@NO_RCPT_ACL.fixer
def fix_no_rcpt_acl(config: EximConfig, finding: Finding) -> Fix | None:
    """Point acl_smtp_rcpt at the RCPT ACL the configuration has (the one its misspelt name is
    closest to), or add Exim's standard closed one."""
    setting = config.setting("acl_smtp_rcpt")
    names = list(config.parsed.acls)
    if setting is not None and setting.value.strip():
        close = difflib.get_close_matches(setting.value.strip(), names, n=2, cutoff=0.8)
        if len(close) != 1:
            return None
        edit = set_main_option(config, "acl_smtp_rcpt", close[0])
        return exim_fix(config, NO_RCPT_ACL.id, SAFE, f"acl_smtp_rcpt = {close[0]}", (edit,)) if edit else None
    rcpt = [n for n in names if "rcpt" in n.lower()]
    if len(rcpt) == 1:
        return _rcpt_acl_named(config, NO_RCPT_ACL.id, [])
    acl_section = config.parsed.read.sections.get("acls")
    gate = _relay_gate(config)
    if rcpt or acl_section is None or gate is None or "acl_check_rcpt" in names:
        return None
    option = set_main_option(config, "acl_smtp_rcpt", "acl_check_rcpt")
    if option is None:
        return None
    text = partial(render, "exim/rcpt_acl.j2", name="acl_check_rcpt", domains=gate,
                   relay_hosts=relay_hosts_list(config) is not None)
    acl = Edit(acl_section.file, acl_section.line + 1, acl_section.line, text)
    return exim_fix(config, NO_RCPT_ACL.id, SAFE, "acl_smtp_rcpt = acl_check_rcpt, a standard closed RCPT ACL",
               (option, acl))
