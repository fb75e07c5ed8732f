"""Verdicts the snapshot cannot decide for Exim: outsiders relaying and logged-in users sending out,
when the answer depends on a file, a lookup, DNS or an expansion the snapshot cannot evaluate. One
finding per undecided condition, naming what it decides."""

from __future__ import annotations

from collections.abc import Iterator

from mailcfg.dependence import Dependency, deciding
from mailcfg.exim.config import EximConfig
from mailcfg.exim.dependence import dependencies
from mailcfg.exim.probes import Trial, logged_in, outsider_trials, user_trial
from mailcfg.exim.services import service_name
from mailcfg.findings import Finding, Severity
from mailcfg.rule import Rule

UNDECIDED = Rule(
    "exim-undecided", "A relay verdict depends on something the snapshot lacks (a file, a lookup, DNS)",
    Severity.WARNING, ("relay",), "exim")


def _questions(config: EximConfig) -> Iterator[tuple[str, Trial]]:
    """(what the trial decides, the trial)."""
    for trial in config.remember("outsider_trials", lambda: outsider_trials(config)):
        yield f"whether outsiders can relay on port {trial.probe.port}", trial
    trial = user_trial(config)
    if logged_in(trial):
        yield f"whether logged-in users can send to other domains on port {trial.probe.port}", trial


@UNDECIDED.checker
def check_undecided(config: EximConfig) -> Iterator[Finding]:
    if config.error is not None:
        return
    found: dict[tuple[str, str], tuple[Dependency, dict[str, tuple[str, str]]]] = {}
    for question, trial in _questions(config):
        decision = trial.decision
        if not decision.undecided:
            continue
        deps = dependencies(config, trial.probe, decision)
        for dep in deciding(deps, decision.action):
            _, asked = found.setdefault((dep.what, dep.piece), (dep, {}))
            asked.setdefault(question, (service_name(trial.probe.port), f"{decision.action} offline; {dep.outcomes()}"))
    for dep, asked in found.values():
        note = f"{dep.name}: not decided offline, taken as not met"
        if note not in config.assumptions:
            config.assumptions.append(note)
        where = f" (at {dep.where})" if dep.where else ""
        decides = "; and ".join(f"{text} ({outcome})" for text, (_, outcome) in asked.items())
        yield UNDECIDED.finding(f"{dep.name}{where}: the snapshot cannot show its answer, and it decides {decides}",
                                dep.location, service=next(iter(asked.values()))[0])
