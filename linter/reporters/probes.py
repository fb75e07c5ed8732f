"""`mailcfg test` for CI: JUnit XML (a test case per probe) and SARIF (a result per failed probe).

A probe that fails or is undecided is a failed test case; one that is not valid is an error case, and
so is a target that could not be tested (unreachable, not a configuration).
In SARIF each failed probe points at its line in the policy file (what the pipeline's author
edits), with the configuration statement that decided it as a related location.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

from mailcfg import __version__, jsontext
from mailcfg.decisions import Checked, TestRun
from mailcfg.reporters.visible import visible
from mailcfg.transaction import Decision

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# The kinds of failure a probe can have, as SARIF rules of this report (they are no lint rules).
RULES = {
    "probe-failed": "A probe of the policy got another answer than the expected one",
    "probe-undecided": "A probe's answer depends on what the snapshot lacks (a table, DNS, a policy service)",
    "probe-invalid": "A probe of the policy is not valid or names no service of the target",
}


def kind(result: Checked) -> str | None:
    """The probe's failure as one of RULES, or None when it passed."""
    if result.passed:
        return None
    if result.decision is None:
        return "probe-invalid"
    if result.depends_on and result.decision.action == result.expectation.expect:
        return "probe-undecided"
    return "probe-failed"


def _summary(result: Checked) -> str:
    d = result.decision
    reply = f" (reply: {d.reply})" if d is not None and d.reply else ""
    return f"{result.expectation.name}: " + "; ".join(result.problems) + reply


def _trace(decision: Decision) -> str:
    lines = []
    for step in decision.trace:
        where = step.location
        place = f"  {where.file}:{where.line}" if where and where.file and where.line else \
            f"  {where.file}" if where and where.file else ""
        lines.append(f"{step.stage} {step.what}: {step.result}{place}")
    lines += [f"not decided offline: {item}" for item in decision.undecided]
    return "\n".join(lines)


Failed = tuple[str, str, str]  # a target that could not be tested: (target, status, reason)


def render_junit(runs: list[TestRun], failed: list[Failed] | tuple = ()) -> str:
    root = ET.Element("testsuites", name="mailcfg test")
    for target, status, reason in failed:
        suite = ET.SubElement(root, "testsuite", name=visible(target), tests="1", failures="0", errors="1")
        case = ET.SubElement(suite, "testcase", classname=visible(target), name=status)
        ET.SubElement(case, "error", message=visible(reason), type=status)
    for run in runs:
        suite = ET.SubElement(root, "testsuite", name=visible(run.target), tests=str(len(run.results)),
                              failures=str(run.failed - run.invalid), errors=str(run.invalid))
        for r in run.results:
            case = ET.SubElement(suite, "testcase", classname=visible(run.target), name=visible(r.expectation.name))
            failure = kind(r)
            if failure is None:
                continue
            element = "error" if failure == "probe-invalid" else "failure"
            node = ET.SubElement(case, element, message=visible(_summary(r)), type=failure)
            # XML 1.0 cannot carry control characters at all: everything from input made visible
            node.text = visible(_trace(r.decision), keep_lines=True) if r.decision is not None else \
                visible(r.error or "")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def render_sarif(runs: list[TestRun], policy: Path, failed: list[Failed] | tuple = ()) -> str:
    ids = list(RULES)
    rules = [{"id": rule, "name": rule, "shortDescription": {"text": text},
              "defaultConfiguration": {"level": "error"}} for rule, text in RULES.items()]
    uri = policy.as_posix() if not policy.is_absolute() else policy.as_uri()
    results = []
    for run in runs:
        for r in run.results:
            failure = kind(r)
            if failure is None:
                continue
            physical: dict = {"artifactLocation": {"uri": uri}}
            if r.expectation.line:
                physical["region"] = {"startLine": r.expectation.line}
            result: dict = {"ruleId": failure, "ruleIndex": ids.index(failure), "level": "error",
                            "message": {"text": f"{run.target}: {_summary(r)}"},
                            "locations": [{"physicalLocation": physical}],
                            "properties": {"target": run.target, "probe": r.expectation.name}}
            decided = _deciding_step(r.decision)
            if decided is not None:
                result["relatedLocations"] = [decided]
            results.append(result)
    notifications = [{"level": "error", "message": {"text": visible(f"{target}: {reason}")},
                      "descriptor": {"id": status}} for target, status, reason in failed]
    run_doc = {"tool": {"driver": {"name": "mailcfg", "version": __version__, "rules": rules}},
               "automationDetails": {"id": "mailcfg-test/"}, "results": results,
               "invocations": [{"executionSuccessful": not failed, "toolExecutionNotifications": notifications}]}
    return jsontext.dumps({"$schema": SCHEMA, "version": "2.1.0", "runs": [run_doc]}) + "\n"


def _deciding_step(decision: Decision | None) -> dict | None:
    """The last step of the trace that names a place in the configuration: the statement that decided."""
    if decision is None:
        return None
    for step in reversed(decision.trace):
        where = step.location
        if where is not None and where.file:
            physical: dict = {"artifactLocation": {"uri": where.file}}
            if where.line:
                physical["region"] = {"startLine": where.line}
            return {"id": 0, "physicalLocation": physical,
                    "message": {"text": f"{step.stage} {step.what}: {step.result}"}}
    return None
