"""`mailcfg fix --format json`: per target, the fixes applied, those skipped and why, the findings left.

    {"version": 1, "targets": [{"target", "status", "error", "applied": [FIX], "skipped": [FIX + reason],
      "left": [FINDING], "changed": [PATH], "after": [STEP], "apply": null | {"status", "detail"}}]}

FIX is {"rule", "safety", "summary", "files", "commands"}; a skipped one adds "reason" ("unsafe": it needs
--unsafe-fixes; "new-findings": it would cause the findings in "causes", so it was undone).
"""

from __future__ import annotations

from dataclasses import dataclass

from mailcfg import jsontext
from mailcfg.findings import Finding
from mailcfg.fix import Fix
from mailcfg.fixer import FixRun


@dataclass
class FixOutcome:
    """One target of a `fix` run: its FixRun, or why there is none; and what --apply did."""

    target: str
    run: FixRun | None = None
    status: str = "ok"  # ok, unreachable, error
    error: str | None = None
    apply: tuple[str, str] | None = None  # (status, detail) of --apply

    def to_json(self) -> dict:
        run = self.run
        out: dict = {"target": self.target, "status": self.status, "error": self.error, "applied": [],
                     "skipped": [], "left": [], "changed": [], "after": [], "apply": None}
        if run is not None:
            out["applied"] = [_fix(f) for f in run.applied]
            out["skipped"] = [{**_fix(f), "reason": "unsafe"} for f in run.unsafe_skipped] + \
                [{**_fix(f), "reason": "new-findings", "causes": [c.to_json() for c in caused]}
                 for f, caused in _once(run.dropped)]
            out["left"] = [f.to_json() for f in run.after.findings]
            out["changed"] = [c.path for c in run.changes]
            out["after"] = list(dict.fromkeys(step for f in run.applied for step in f.after))
        if self.apply is not None:
            out["apply"] = {"status": self.apply[0], "detail": self.apply[1]}
        return out


def _fix(fix: Fix) -> dict:
    return {"rule": fix.rule, "safety": fix.safety, "summary": fix.summary,
            "files": sorted({e.file for e in fix.edits}), "commands": list(fix.commands)}


def _once(dropped: list[tuple[Fix, list[Finding]]]) -> list[tuple[Fix, list[Finding]]]:
    """A fix undone in several rounds is listed once (the same summary is the same fix)."""
    return list(dict((f.summary, (f, caused)) for f, caused in dropped).values())


def render(outcomes: list[FixOutcome]) -> str:
    return jsontext.dumps({"version": 1, "targets": [o.to_json() for o in outcomes]}) + "\n"
