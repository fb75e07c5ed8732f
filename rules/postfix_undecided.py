"""Verdicts the snapshot cannot decide: the relay rules' transactions (outsiders relaying, users
sending out, mail from the internet coming in) whose answer depends on a table the snapshot lacks,
DNS, a policy service... One finding per missing piece, naming what it decides."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from mailcfg.dependence import Dependency, deciding
from mailcfg.findings import Finding, Severity
from mailcfg.postfix.config import PostfixConfig
from mailcfg.postfix.dependence import dependencies
from mailcfg.postfix.effective import ParameterView
from mailcfg.postfix.engine import decide_on, startup_error
from mailcfg.postfix.probes import attacker_attempts, known_recipient
from mailcfg.postfix.services import describe, port, public, views
from mailcfg.roles import expects
from mailcfg.rule import Rule
from mailcfg.rules.postfix_relay import _inbound, _receiving_domains, user_trials
from mailcfg.transaction import Probe

UNDECIDED = Rule(
    "postfix-undecided", "A relay verdict depends on something the snapshot lacks (a table, DNS, a policy service)",
    Severity.WARNING, ("relay",), "postfix")


@dataclass(frozen=True)
class Question:
    """What a rule asks the engine, on one service, and whether a client accepted there is legitimate."""

    text: str  # "whether outsiders can relay on service 'smtp' (port 25)"
    service: str | None
    legitimate: bool  # the client should be accepted: DNS checks that only refuse are taken to pass


def _questions(config: PostfixConfig) -> Iterator[tuple[Question, ParameterView, Probe]]:
    for service, view in views(config):
        if not public(service, view) or startup_error(view) is not None:
            continue
        name = describe(service, config)
        outsiders = Question(f"whether outsiders can relay on {name}", service.name, False)
        for attempt in attacker_attempts(view, service):
            yield outsiders, view, attempt.probe
        if port(config, service) == 25 and expects(config.snapshot.facts.roles, "mx"):
            for domain in _receiving_domains(view):
                question = Question(f"whether mail from the internet to {domain} is accepted on {name}",
                                    service.name, True)
                yield question, view, _inbound(view, service.name, known_recipient(view, domain))
    for trial in user_trials(config):
        service = trial.view.service
        assert service is not None
        question = Question(f"whether logged-in users can send to other domains on {describe(service, config)}",
                            service.name, True)
        yield question, trial.view, trial.probe


@UNDECIDED.checker
def check_undecided(config: PostfixConfig) -> Iterator[Finding]:
    found: dict[tuple[str, str], tuple[Dependency, dict[str, tuple[Question, str]]]] = {}
    for question, view, probe in _questions(config):
        decision = decide_on(view, probe)
        if not decision.undecided:
            continue
        deps = dependencies(view, probe, decision)
        for dep in deciding(deps, decision.action):
            if dep.what == "permit_mx_backup":
                continue  # postfix-permit-mx-backup reports it, with what the DNS could do (one cause, one finding)
            if dep.what == "address class" and not question.legitimate:
                continue  # a domain the tables would make this host's own is delivered here, not relayed
            _, asked = found.setdefault((dep.what, dep.piece), (dep, {}))
            asked.setdefault(question.text, (question, f"{decision.action} offline; {dep.outcomes()}"))
    for dep, asked in found.values():
        config.assume(f"{dep.name}: not decided offline, taken as no match")
        where = f" (named at {dep.where})" if dep.where else ""
        decides = "; and ".join(f"{text} ({outcome})" for text, (_, outcome) in asked.items())
        first = next(iter(asked.values()))[0]
        yield UNDECIDED.finding(f"{dep.name}{where}: the snapshot cannot show its answer, and it decides {decides}",
                                dep.location, service=first.service)
