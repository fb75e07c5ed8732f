"""Which undecided conditions an Exim decision depends on. The engine takes each as not met; here
each is taken as met in turn and the transaction decided again (engine.decide has already cleared
the decisions no combination of answers changes)."""

from __future__ import annotations

from itertools import product

from mailcfg.dependence import Dependency, piece_of, undecided_steps
from mailcfg.exim.config import EximConfig
from mailcfg.exim.engine import MAX_BRANCHES, decide_taking
from mailcfg.exim.session import World
from mailcfg.transaction import Decision, Probe

BRANCH = "taken as not met"  # the note of a condition the run took as not met (a branch point)


def dependencies(config: EximConfig, probe: Probe, decision: Decision, world: World | None = None
                 ) -> list[Dependency]:
    if not decision.undecided:
        return []
    undecided = [s for s in decision.trace if s.result == "undecided"]
    points = [s for s in undecided if BRANCH in s.note]
    found: dict[tuple, Dependency] = {}
    for i, step in enumerate(points):
        other = decide_taking(config, probe, (False,) * i + (True,), world).action
        key = (step.what, piece_of(step), step.location)
        if other != decision.action and key not in found:
            found[key] = Dependency(step.what, piece_of(step), step.location, (("it is met", other),),
                                    step.what.startswith("dnslists") and other != "accept")
    if found:
        return list(found.values())
    if len(points) == len(undecided) and len(points) <= MAX_BRANCHES and all(
            decide_taking(config, probe, c, world).action == decision.action
            for c in product((False, True), repeat=len(points))):
        return []  # only the reply's wording depends on them
    # only conditions together change it, or what is undecided is no condition: outcome unknown
    return [Dependency(s.what, piece_of(s), s.location) for s in undecided_steps(decision)]
