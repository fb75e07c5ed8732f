"""SARIF 2.1.0, as GitHub code scanning and other CI systems read it.

Each rule carries its doc page (What / Why / How to fix) as `help`, and security rules (tags relay,
auth, tls) a `security-severity`, which code scanning shows as critical/high/medium/low. Each result
carries mailcfg's fingerprint in `partialFingerprints` (code scanning cannot compute one for a
file that is not in the checkout, such as a fetched host's). A finding in a file that exists in no
snapshot (the stock master.cf Postfix assumes when there is none) points at the file its fix edits.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

from mailcfg import __version__, jsontext
from mailcfg.findings import Finding
from mailcfg.fingerprint import with_fingerprints
from mailcfg.lint import TargetResult
from mailcfg.registry import all_rules
from mailcfg.reporters.paths import Places
from mailcfg.rule import Rule

LEVELS = {"error": "error", "warning": "warning", "info": "note"}
SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SECURITY_TAGS = ("relay", "auth", "tls")
SECURITY_SEVERITY = {"error": "8.0", "warning": "5.0", "info": "2.0"}  # high, medium, low
HELP_SECTIONS = ("What it checks", "Why it matters", "How to fix")


def render(results: list[TargetResult], color: bool = False) -> str:
    rules = list(all_rules())
    index = {r.id: i for i, r in enumerate(rules)}
    driver = {
        "name": "mailcfg",
        "version": __version__,
        "rules": [_rule(r) for r in rules],
    }
    places = Places()
    sarif_results = [_result(f, t, index, places) for t in results for f in with_fingerprints(t)]
    notifications = [{"level": "error", "message": {"text": f"{t.target}: {t.error}"},
                      "descriptor": {"id": t.status}} for t in results if t.error]
    assumed = [{"level": "note", "message": {"text": f"{t.target}: assumed: {a}"}, "descriptor": {"id": "assumption"}}
               for t in results for a in t.assumptions]
    run = {"tool": {"driver": driver}, "automationDetails": {"id": _category(results)}, "results": sarif_results,
           "invocations": [{"executionSuccessful": not notifications,
                            "toolExecutionNotifications": notifications + assumed}]}
    return jsontext.dumps({"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}) + "\n"


def _category(results: list[TargetResult]) -> str:
    """Code scanning keeps one analysis per category: a run of one target is that target's."""
    name = results[0].target if len(results) == 1 else "targets"
    return f"mailcfg/{re.sub(r'[^A-Za-z0-9._-]+', '-', name).strip('-') or 'target'}/"


def _rule(r: Rule) -> dict:
    summary, sections = _doc(r.id)
    security = any(tag in SECURITY_TAGS for tag in r.tags)
    properties: dict = {"tags": (["security"] if security else []) + list(r.tags), "docs": f"rules/docs/{r.id}.md"}
    if security:
        properties["security-severity"] = SECURITY_SEVERITY[r.severity.value]
    helped = [(title, sections[title]) for title in HELP_SECTIONS if title in sections]
    rule: dict = {
        "id": r.id,
        "name": r.id,
        "shortDescription": {"text": r.title},
        "fullDescription": {"text": summary or r.title},
        "defaultConfiguration": {"level": LEVELS[r.severity.value]},
        "properties": properties,
    }
    if helped:
        rule["help"] = {"text": "\n\n".join(f"{title}\n\n{body}" for title, body in helped),
                        "markdown": "\n\n".join(f"## {title}\n\n{body}" for title, body in helped)}
    return rule


@cache
def _doc(rule_id: str) -> tuple[str, dict[str, str]]:
    """A rule page's opening paragraph (one line) and its `## ` sections by title."""
    from mailcfg.registry import rule_by_id

    head, *parts = re.split(r"^## ", rule_by_id(rule_id).doc, flags=re.MULTILINE)
    opening = [p for p in head.split("\n\n") if p.strip() and not p.startswith("# ")]
    summary = " ".join(opening[0].split()) if opening else ""
    sections = {}
    for part in parts:
        title, _, body = part.partition("\n")
        sections[title.strip()] = body.strip()
    return summary, sections


def _result(f: Finding, target: TargetResult, index: dict[str, int], places: Places) -> dict:
    result: dict = {
        "ruleId": f.rule,
        "ruleIndex": index[f.rule],
        "level": LEVELS[f.severity.value],
        "message": {"text": f.message},
        "partialFingerprints": {"mailcfg/v1": f.fingerprint, "primaryLocationLineHash": f.fingerprint},
        "properties": {"target": target.target, "service": f.service, "fix": f.fix, "subject": f.subject,
                       "docs": f.docs},
    }
    file, line, column = f.location.file, f.location.line, f.location.column
    edited = _edited_instead(f, target)
    if edited is not None:
        result["properties"]["reportedIn"] = file
        file, line, column = edited, None, None
    if file:
        region = {}
        if line:
            region["startLine"] = line
            if column:
                region["startColumn"] = column
        uri = _uri(target, file, places) if edited is None else _uri_new(target, file, places)
        physical: dict = {"artifactLocation": {"uri": uri}}
        if region:
            physical["region"] = region
        result["locations"] = [{"physicalLocation": physical}]
    return result


def _edited_instead(f: Finding, target: TargetResult) -> str | None:
    """The file f's fix edits, when f is in a file that no snapshot holds (one assumed, such as the
    stock master.cf): code scanning can only show a result on a real file."""
    source = target.sources.get(f.location.file or "")
    if f.location.file is None or (source is not None and source.real_path is not None):
        return None
    key = (f.rule, f.location, f.message)
    for found, fix in target.fixes:
        if (found.rule, found.location, found.message) == key:
            files = [e.file for e in fix.edits if e.file != f.location.file]
            return files[0] if files else None
    return None


def _uri(target: TargetResult, file: str, places: Places) -> str:
    """A relative reference when the file is below the working directory (what code scanning expects)."""
    real = places.local(target, file)
    if real is None or not places.below_cwd(real):
        return real.as_uri() if real else file
    return places.working(target, file)


def _uri_new(target: TargetResult, file: str, places: Places) -> str:
    """Where a file the fix creates goes: beside the target's files that exist (found from one of them)."""
    for path, source in target.sources.items():
        real = source.real_path
        if real is not None and real.as_posix().endswith("/" + path):
            created = Path(real.as_posix()[:-len(path)]) / file
            if created.parent.exists():
                relative = os.path.relpath(created.resolve(), Path.cwd().resolve())
                return Path(relative).as_posix() if places.below_cwd(created.resolve()) else created.resolve().as_uri()
    return file
