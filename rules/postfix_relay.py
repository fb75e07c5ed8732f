"""Relay verdicts from the decision engine: open relay, no relay check, users who cannot send,
and inbound mail refused. Each rule runs probes through the engine and reports only what it
decided; a probe that touches something not decidable offline (DNS, policy servers, tables
outside the snapshot) is never the basis of a finding, except a DNS check that can only refuse in
front of an outsider who is let through: an attacker picks an address that passes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from mailcfg.dependence import Dependency
from mailcfg.findings import Finding, Location, Severity
from mailcfg.fix import SAFE, UNSAFE, Fix
from mailcfg.postfix.config import PostfixConfig
from mailcfg.postfix.dependence import dependencies
from mailcfg.postfix.edit import RELOAD
from mailcfg.postfix.effective import ParameterView
from mailcfg.postfix.engine import decide_on, missing_relay_check, relay_gate_list, startup_error
from mailcfg.postfix.listedit import GATES, TRUSTED_CLIENTS, list_value, with_item_before, with_relay_gate
from mailcfg.postfix.mastercf import Service
from mailcfg.postfix.probes import (
    OUTSIDE_SENDER,
    OUTSIDE_V4,
    VICTIM,
    Attempt,
    attacker_attempts,
    final_domains,
    known_recipient,
    user_probe,
)
from mailcfg.postfix.restrictions import LISTS, lists_and_classes, parse, parse_value
from mailcfg.postfix.services import describe, port, public, view_of, views, where
from mailcfg.postfix.tls import offers_tls
from mailcfg.postfix.whatif import WhatIf, answers, differences, losers, trusted_clients
from mailcfg.roles import expects
from mailcfg.rule import Rule
from mailcfg.rules.postfix_syntax import restriction_errors
from mailcfg.transaction import Decision, Probe, Step

OPEN_RELAY = Rule(
    "postfix-open-relay", "An unauthenticated client on the internet can relay mail to other domains",
    Severity.ERROR, ("relay",), "postfix")
NO_RELAY_CHECK = Rule(
    "postfix-no-relay-check", "smtpd refuses to start or answers every recipient with a configuration error",
    Severity.ERROR, ("relay",), "postfix")
USERS_CANNOT_RELAY = Rule(
    "postfix-users-cannot-relay", "Authenticated users cannot send to other domains on any service",
    Severity.ERROR, ("relay", "auth"), "postfix")
INBOUND_REJECTED = Rule(
    "postfix-inbound-rejected", "Mail from the internet to this host's own domains is refused on port 25",
    Severity.WARNING, ("relay", "deliverability"), "postfix")

OUTSIDE_HELO = "mail.outside.example"


def _granted_by(decision: Decision) -> Step | None:
    """The restriction whose PERMIT let the recipient through (the last one at RCPT)."""
    permits = [s for s in decision.trace if s.result == "permit" and s.stage == "rcpt" and s.what not in LISTS]
    return permits[-1] if permits else None


def first_refusal(decision: Decision) -> Step | None:
    return next((s for s in reversed(decision.trace) if s.result in ("reject", "defer", "error")
                 and s.what not in LISTS), None)


@dataclass(frozen=True)
class Opening:
    """A transaction that relays: the probe, what the engine decided, and the permit that did it."""

    service: Service
    view: ParameterView
    attempt: Attempt
    decision: Decision
    grant: Step | None
    # DNS checks that can only refuse: the relay is open to every client they do not name, and an
    # attacker picks such an address
    unless: tuple[Dependency, ...] = ()


def open_relays(config: PostfixConfig) -> list[Opening]:
    """One relaying probe per public service and granting restriction (computed once per configuration)."""
    return config.remember("open_relays", lambda: _open_relays(config))


def _open_relays(config: PostfixConfig) -> list[Opening]:
    openings: list[Opening] = []
    for service, view in views(config):
        if not public(service, view) or startup_error(view) is not None:
            continue
        seen: set[str | None] = set()
        for attempt in attacker_attempts(view, service):
            decision = decide_on(view, attempt.probe)
            if decision.action != "accept":
                continue
            unless = tuple(dependencies(view, attempt.probe, decision)) if decision.undecided else ()
            if any(not d.refuses_only for d in unless):
                continue  # postfix-undecided names what the answer depends on
            grant = _granted_by(decision)
            if (grant.what if grant else None) not in seen:
                seen.add(grant.what if grant else None)
                openings.append(Opening(service, view, attempt, decision, grant, unless))
    return openings


@OPEN_RELAY.checker
def check_open_relay(config: PostfixConfig) -> Iterator[Finding]:
    for o in open_relays(config):
        p, step, view = o.attempt.probe, o.grant, o.view
        if step is not None:
            cause = f"let through by {step.what} ({step.note})"
            # a too-wide mynetworks is the setting to change, not the permit_mynetworks item
            location = (view.location("mynetworks") if step.what == "permit_mynetworks" else None) \
                or step.location or where(view, "smtpd_relay_restrictions")
        else:
            cause = "no restriction rejects it (the relay and recipient lists end without a reject)"
            location = where(view, "smtpd_relay_restrictions", "smtpd_recipient_restrictions")
        fix = relay_fix(config, o.service.name)
        loss = f"; {fix.summary.split('; ', 1)[1]}" if fix is not None and fix.safety == UNSAFE else ""
        yield OPEN_RELAY.finding(
            f"{describe(o.service, config)}: an outside client ({p.client}), not authenticated, can relay to "
            f"<{p.rcpt}> using {o.attempt.form} (HELO {p.helo}, MAIL FROM:<{p.sender}>); {cause}{_unless(o)}{loss}",
            location, service=o.service.name)


def _unless(o: Opening) -> str:
    if not o.unless:
        return ""
    checks = ", ".join(sorted({d.what for d in o.unless}))
    return f" (only the DNS check {checks} stands in the way, and an attacker picks an address that passes it)"


@NO_RELAY_CHECK.checker
def check_no_relay_check(config: PostfixConfig) -> Iterator[Finding]:
    for service, view in views(config):
        fatal = startup_error(view)
        if fatal is not None:
            yield NO_RELAY_CHECK.finding(
                f"{describe(service, view.config)}: smtpd exits at every connection with \"{fatal[0]}\"; master keeps "
                f"restarting it and no SMTP session succeeds", fatal[1] or service.location, service=service.name)
            continue
        probes = [_inbound(view, service.name, f"postmaster@{view.get('myhostname')}"),
                  Probe("127.0.0.1", VICTIM, OUTSIDE_SENDER, "localhost", service=service.name)]
        decisions = [decide_on(view, p) for p in probes]
        if all(d.action == "error" for d in decisions):
            step = first_refusal(decisions[0])
            if step is not None and step.location is not None and _syntax_error(config, step):
                continue  # postfix-syntax reports the cause once, with this among its consequences
            why = step.note if step else "server configuration error"
            yield NO_RELAY_CHECK.finding(
                f"{describe(service, view.config)}: every recipient gets \"{decisions[0].reply}\" ({why})",
                step.location if step and step.location else service.location, service=service.name)


def _inbound(view: ParameterView, service: str, rcpt: str) -> Probe:
    """A well-behaved mail server on the internet: a verified name, an FQDN HELO, STARTTLS when offered."""
    return Probe(OUTSIDE_V4[0], rcpt, OUTSIDE_SENDER, OUTSIDE_HELO, client_name=OUTSIDE_HELO,
                 tls=offers_tls(view), service=service)


@dataclass(frozen=True)
class Trial:
    """One transaction a rule asked the engine about, on one service."""

    view: ParameterView
    probe: Probe
    decision: Decision


def user_trials(config: PostfixConfig) -> list[Trial]:
    """A logged-in mail client sending out, on every public service that offers AUTH (computed once per
    configuration)."""
    return config.remember("user_trials", lambda: [
        Trial(view, probe, decide_on(view, probe))
        for service, view in views(config) if public(service, view) and view.yes("smtpd_sasl_auth_enable")
        for probe in [user_probe(view, service.name)]])


@USERS_CANNOT_RELAY.checker
def check_users_cannot_relay(config: PostfixConfig) -> Iterator[Finding]:
    trials = user_trials(config)
    if not trials or any(t.decision.action == "accept" or t.decision.undecided for t in trials):
        return
    trial = sorted(trials, key=lambda t: _submission_rank(t.view))[0]
    decision, service = trial.decision, trial.view.service
    assert service is not None
    step = first_refusal(decision)
    if step is not None and decision.action == "error" and _syntax_error(config, step):
        return  # a restriction smtpd cannot run: postfix-syntax reports it, with this consequence
    reason = f"; {step.what}: {step.note}" if step and step.note else ""
    answer = f"gets \"{decision.reply}\"" if decision.reply else "gets no reply (smtpd cannot start)"
    yield USERS_CANNOT_RELAY.finding(
        f"an authenticated user cannot send to other domains on any service; on {describe(service, config)} a "
        f"logged-in client {answer}{reason}",
        (step.location if step and step.location else None) or service.location, service=service.name)


def _syntax_error(config: PostfixConfig, step: Step) -> bool:
    """The refusal is a server configuration error that postfix-syntax reports at the same place."""
    return step.location in restriction_errors(config)


def consequences(config: PostfixConfig, location: Location) -> list[str]:
    """What a restriction smtpd cannot run, at `location`, does: the services where every recipient
    gets a configuration error through it, and logged-in users who can send nowhere because of it."""
    effects = []
    for service, view in views(config):
        if startup_error(view) is not None:
            continue
        decision = decide_on(view, _inbound(view, service.name, f"postmaster@{view.get('myhostname')}"))
        step = first_refusal(decision)
        if decision.action == "error" and step is not None and step.location == location:
            effects.append(f"{describe(service, config)} answers every recipient \"{decision.reply}\"")
    trials = user_trials(config)
    steps = [first_refusal(t.decision) for t in trials]
    if trials and all(t.decision.action != "accept" and not t.decision.undecided for t in trials) \
            and any(s is not None and s.location == location for s in steps):
        effects.append("no service lets a logged-in user send to other domains")
    return effects


def _submission_rank(view: ParameterView) -> int:
    number = port(view.config, view.service) if view.service else None
    return {587: 0, 465: 1, 25: 2}.get(number or 0, 3)


def inbound_refusals(config: PostfixConfig) -> list[Trial]:
    """Mail from the internet to the host's own domains that port 25 refuses (one per service);
    none on a host whose roles say it is no MX."""
    refusals: list[Trial] = []
    if not expects(config.snapshot.facts.roles, "mx"):
        return refusals
    for service, view in views(config):
        if port(config, service) != 25 or not public(service, view) or startup_error(view) is not None:
            continue
        for domain in _receiving_domains(view):
            probe = _inbound(view, service.name, known_recipient(view, domain))
            decision = decide_on(view, probe)
            if decision.action not in ("accept", "error") and not decision.undecided:
                refusals.append(Trial(view, probe, decision))
                break
    return refusals


@INBOUND_REJECTED.checker
def check_inbound_rejected(config: PostfixConfig) -> Iterator[Finding]:
    for trial in inbound_refusals(config):
        service, decision = trial.view.service, trial.decision
        assert service is not None
        step = first_refusal(decision)
        location: Location = (step.location if step and step.location else None) or service.location
        reason = f" by {step.what} ({step.note})" if step else ""
        domain = trial.probe.rcpt.rsplit("@", 1)[-1]
        yield INBOUND_REJECTED.finding(
            f"{describe(service, config)}: mail from the internet to <{trial.probe.rcpt}> is refused with "
            f"\"{decision.reply}\"{reason}; this host receives mail for {domain}",
            location, service=service.name)


def _receiving_domains(view: ParameterView) -> list[str]:
    """Domains beyond the host's own names: what makes it a host that receives mail."""
    own = {view.get("myhostname").lower(), "localhost", f"localhost.{view.get('mydomain')}".lower()}
    return [d for d in final_domains(view) if d.lower() not in own]



