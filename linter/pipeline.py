"""A lint run as a pipeline gate: the project's settings applied to each target's result.

Per target (mailcfg.projectconfig gives its settings): the roles and facts the configuration
states for it are laid over the snapshot's before the analysis; afterwards only the selected
rules' findings are kept, at the severity the project gives them, each with its fingerprint
(the target named relative to the project, so the same host linted from another directory keeps
its fingerprints), and the baseline's findings are hidden, its entries no longer found reported
as stale.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mailcfg import baseline as baselines
from mailcfg.baseline import STALE, Baseline
from mailcfg.errors import MailcfgError
from mailcfg.findings import Finding, Severity
from mailcfg.fingerprint import assign
from mailcfg.lint import TargetResult, lint_snapshot
from mailcfg.projectconfig import Overrides, ProjectConfig, Settings
from mailcfg.snapshot import Snapshot, load_local
from mailcfg.source import SourceFile
from mailcfg.suppression import missing_reasons
from mailcfg.targets import Target


@dataclass
class Pipeline:
    """A run's settings: the project file, the command line's overrides and the baseline."""

    config: ProjectConfig
    overrides: Overrides
    baseline: Baseline | None = None

    @classmethod
    def start(cls, config: ProjectConfig, overrides: Overrides, writing_baseline: bool = False) -> Pipeline:
        """The run's pipeline; the baseline file read once (and checked) before any target is linted (none
        when a new one is being written)."""
        pipeline = cls(config, overrides)
        path = pipeline.run_settings().baseline
        pipeline.baseline = baselines.load(path) if path and not writing_baseline else None
        pipeline.run_settings().rules()  # a bad command-line entry stops the run before it starts
        return pipeline

    def included(self, targets: list[Target], exclude: list[str], named: list[str]) -> list[Target]:
        """The targets not excluded (by the project's globs, or `exclude`, relative to the working directory);
        a path named on the command line itself is linted anyway (as ruff does without --force-exclude)."""
        return [t for t in targets if t.path is None or t.path in named or not self.config.excluded(t.path, exclude)]

    def settings_of(self, targets: list[Target], inventory_file: Path | None) -> dict[str, Settings]:
        """Each target's settings, by label; an inventory pattern of `targets:` selects its hosts."""
        inv = select = None
        if inventory_file is not None and self.config.targets:
            from mailcfg.remote import inventory  # the inventory reader: only for a run given -i

            inv, select = inventory.load(inventory_file), inventory.select

        def selects(label: str) -> Callable[[str], bool]:
            def check(pattern: str) -> bool:
                try:
                    return inv is not None and any(h.name == label for h in select(inv, pattern))
                except MailcfgError:  # a path glob, no inventory pattern
                    return False
            return check

        return {t.label: self.settings(t, selects(t.label) if t.host is not None else None) for t in targets}

    def run_settings(self) -> Settings:
        return self.overrides.apply(self.config.settings)

    def settings(self, target: Target, in_pattern: Callable[[str], bool] | None = None) -> Settings:
        return self.overrides.apply(self.config.for_target(target.label, target.path, in_pattern))

    def name(self, target: Target) -> str:
        """The target as fingerprints and baselines name it: a host by its name, a local path relative to
        the project (the configuration file's directory, or the working directory)."""
        return self.config.relative(target.path) if target.path is not None else target.label

    def prepare(self, result: TargetResult, target: Target, settings: Settings) -> TargetResult:
        """`result` with the selected rules' findings only, at the project's severities, fingerprinted."""
        if result.status != "ok":
            return result
        if settings.require_reason:
            result = dataclasses.replace(result, findings=result.findings + missing_reasons(result.sources))
        rules = settings.rules()
        named = iter(assign([_severity(f, settings) for f in result.findings if f.rule in rules], self.name(target)))
        return result.replaced([next(named) if f.rule in rules else None for f in result.findings])

    def hide(self, result: TargetResult, target: Target, settings: Settings) -> TargetResult:
        """`result` less the baseline's findings, with its stale entries for this target."""
        if self.baseline is None or result.status != "ok":
            return result
        rules = settings.rules()
        shown, baselined, stale = self.baseline.split(self.name(target), result.findings, rules)
        keep = {id(f) for f in shown}
        result = result.replaced([f if id(f) in keep else None for f in result.findings])
        if STALE in rules and stale:
            result.findings += assign(stale, self.name(target))
            # the reports name the baseline file where it is, not as a file of the target
            result.sources = {**result.sources, stale[0].location.file: SourceFile(
                stale[0].location.file, [], Path(self.baseline.path))}
        result.baselined = baselined
        return result

    def record(self, results: list[TargetResult], targets: list[Target], path: Path,
               settings: dict[str, Settings]) -> str:
        """The baseline file for these results (the earlier file's entries of targets this run did not judge,
        or of rules it did not check there, kept); from now on the run's baseline."""
        try:
            earlier = baselines.load(path) if path.exists() else None
        except MailcfgError:  # not a baseline: replaced as asked
            earlier = None
        judged = {(self.name(t), rule) for r, t in zip(results, targets, strict=True) if r.status == "ok"
                  for rule in settings[t.label].rules()}
        text = baselines.render(((self.name(t), f) for r, t in zip(results, targets, strict=True)
                                 for f in r.findings), earlier, judged)
        self.baseline = baselines.parse(text, str(path))
        return text


def lint_local(job: tuple[str, Settings]) -> TargetResult:
    """Lint the local target at job's path with the roles and facts its settings give it (one argument:
    what mailcfg.parallel hands forked workers)."""
    path, settings = job
    try:
        snapshot = with_stated_facts(load_local(path), settings)
        return lint_snapshot(snapshot)
    except MailcfgError as exc:
        return TargetResult(path, status="error", error=str(exc).removeprefix(f"{path}: "))  # named once


def with_stated_facts(snapshot: Snapshot, settings: Settings) -> Snapshot:
    """The snapshot with the roles and versions the project states (they win over facts.json)."""
    if settings.roles is None and not settings.facts:
        return snapshot
    versions = dict(snapshot.facts.versions)
    versions.update({key.removesuffix("_version"): value for key, value in settings.facts.items()})
    facts = dataclasses.replace(snapshot.facts, versions=versions,
                                roles=settings.roles if settings.roles is not None else snapshot.facts.roles)
    snapshot.facts = facts
    return snapshot


def _severity(finding: Finding, settings: Settings) -> Finding:
    level = settings.severity.get(finding.rule)
    return finding if level is None else dataclasses.replace(finding, severity=Severity(level))


def stale_failure(results: list[TargetResult]) -> bool:
    return any(f.rule == STALE for r in results for f in r.findings)

