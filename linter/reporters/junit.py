"""JUnit XML: a test suite per target, a failing test case per finding (CI test-report views).

`classname` is `<target>.<rule>` (Jenkins shows the part before the last dot as the package);
each test name names the file, line and subject, made unique within the report: views that key
cases by class and name would otherwise merge two findings of a rule in one file.
"""

from __future__ import annotations

from xml.etree import ElementTree as ET

from mailcfg.lint import TargetResult
from mailcfg.reporters.visible import visible


def render(results: list[TargetResult], color: bool = False) -> str:
    root = ET.Element("testsuites", name="mailcfg")
    names: set[tuple[str, str]] = set()
    for target in results:
        failures = len(target.findings)
        label = visible(target.target)
        suite = ET.SubElement(root, "testsuite", name=label, tests=str(max(failures, 1)),
                              failures=str(failures), errors="1" if target.error else "0")
        if target.error:
            case = ET.SubElement(suite, "testcase", classname=f"{label}.mailcfg",
                                 name=_unique(f"{label}.mailcfg", target.status, names))
            ET.SubElement(case, "error", message=visible(target.error))
        elif not target.findings:
            ET.SubElement(suite, "testcase", classname=f"{label}.mailcfg",
                          name=_unique(f"{label}.mailcfg", "no findings", names))
        for f in target.findings:
            # XML 1.0 cannot carry control characters at all
            line = f":{f.location.line}" if f.location.line else ""  # a finding about a whole file has no line 0
            where = visible(f"{f.location.file or '-'}{line}")
            classname = f"{label}.{f.rule}"
            name = where + (f" {visible(f.subject)}" if f.subject else "") + \
                (f" [{visible(f.service)}]" if f.service else "")
            case = ET.SubElement(suite, "testcase", classname=classname, name=_unique(classname, name, names))
            if f.location.file:
                case.set("file", visible(f.location.file))
            message = visible(f.message)
            failure = ET.SubElement(case, "failure", message=message, type=f.severity.value)
            failure.text = f"{f.rule} ({f.severity.value}) at {where}" + \
                (f" [{visible(f.service)}]" if f.service else "") + f": {message}"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _unique(classname: str, name: str, taken: set[tuple[str, str]]) -> str:
    candidate, n = name, 1
    while (classname, candidate) in taken:
        n += 1
        candidate = f"{name} #{n}"
    taken.add((classname, candidate))
    return candidate
