"""`explain` and `test`: decisions of the engine for one target, checked against expectations.

An answer that depends on what the snapshot lacks (a table, DNS, a policy service) is conditional:
`explain` says on what, and `test` reports the probe as undecided, which fails unless allowed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from mailcfg.dependence import Dependency
from mailcfg.errors import MailcfgError
from mailcfg.policy import Expectation
from mailcfg.snapshot import Snapshot, load_local
from mailcfg.system import Decider
from mailcfg.systems import load_models, present
from mailcfg.transaction import Decision, Probe, probe_json


@dataclass
class Explained:
    """The decision for one probe on one target, with what it assumed."""

    target: str
    probe: Probe
    decision: Decision
    assumptions: list[str] = field(default_factory=list)
    depends_on: list[Dependency] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"target": self.target, "probe": probe_json(self.probe), **self.decision.to_json(),
                "assumptions": self.assumptions, "conditional": bool(self.depends_on),
                "depends_on": [d.to_json() for d in self.depends_on]}


@dataclass
class Checked:
    """One policy probe: what was expected and what the engine decided."""

    expectation: Expectation
    decision: Decision | None = None  # None when the probe is not valid
    depends_on: list[Dependency] = field(default_factory=list)
    error: str | None = None  # why the probe could not be run, naming the policy file:line

    @property
    def actual(self) -> str:
        if self.decision is None:
            return "invalid"
        return "undecided" if self.depends_on else self.decision.action

    @property
    def problems(self) -> list[str]:
        """Why the probe fails; empty when it passes."""
        e, d = self.expectation, self.decision
        if d is None:
            return [self.error or "not valid"]
        problems = []
        if d.action != e.expect:
            problems.append(f"expected {e.expect}, got {d.action}")
        if self.depends_on and not e.allow_undecided:
            problems.append("undecided: the answer depends on what the snapshot lacks "
                            "(allow with allow_undecided: true or --allow-undecided)")
        if e.expect_code is not None and d.code != e.expect_code:
            problems.append(f"expected reply code {e.expect_code}, got {d.code if d.code is not None else 'none'}")
        if e.expect_reply is not None and not re.search(e.expect_reply, d.reply or ""):
            problems.append(f"the reply does not match expect_reply /{e.expect_reply}/")
        return problems

    @property
    def passed(self) -> bool:
        return not self.problems

    def to_json(self) -> dict:
        e, d = self.expectation, self.decision
        out = {"name": e.name, "expected": e.expect, "actual": self.actual, "reply": d.reply if d else None,
               "passed": self.passed, "service": d.service if d else None, "line": e.line,
               "decision": d.action if d else None, "problems": self.problems,
               "depends_on": [x.to_json() for x in self.depends_on],
               "undecided": d.undecided if d else [], "trace": [s.to_json() for s in d.trace] if d else []}
        if d is None:
            out["error"] = self.error
        return out


@dataclass
class TestRun:
    """A policy checked against one target."""

    target: str
    results: list[Checked]
    assumptions: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if not r.passed)

    @property
    def invalid(self) -> int:
        return sum(1 for r in self.results if r.decision is None)

    def to_json(self) -> dict:
        return {"target": self.target, "results": [r.to_json() for r in self.results],
                "passed": len(self.results) - self.failed, "failed": self.failed, "invalid": self.invalid,
                "assumptions": self.assumptions}


def decider(snapshot: Snapshot) -> tuple[Decider, list[str]]:
    """The engine of the snapshot's first system that decides transactions, and its assumptions."""
    system = next((s for s in present(snapshot) if s.decider is not None), None)
    if system is None:
        raise MailcfgError(f"{snapshot.target}: explain and test need the configuration of a mail system that "
                           f"decides SMTP transactions")
    model = load_models(snapshot, [system])[system.name]
    return system.decider(model), model.assumptions


def explain(target: str, probe: Probe, snapshot: Snapshot | None = None) -> Explained:
    """The decision for `probe` on local `target` (or an already loaded snapshot of it)."""
    decide, assumptions = decider(snapshot or load_local(target))
    decision, depends_on = decide(probe)
    return Explained(target, probe, decision, list(assumptions), depends_on)


def run_policy(target: str, expectations: list[Expectation], allow_undecided: bool = False,
               snapshot: Snapshot | None = None) -> TestRun:
    decide, assumptions = decider(snapshot or load_local(target))
    results = []
    for e in expectations:
        if allow_undecided:
            e = replace(e, allow_undecided=True)
        if e.probe is None:
            results.append(Checked(e, error=e.error))
            continue
        try:
            results.append(Checked(e, *decide(e.probe)))
        except MailcfgError as exc:  # this probe's service or port is not there: the others still run
            results.append(Checked(e, error=f"{e.where}: {exc}"))
    return TestRun(target, results, list(assumptions))
