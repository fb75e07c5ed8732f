"""JUnit XML: a test suite per target, a failing test case per finding (CI test-report views)."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from mailcfg.lint import TargetResult
from mailcfg.reporters.visible import visible


def render(results: list[TargetResult], color: bool = False) -> str:
    root = ET.Element("testsuites", name="mailcfg")
    for target in results:
        failures = len(target.findings)
        suite = ET.SubElement(root, "testsuite", name=visible(target.target), tests=str(max(failures, 1)),
                              failures=str(failures), errors="1" if target.error else "0")
        if target.error:
            case = ET.SubElement(suite, "testcase", classname="mailcfg", name=target.status)
            ET.SubElement(case, "error", message=visible(target.error))
        elif not target.findings:
            ET.SubElement(suite, "testcase", classname="mailcfg", name="no findings")
        for f in target.findings:
            # XML 1.0 cannot carry control characters at all
            where = visible(f"{f.location.file or '-'}:{f.location.line or 0}")
            case = ET.SubElement(suite, "testcase", classname=f.rule, name=where)
            message = visible(f.message)
            failure = ET.SubElement(case, "failure", message=message, type=f.severity.value)
            failure.text = f"{f.rule} ({f.severity.value}) at {where}" + \
                (f" [{visible(f.service)}]" if f.service else "") + f": {message}"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
