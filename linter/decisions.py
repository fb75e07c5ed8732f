"""`explain` and `test`: decisions of the engine for one target, checked against expectations.

An answer that depends on what the snapshot lacks (a table, DNS, a policy service) is conditional:
`explain` says on what, and `test` reports the probe as undecided, which fails unless allowed."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from mailcfg.dependence import Dependency, relevant
from mailcfg.errors import MailcfgError
from mailcfg.exim.config import load_exim
from mailcfg.exim.dependence import dependencies as exim_dependencies
from mailcfg.exim.engine import decide as decide_exim
from mailcfg.exim.probes import SERVICE_PORTS
from mailcfg.policy import Expectation
from mailcfg.postfix.config import PostfixConfig, load_postfix
from mailcfg.postfix.dependence import dependencies as postfix_dependencies
from mailcfg.postfix.engine import decide_on, select_service
from mailcfg.postfix.services import port as listening_port
from mailcfg.postfix.services import views
from mailcfg.snapshot import load_local
from mailcfg.transaction import Decision, Probe, probe_json

Decider = Callable[[Probe], tuple[Decision, list[Dependency]]]


@dataclass
class Explained:
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


def _decider(target: str) -> tuple[Decider, list[str]]:
    """The engine for the target's MTA (Postfix when a snapshot holds both), and its assumptions."""
    snapshot = load_local(target)
    if "postfix" in snapshot.systems:
        config = load_postfix(snapshot)
        return (lambda probe: _postfix(config, probe)), config.assumptions
    if "exim" in snapshot.systems:
        exim = load_exim(snapshot)

        def run(probe: Probe) -> tuple[Decision, list[Dependency]]:
            probe = _exim_probe(probe)
            decision = decide_exim(exim, probe)
            return decision, relevant(exim_dependencies(exim, probe, decision), decision.action)
        return run, exim.assumptions
    raise MailcfgError(f"{target}: explain and test need a Postfix or Exim configuration")


def _postfix(config: PostfixConfig, probe: Probe) -> tuple[Decision, list[Dependency]]:
    service = select_service(config, probe.service, probe.port)
    if probe.service is not None and probe.port is not None and listening_port(config, service) != probe.port:
        raise MailcfgError(f"service {probe.service!r} listens on port {listening_port(config, service)}, "
                           f"not {probe.port}: give --service or --port, not both")
    view = next(v for s, v in views(config) if s is service)
    decision = decide_on(view, probe)
    return decision, relevant(postfix_dependencies(view, probe, decision), decision.action)


def _exim_probe(probe: Probe) -> Probe:
    """Exim has no master.cf: a service names its port (smtp, submission, smtps, or a number)."""
    if probe.service is None:
        return probe
    port = SERVICE_PORTS.get(probe.service) or (int(probe.service) if probe.service.isdigit() else None)
    if port is None:
        raise MailcfgError(f"Exim has no service {probe.service!r}: name a port (--port N) or one of "
                           f"{', '.join(SERVICE_PORTS)}")
    if probe.port is not None and probe.port != port:
        raise MailcfgError(f"service {probe.service!r} is port {port}, not {probe.port}: "
                           f"give --service or --port, not both")
    return replace(probe, port=port, service=None)


def explain(target: str, probe: Probe) -> Explained:
    decider, assumptions = _decider(target)
    decision, depends_on = decider(probe)
    return Explained(target, probe, decision, list(assumptions), depends_on)


def run_policy(target: str, expectations: list[Expectation], allow_undecided: bool = False) -> TestRun:
    decider, assumptions = _decider(target)
    results = []
    for e in expectations:
        if allow_undecided:
            e = replace(e, allow_undecided=True)
        if e.probe is None:
            results.append(Checked(e, error=e.error))
            continue
        try:
            results.append(Checked(e, *decider(e.probe)))
        except MailcfgError as exc:  # this probe's service or port is not there: the others still run
            results.append(Checked(e, error=f"{e.where}: {exc}"))
    return TestRun(target, results, list(assumptions))
