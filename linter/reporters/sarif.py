"""SARIF 2.1.0, as GitHub code scanning and other CI systems read it."""

from __future__ import annotations

import json

from mailcfg import __version__
from mailcfg.findings import Finding
from mailcfg.lint import TargetResult
from mailcfg.registry import all_rules
from mailcfg.reporters.paths import Places

LEVELS = {"error": "error", "warning": "warning", "info": "note"}
SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
DOCS = "https://github.com/mailcfg/mailcfg/blob/main/rules/docs/{id}.md"


def render(results: list[TargetResult], color: bool = False) -> str:
    rules = list(all_rules())
    index = {r.id: i for i, r in enumerate(rules)}
    driver = {
        "name": "mailcfg",
        "version": __version__,
        "informationUri": "https://github.com/mailcfg/mailcfg",
        "rules": [{
            "id": r.id,
            "name": r.id,
            "shortDescription": {"text": r.title},
            "helpUri": DOCS.format(id=r.id),
            "defaultConfiguration": {"level": LEVELS[r.severity.value]},
            "properties": {"tags": list(r.tags)},
        } for r in rules],
    }
    places = Places()
    sarif_results = [_result(f, t, index, places) for t in results for f in t.findings]
    notifications = [{"level": "error", "message": {"text": f"{t.target}: {t.error}"},
                      "descriptor": {"id": t.status}} for t in results if t.error]
    assumed = [{"level": "note", "message": {"text": f"{t.target}: assumed: {a}"}, "descriptor": {"id": "assumption"}}
               for t in results for a in t.assumptions]
    run = {"tool": {"driver": driver}, "results": sarif_results,
           "invocations": [{"executionSuccessful": not notifications,
                            "toolExecutionNotifications": notifications + assumed}]}
    return json.dumps({"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2) + "\n"


def _result(f: Finding, target: TargetResult, index: dict[str, int], places: Places) -> dict:
    result: dict = {
        "ruleId": f.rule,
        "ruleIndex": index[f.rule],
        "level": LEVELS[f.severity.value],
        "message": {"text": f.message},
        "properties": {"target": target.target, "service": f.service, "fix": f.fix},
    }
    if f.location.file:
        region = {}
        if f.location.line:
            region["startLine"] = f.location.line
            if f.location.column:
                region["startColumn"] = f.location.column
        physical: dict = {"artifactLocation": {"uri": _uri(target, f.location.file, places)}}
        if region:
            physical["region"] = region
        result["locations"] = [{"physicalLocation": physical}]
    return result


def _uri(target: TargetResult, file: str, places: Places) -> str:
    """A relative reference when the file is below the working directory (what code scanning expects)."""
    real = places.local(target, file)
    if real is None or not places.below_cwd(real):
        return real.as_uri() if real else file
    return places.working(target, file)