@OPEN_RELAY.fixer
def fix_open_relay(config: PostfixConfig, finding: Finding) -> Fix | None:
    return relay_fix(config, finding.service)


def relay_fix(config: PostfixConfig, service: str | None) -> Fix | None:
    """The open-relay fix of `service` (computed once per configuration)."""
    return config.remember(("relay_fix", service), lambda: _relay_fix(config, service))


def _relay_fix(config: PostfixConfig, service: str | None) -> Fix | None:
    """Put the relay check before the first item that can permit an outsider. Unsafe when that takes
    relaying away from an identity the configuration names (a HELO name, sender, client or recipient
    in an access table): the summary says who, and what to do for them instead."""
    view = view_of(config, service)
    if view is None:
        return None
    lv = list_value(view, relay_gate_list(view))
    grants = [o.grant for o in open_relays(config) if o.service.name == service and o.grant is not None]
    if grants and all(g.what in TRUSTED_CLIENTS for g in grants):
        return None  # mynetworks or SASL lets the outsider in: their own rules' fixes, not the list order
    at = next((k for g in grants for k, item in enumerate(lv.items) if item.text == g.what), None)
    words = with_relay_gate(lv.items, at)
    if words is None:  # the check already comes first: the opening is elsewhere (mynetworks, SASL, ...)
        return None
    # The clients the admin trusts must get the answers they get now. Some may have relayed only
    # through the permit that now comes after the check (a bare `permit`, say): their own permit
    # goes right before the check, as Postfix's default has it. If they would still be answered
    # differently (a table that refuses some of them now comes after their permit), no fix.
    gate = next(k for k, w in enumerate(words) if w.lower() in GATES)
    now = answers(view, trusted_clients(view))
    for probe, was in differences(view, {lv.holder: ", ".join(words)}, now):
        permit = "permit_sasl_authenticated" if probe.sasl_user else "permit_mynetworks"
        if was == "accept" and permit not in (w.lower() for w in words[:gate]):
            words.insert(gate, permit)
            gate += 1
    if differences(view, {lv.holder: ", ".join(words)}, now):
        return None
    summary = f"{lv.holder}: reject mail to other domains before anything can permit it ({', '.join(words)})"
    lose = losers(view, {lv.holder: ", ".join(words)})
    if lose:
        instead = "list their addresses in mynetworks, or have them authenticate"
        if any(who.startswith("recipient") for who in lose):
            instead += "; list a recipient domain to relay to in relay_domains"
        summary += f"; the fix takes relaying away from {', '.join(lose)} ({instead})"
    return Fix(OPEN_RELAY.id, UNSAFE if lose else SAFE, summary, (lv.set(words),), RELOAD)


