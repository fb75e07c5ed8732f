"""Code Climate issues (the format GitLab's code quality report reads).

The fingerprint is mailcfg's (no line number: an issue survives settings moving around it), made
unique in the report should two targets share a name. A target that could not be checked is an
issue too, so that a merge request shows the gap.
"""

from __future__ import annotations

import hashlib

from mailcfg import jsontext
from mailcfg.fingerprint import with_fingerprints
from mailcfg.lint import TargetResult
from mailcfg.registry import all_rules
from mailcfg.reporters.paths import Places

SEVERITY = {"error": "critical", "warning": "major", "info": "info"}
# Code Climate's categories, by rule tag; the first tag of a rule that has one decides
CATEGORIES = {"relay": "Security", "auth": "Security", "tls": "Security", "syntax": "Bug Risk",
              "deliverability": "Bug Risk", "deprecated": "Compatibility"}


def render(results: list[TargetResult], color: bool = False) -> str:
    issues = []
    places = Places()
    categories = {r.id: sorted({CATEGORIES[t] for t in r.tags if t in CATEGORIES}) or ["Clarity"]
                  for r in all_rules()}
    seen: set[str] = set()
    for target in results:
        if target.error:
            issues.append({
                "type": "issue",
                "check_name": f"mailcfg-target-{target.status}",
                "description": f"{target.target}: {target.error}",
                "categories": ["Bug Risk"],
                "severity": "blocker",
                "fingerprint": _unique(_hash(target.status, target.target), seen),
                "location": {"path": target.target, "lines": {"begin": 1}},
            })
        for f in with_fingerprints(target):
            path = places.working(target, f.location.file) if f.location.file else target.target
            issues.append({
                "type": "issue",
                "check_name": f.rule,
                "description": f"{f.rule}: {f.message}",
                "categories": categories.get(f.rule, ["Clarity"]),
                "severity": SEVERITY[f.severity.value],
                "fingerprint": _unique(f.fingerprint or _hash(f.rule, path), seen),
                "location": {"path": path, "lines": {"begin": f.location.line or 1}},
            })
    return jsontext.dumps(issues) + "\n"


def _hash(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:32]


def _unique(fingerprint: str, seen: set[str]) -> str:
    """`fingerprint`, or (taken already in this report) a hash of it, until unused: GitLab merges
    issues that share one."""
    while fingerprint in seen:
        fingerprint = _hash("again", fingerprint)
    seen.add(fingerprint)
    return fingerprint
