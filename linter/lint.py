"""Running the rules over one target and collecting what they find."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from mailcfg.errors import MailcfgError
from mailcfg.findings import Finding
from mailcfg.fingerprint import assign
from mailcfg.fix import Fix
from mailcfg.registry import rule_by_id, rules_of
from mailcfg.rules.snapshot_reads import SnapshotReads
from mailcfg.snapshot import Snapshot, load_local
from mailcfg.source import SourceFile
from mailcfg.suppression import check as check_suppressions
from mailcfg.system import Model
from mailcfg.systems import by_name, load_models


@dataclass
class TargetResult:
    """What linting one target gave: its findings, or why it could not be checked."""

    target: str
    systems: list[str] = field(default_factory=list)
    status: str = "ok"  # ok, unreachable, error
    error: str | None = None
    findings: list[Finding] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    sources: dict[str, SourceFile] = field(default_factory=dict)  # for showing offending lines
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (host path, reason) not read on the host
    fixes: list[tuple[Finding, Fix]] = field(default_factory=list)  # the findings that have a fix, with it
    suppressed: int = 0  # findings hidden by suppression comments
    baselined: int = 0  # findings hidden by the baseline (mailcfg.pipeline)

    def replaced(self, findings: list[Finding | None]) -> TargetResult:
        """This result with findings[i] in place of its i-th finding (None: dropped); fixes follow their
        findings (a fix is recorded with the very finding object it repairs)."""
        new = {id(old): f for old, f in zip(self.findings, findings, strict=True)}
        fixes = [(new[id(f)], fix) for f, fix in self.fixes if new.get(id(f)) is not None]
        return dataclasses.replace(self, findings=[f for f in findings if f is not None], fixes=fixes)

    def keys(self) -> set[tuple[str, str | None]]:
        """(rule, service) of each finding: what "the same finding" means across two lints."""
        return {(f.rule, f.service) for f in self.findings}

    def to_json(self) -> dict:
        return {
            "target": self.target,
            "systems": self.systems,
            "status": self.status,
            "error": self.error,
            "findings": [f.to_json() for f in self.findings],
            "unreadable": [{"path": p, "reason": r} for p, r in self.unreadable],
            "assumptions": list(self.assumptions),
            "suppressed": self.suppressed,
            "baselined": self.baselined,
        }


def lint_path(target: str) -> TargetResult:
    """Lint a local target; bad input becomes a result with status "error"."""
    try:
        return lint_snapshot(load_local(target))
    except MailcfgError as exc:
        return TargetResult(target, status="error", error=str(exc).removeprefix(f"{target}: "))  # named once


def lint_snapshot(snapshot: Snapshot) -> TargetResult:
    """Every rule's findings on the snapshot, less those suppression comments hide, plus what is wrong
    with those comments."""
    result = TargetResult(snapshot.target, list(snapshot.systems), unreadable=list(snapshot.facts.unreadable))
    result.assumptions += [f"{p} was not read on the host ({r}): what depends on it is left undecided"
                           for p, r in result.unreadable]
    models = load_models(snapshot)
    for system, model in models.items():
        result.findings += _with_subjects(_run(system, model), system, model)
        result.assumptions += model.assumptions
        result.sources.update(model.sources)
    result.findings += _run("snapshot", SnapshotReads(snapshot, result.sources))  # after every read
    checked = check_suppressions(result.findings, result.sources)
    result.suppressed = checked.suppressed
    result.findings = [_with_fix(f, models, result.fixes) for f in checked.kept] + checked.problems
    result.fixes += checked.fixes
    result.findings.sort(key=lambda f: (f.location.file or "", f.location.line or 0, f.location.column or 0,
                                        f.rule))
    return result.replaced(list(assign(result.findings, snapshot.target)))


def _with_fix(finding: Finding, models: dict[str, Model],
              fixes: list[tuple[Finding, Fix]]) -> Finding:
    """The finding marked with its fix's safety, the pair recorded in `fixes`, where a fix exists; as the
    systems built on its system see it (their `review`)."""
    rule = rule_by_id(finding.rule)
    fix = rule.fix(models[rule.system], finding) if rule.fix is not None and rule.system in models else None
    for name, model in models.items():
        system = by_name(name)
        if system.review is not None and rule.system in system.requires:
            finding, fix = system.review(model, finding, fix)
    if fix is None:
        return finding
    finding = dataclasses.replace(finding, fix=fix.safety)
    fixes.append((finding, fix))
    return finding


def _with_subjects(findings: list[Finding], system: str, model: Model) -> list[Finding]:
    """Each finding with what it is about (for its fingerprint), from its place where the rule did not say."""
    subject = by_name(system).subject
    if subject is None:
        return findings
    return [f if f.subject is not None or f.location.file is None or f.location.line is None else
            dataclasses.replace(f, subject=subject(model, f.location.file, f.location.line)) for f in findings]


def _run(system: str, context: Model | SnapshotReads) -> list[Finding]:
    findings: list[Finding] = []
    for rule in rules_of(system):
        findings.extend(rule.check(context))
    return findings
