"""`explain` and `test`: decisions of the engine for one target, checked against expectations."""

from __future__ import annotations

from dataclasses import dataclass, field

from mailcfg.errors import MailcfgError
from mailcfg.policy import Expectation
from mailcfg.postfix.config import PostfixConfig, load_postfix
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


def _config(target: str) -> PostfixConfig:
    snapshot = load_local(target)
    if "postfix" not in snapshot.systems:
        found = ", ".join(snapshot.systems) or "no mail system"
        raise MailcfgError(f"{target}: explain and test need a Postfix configuration (found {found})")
    return load_postfix(snapshot)


def explain(target: str, probe: Probe) -> Explained:
    config = _config(target)
    decision = decide(config, probe)
    return Explained(target, probe, decision, list(config.assumptions))


def run_policy(target: str, expectations: list[Expectation]) -> TestRun:
    config = _config(target)
    results = [Checked(e, decide(config, e.probe)) for e in expectations]
    return TestRun(target, results, list(config.assumptions))
