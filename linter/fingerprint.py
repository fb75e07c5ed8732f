"""Fingerprints: one finding's identity across runs, whatever lines moved around it.

A fingerprint hashes the rule, the target (host name, or path relative to the project), the
file, the service, the subject (the setting, service or ACL statement the finding concerns) and
an ordinal among findings that agree on all of these. Never a line number or a value: moving a
setting, adding comments or blank lines leaves it unchanged. The same value is the JSON
`fingerprint`, SARIF's `partialFingerprints` and codeclimate's `fingerprint`, and a baseline
stores it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from mailcfg.findings import Finding

if TYPE_CHECKING:
    from mailcfg.lint import TargetResult

VERSION = "1"  # part of every hash: a change of the recipe must not match old baselines by chance


def parts(finding: Finding, target: str) -> tuple[str, ...]:
    """What identifies a finding, less its ordinal."""
    return (finding.rule, target, finding.location.file or "", finding.service or "", finding.subject or "")


def assign(findings: Iterable[Finding], target: str) -> list[Finding]:
    """The findings (in their order) each with its fingerprint; equal parts are numbered in file order."""
    findings = list(findings)
    order = sorted(range(len(findings)), key=lambda i: (findings[i].location.line or 0,
                                                        findings[i].location.column or 0, findings[i].message))
    seen: dict[tuple[str, ...], int] = {}
    result = list(findings)
    for i in order:
        key = parts(findings[i], target)
        ordinal = seen.get(key, 0)
        seen[key] = ordinal + 1
        result[i] = dataclasses.replace(findings[i], fingerprint=_hash((VERSION, *key, str(ordinal))))
    return result


def _hash(values: tuple[str, ...]) -> str:
    # NUL cannot appear in a rule id, host name or snapshot path: the parts cannot run into each other
    return hashlib.sha256("\0".join(values).encode("utf-8", "surrogateescape")).hexdigest()[:32]


def with_fingerprints(result: TargetResult) -> list[Finding]:
    """A target's findings with fingerprints: as the run assigned them (the target named as the project
    knows it), or else from the target's name in the report."""
    if all(f.fingerprint is not None for f in result.findings):
        return result.findings
    return assign(result.findings, result.target)