@NO_RELAY_CHECK.fixer
def fix_no_relay_check(config: PostfixConfig, finding: Finding) -> Fix | None:
    """The missing relay check added (a misspelt restriction is postfix-syntax's fix)."""
    view = view_of(config, finding.service)
    if view is None:
        return None
    fatal = startup_error(view)
    if fatal is not None:
        if fatal != missing_relay_check(view):  # another fatal error (an undefined class) comes first
            return None
        # Postfix's own default order: trusted clients (as far as the list lacks them), then the check
        lv = list_value(view, relay_gate_list(view))
        trusted = ["permit_mynetworks"] + (["permit_sasl_authenticated"] if view.yes("smtpd_sasl_auth_enable") else [])
        names = {i.name for i in lv.items}
        if names & set(TRUSTED_CLIENTS):  # the list says whom it trusts: only the check is missing
            trusted = []
        items = parse_value(view, ", ".join(trusted + lv.words))
        words = with_relay_gate(items)
        return None if words is None else Fix(
            NO_RELAY_CHECK.id, SAFE, f"{lv.holder}: add the relay check smtpd requires ({', '.join(words)})",
            (lv.set(words),), RELOAD)
    return None


@USERS_CANNOT_RELAY.fixer
def fix_users_cannot_relay(config: PostfixConfig, finding: Finding) -> Fix | None:
    """permit_sasl_authenticated before the item that refused the logged-in user, in that list."""
    trial = next((t for t in user_trials(config) if t.view.service and t.view.service.name == finding.service), None)
    step = first_refusal(trial.decision) if trial else None
    if trial is None or step is None or "login_mismatch" in step.what:
        return None
    view = trial.view
    for name in lists_and_classes(view):
        lv = list_value(view, name)
        for k, item in enumerate(lv.items):
            if item.text != step.what:
                continue
            words = with_item_before(lv.items, "permit_sasl_authenticated", k)
            if words is None:
                return None  # already trusted there: something else refuses
            return Fix(USERS_CANNOT_RELAY.id, SAFE, f"{lv.holder}: let logged-in users through before "
                       f"{item.text} ({', '.join(words)})", (lv.set(words),), RELOAD)
    return None


