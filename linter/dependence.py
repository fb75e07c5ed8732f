"""What a decision depends on that the snapshot cannot show (a table, DNS, a policy service), and what
the server would answer if that piece answered otherwise. Both engines mark such a step in the trace
with the result "undecided" and a note saying it is "not decided offline"."""

from __future__ import annotations

from dataclasses import dataclass

from mailcfg.findings import Location
from mailcfg.transaction import Decision, Step

MARK = "; not decided offline"


@dataclass(frozen=True)
class Dependency:
    """A piece the snapshot lacks that a decision depends on."""

    what: str  # the restriction or ACL condition that consults the missing piece
    piece: str  # what the snapshot lacks, as the engine words it
    location: Location | None  # where the configuration names it
    otherwise: tuple[tuple[str, str], ...] = ()  # (case, action): "it permits" -> "accept"; () when not known
    refuses_only: bool = False  # a DNS check that can only refuse: a client you describe is taken to pass it

    @property
    def where(self) -> str:
        loc = self.location
        if loc is None or loc.file is None:
            return ""
        return f"{loc.file}:{loc.line}" if loc.line else loc.file

    @property
    def name(self) -> str:
        """The step, and the piece it lacks."""
        return f"{self.what} ({self.piece})"

    def outcomes(self) -> str:
        if not self.otherwise:
            return "the answer may differ"
        return "; ".join(f"if {case}: {action.upper()}" for case, action in self.otherwise)

    def text(self) -> str:
        at = f" ({self.where})" if self.where else ""
        return f"{self.name}{at}; {self.outcomes()}"

    def to_json(self) -> dict:
        loc = self.location
        return {"what": self.what, "missing": self.piece, "file": loc.file if loc else None,
                "line": loc.line if loc else None,
                "otherwise": [{"if": case, "decision": action} for case, action in self.otherwise]}


def undecided_steps(decision: Decision) -> list[Step]:
    """Each distinct undecided step of the trace, in order."""
    seen: set[tuple] = set()
    steps = []
    for step in decision.trace:
        key = (step.what, piece_of(step), step.location)
        if step.result == "undecided" and key not in seen:
            seen.add(key)
            steps.append(step)
    return steps


def piece_of(step: Step) -> str:
    return step.note.split(MARK, 1)[0]


def relevant(dependencies: list[Dependency], action: str) -> list[Dependency]:
    """What an answer given to a client someone describes depends on: a check that can only refuse
    (a DNS list, a DNS lookup) is taken to pass for a client that is accepted otherwise."""
    return [d for d in dependencies if not (d.refuses_only and action == "accept")]


def deciding(dependencies: list[Dependency], action: str) -> list[Dependency]:
    """What decides whether a rule's client gets through (accepted or not; a reject or a defer is the
    same to the question). Checks that can only refuse are taken to pass for an accepted client: a
    legitimate one is not listed, and an attacker picks an address that is not (the open-relay rule
    reports that case)."""
    return [d for d in relevant(dependencies, action)
            if not d.otherwise or any((a == "accept") != (action == "accept") for _, a in d.otherwise)]
