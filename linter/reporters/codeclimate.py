"""Code Climate issues (the format GitLab's code quality report reads)."""

from __future__ import annotations

import hashlib
import json

from mailcfg.lint import TargetResult
from mailcfg.reporters.paths import Places

SEVERITY = {"error": "critical", "warning": "major", "info": "info"}


def render(results: list[TargetResult], color: bool = False) -> str:
    issues = []
    places = Places()
    for target in results:
        for f in target.findings:
            path = places.working(target, f.location.file) if f.location.file else target.target
            # stable across runs and line moves of unrelated settings: rule, file, service and message
            key = "\0".join((f.rule, path, f.service or "", f.message))
            issues.append({
                "type": "issue",
                "check_name": f.rule,
                "description": f.message,
                "categories": ["Security"] if f.severity.value == "error" else ["Bug Risk"],
                "severity": SEVERITY[f.severity.value],
                "fingerprint": hashlib.sha256(key.encode()).hexdigest()[:32],
                "location": {"path": path, "lines": {"begin": f.location.line or 1}},
            })
    return json.dumps(issues, indent=2) + "\n"