@INBOUND_REJECTED.fixer
def fix_inbound_rejected(config: PostfixConfig, finding: Finding) -> Fix | None:
    """permit_auth_destination just before the unconditional reject or defer that refuses mail to the
    host's own domains (as when that mail only came in through a mynetworks that trusted everyone).
    Unsafe: the list's author may have meant the host to receive no mail from the internet."""
    trial = next((t for t in inbound_refusals(config) if t.view.service and t.view.service.name == finding.service),
                 None)
    step = first_refusal(trial.decision) if trial is not None else None
    if trial is None or step is None or step.what.lower() not in ("reject", "defer"):
        return None  # a table entry or a check refuses it: what the admin chose, not a list that ends too early
    view = trial.view
    for name in lists_and_classes(view):
        lv = list_value(view, name)  # the value as written where it is set, which the fix edits
        for k, item in enumerate(parse(view, name)):
            if item.location != step.location or k >= len(lv.items) or lv.items[k].text != item.text:
                continue
            words = with_item_before(lv.items, "permit_auth_destination", k)
            if words is None or decide_on(WhatIf(view, {lv.holder: ", ".join(words)}), trial.probe).action != "accept":
                return None
            return Fix(INBOUND_REJECTED.id, UNSAFE, f"{lv.holder}: accept mail to this host's own domains before "
                       f"{item.text} ({', '.join(words)})", (lv.set(words),), RELOAD)
    return None
