"""`explain` and `test`: decisions of the engine for one target, checked against expectations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from mailcfg.errors import MailcfgError
from mailcfg.exim.config import load_exim
from mailcfg.exim.engine import decide as decide_exim
from mailcfg.exim.probes import SERVICE_PORTS
from mailcfg.policy import Expectation
from mailcfg.postfix.config import load_postfix
from mailcfg.postfix.engine import decide
from mailcfg.postfix.probe import Decision, Probe, probe_json
from mailcfg.snapshot import load_local


@dataclass
class Explained:
    target: str
    probe: Probe
    decision: Decision
    assumptions: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"target": self.target, "probe": probe_json(self.probe), **self.decision.to_json(),
                "assumptions": self.assumptions}


@dataclass
class Checked:
    expectation: Expectation
    decision: Decision

    @property
    def passed(self) -> bool:
        return self.decision.action == self.expectation.expect

    def to_json(self) -> dict:
        return {"name": self.expectation.name, "expected": self.expectation.expect,
                "actual": self.decision.action, "reply": self.decision.reply, "passed": self.passed,
                "service": self.decision.service, "line": self.expectation.line,
                "undecided": self.decision.undecided, "trace": [s.to_json() for s in self.decision.trace]}


@dataclass
class TestRun:
    target: str
    results: list[Checked]
    assumptions: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if not r.passed)

    def to_json(self) -> dict:
        return {"target": self.target, "results": [r.to_json() for r in self.results],
                "passed": len(self.results) - self.failed, "failed": self.failed,
                "assumptions": self.assumptions}


def _decider(target: str) -> tuple[Callable[[Probe], Decision], list[str]]:
    """The engine for the target's MTA (Postfix when a snapshot holds both), and its assumptions."""
    snapshot = load_local(target)
    if "postfix" in snapshot.systems:
        config = load_postfix(snapshot)
        return (lambda probe: decide(config, probe)), config.assumptions
    if "exim" in snapshot.systems:
        exim = load_exim(snapshot)
        return (lambda probe: decide_exim(exim, _exim_probe(probe))), exim.assumptions
    raise MailcfgError(f"{target}: explain and test need a Postfix or Exim configuration")


def _exim_probe(probe: Probe) -> Probe:
    """Exim has no master.cf: a service names its port (smtp, submission, smtps, or a number)."""
    if probe.port is not None or probe.service is None:
        return probe
    port = SERVICE_PORTS.get(probe.service) or (int(probe.service) if probe.service.isdigit() else None)
    if port is None:
        raise MailcfgError(f"Exim has no service {probe.service!r}: name a port (--port N) or one of "
                           f"{', '.join(SERVICE_PORTS)}")
    return replace(probe, port=port, service=None)


def explain(target: str, probe: Probe) -> Explained:
    decider, assumptions = _decider(target)
    decision = decider(probe)
    return Explained(target, probe, decision, list(assumptions))


def run_policy(target: str, expectations: list[Expectation]) -> TestRun:
    decider, assumptions = _decider(target)
    results = [Checked(e, decider(e.probe)) for e in expectations]
    return TestRun(target, results, list(assumptions))
