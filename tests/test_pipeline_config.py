"""The project configuration (.mailcfg.yml), rule selection, and the CLI options that go with them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jsonschema
import pytest
from conftest import EXAMPLES, make_snapshot
from mailcfg import projectconfig
from mailcfg.cli import main
from mailcfg.errors import MailcfgError
from mailcfg.registry import all_rules
from mailcfg.selection import selected

IDS = [r.id for r in all_rules()]
SOFT = "soft_bounce = yes\n"
# two findings of different tags: soft_bounce (deliverability), an unknown parameter (syntax)
MAIN = "soft_bounce = yes\nsmtpd_tls_cert_fiel = /x\n"


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """`mailcfg ARGS` in this process (main() as the console script runs it): (exit code, stdout, stderr)."""
    old = sys.argv
    sys.argv = ["mailcfg", *args]
    try:
        with pytest.raises(SystemExit) as exit_:
            main()
    finally:
        sys.argv = old
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


def rules_found(out: str) -> set[str]:
    return {f["rule"] for t in json.loads(out)["targets"] for f in t["findings"]}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A repository (with .git) holding host snapshots under hosts/, as the working directory."""
    (tmp_path / ".git").mkdir()
    make_snapshot(tmp_path / "hosts" / "mx1", main=MAIN)
    make_snapshot(tmp_path / "hosts" / "mx2", main=MAIN)
    monkeypatch.chdir(tmp_path)
    return tmp_path


# selection ------------------------------------------------------------------------------------------

def test_selection_by_id_alias_glob_and_tag():
    assert selected(IDS, select=["postfix-soft-bounce"]) == {"postfix-soft-bounce"}
    assert selected(IDS, select=["tls"]) == {r.id for r in all_rules() if "tls" in r.tags}
    exim = {i for i in IDS if i.startswith("exim-")}
    assert selected(IDS, select=["exim-*"], ignore=["exim-syntax"]) == exim - {"exim-syntax"}
    assert selected(IDS, ignore=["relay"]) == {r.id for r in all_rules() if "relay" not in r.tags}
    assert selected(IDS, select=["auth"], extend_select=["postfix-soft-bounce"]) >= {"postfix-soft-bounce"}
    # a rule outside the universe (another system's run) is no typo
    assert selected(["postfix-syntax"], select=["exim-syntax"]) == set()


@pytest.mark.parametrize("entry, hint", [("postfix-open-rely", "did you mean 'postfix-open-relay'?"),
                                         ("exm-*", "matches no rule"), ("nonsense", "unknown rule or tag")])
def test_selection_of_nothing_is_an_error(entry, hint):
    with pytest.raises(MailcfgError, match=hint.replace("?", r"\?")):
        selected(IDS, ignore=[entry])


# finding and reading the file -----------------------------------------------------------------------

def test_found_in_a_parent_but_not_beyond_the_repository_root(tmp_path, monkeypatch):
    (tmp_path / ".mailcfg.yml").write_text("select: [tls]\n")  # outside the repository: never read
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "sub" / "deeper").mkdir(parents=True)
    monkeypatch.chdir(repo / "sub" / "deeper")
    assert projectconfig.load().path is None
    (repo / ".mailcfg.yml").write_text("ignore: [postfix-soft-bounce]\n")
    found = projectconfig.load()
    assert found.path == repo / ".mailcfg.yml" and found.settings.ignore == ["postfix-soft-bounce"]
    assert projectconfig.load(isolated=True).path is None
    other = tmp_path / "other.yml"
    other.write_text("fail-on: error\n")
    assert projectconfig.load(other).settings.fail_on == "error"


def test_extends_merges_and_resolves_paths_from_each_file(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "mailcfg.yml").write_text(
        "ignore: [postfix-soft-bounce]\nseverity: {postfix-syntax: warning}\nbaseline: known.json\n"
        "exclude: ['../hosts/retired-*']\ntargets:\n  - match: 'hosts/*'\n    roles: [mx]\n")
    (tmp_path / ".mailcfg.yml").write_text(
        "extends: base/mailcfg.yml\nseverity: {postfix-unknown-parameter: info}\n"
        "targets:\n  - match: hosts/mx1\n    ignore: [tls]\n")
    config = projectconfig.load(tmp_path / ".mailcfg.yml")
    s = config.settings
    assert s.ignore == ["postfix-soft-bounce"]
    assert s.severity == {"postfix-syntax": "warning", "postfix-unknown-parameter": "info"}
    assert Path(s.baseline).resolve() == (tmp_path / "base" / "known.json").resolve()
    # exclude globs, like the baseline, are relative to the file that names them
    assert config.excluded(str(tmp_path / "hosts" / "retired-mx")) and not config.excluded(str(tmp_path / "hosts"))
    mx1 = config.for_target("hosts/mx1", str(tmp_path / "hosts" / "mx1"))
    assert mx1.roles == ["mx"] and mx1.ignore == ["postfix-soft-bounce", "tls"]
    assert "postfix-tls-missing-cert" not in mx1.rules()


def test_extends_cycle_is_an_error(tmp_path):
    (tmp_path / "a.yml").write_text("extends: b.yml\n")
    (tmp_path / "b.yml").write_text("extends: a.yml\n")
    with pytest.raises(MailcfgError, match=r"b\.yml:1:10: extends: .*a\.yml extends itself"):
        projectconfig.load(tmp_path / "a.yml")


@pytest.mark.parametrize("text, where, words", [
    ("select: [relay]\nbogus: 1\n", "2:1", "unknown key 'bogus'"),
    ("ignore:\n  - relay\n  - postfix-open-rely\n", "3:5", "did you mean 'postfix-open-relay'?"),
    ("fail-on: sometimes\n", "1:10", "'sometimes' is not one of error, warning, info, never"),
    ("targets:\n  - match: a\n    roles: [mx, tarpit]\n", "3:17", "'tarpit' is not one of"),
    ("severity:\n  postfix-soft-bounce: error\n  postfix-soft-bonce: info\n", "3:3", "did you mean"),
    ("targets:\n  - roles: [mx]\n", "2:5", "'match' is a required property"),
    ("select: [relay\n", "2:1", "expected ',' or ']'"),
    ("select: relay\n", "1:9", "is not of type 'array'"),
    ("select: [relay]\nextends: nowhere.yml\n", "2:10", "nowhere.yml: no such file"),
    ("- " + "x" * 500 + "\n", "1:1", "xxx... is not of type 'object'"),  # a long value is cut
])
def test_invalid_file_is_one_line_with_position_and_exit_2(project, capsys, text, where, words):
    (project / ".mailcfg.yml").write_text(text)
    code, out, err = cli(capsys, "lint", "hosts/mx1")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and f".mailcfg.yml:{where}: " in err and words in err, err
    assert len(err) < 300, err


# the effect on lint ---------------------------------------------------------------------------------

def test_cli_select_ignore_and_extend_select(project, capsys):
    code, out, _ = cli(capsys, "lint", "-f", "json", "hosts/mx1")
    assert {"postfix-soft-bounce", "postfix-unknown-parameter"} <= rules_found(out) and code == 1
    code, out, _ = cli(capsys, "lint", "-f", "json", "--select", "deliverability", "hosts/mx1")
    assert rules_found(out) == {"postfix-soft-bounce"}
    _, out, _ = cli(capsys, "lint", "-f", "json", "--select", "syntax,deliverability", "--ignore", "postfix-syntax",
                    "hosts/mx1")
    assert rules_found(out) == {"postfix-soft-bounce", "postfix-unknown-parameter"}
    _, out, _ = cli(capsys, "lint", "-f", "json", "--select", "postfix-soft-bounce", "--extend-select",
                    "postfix-unknown-*", "hosts/mx1")
    assert rules_found(out) == {"postfix-soft-bounce", "postfix-unknown-parameter"}
    code, out, err = cli(capsys, "lint", "--ignore", "postfix-soft-bonce", "hosts/mx1")
    assert code == 2 and "did you mean 'postfix-soft-bounce'?" in err and err.count("\n") == 1


def test_config_file_selection_severity_and_fail_on(project, capsys):
    (project / ".mailcfg.yml").write_text("ignore: [syntax, relay]\nseverity: {postfix-soft-bounce: info}\n"
                                          "fail-on: warning\n")
    code, out, _ = cli(capsys, "lint", "-f", "json", "hosts/mx1")
    findings = json.loads(out)["targets"][0]["findings"]
    assert {f["rule"] for f in findings} == {"postfix-soft-bounce"} and findings[0]["severity"] == "info"
    assert code == 0  # info is below fail-on warning
    assert cli(capsys, "lint", "--fail-on", "info", "hosts/mx1")[0] == 1  # the command line wins
    # the command line extends the file's ignore list; --select replaces the file's select
    _, out, _ = cli(capsys, "lint", "-f", "json", "--ignore", "deliverability", "hosts/mx1")
    assert rules_found(out) == set()
    _, out, _ = cli(capsys, "lint", "-f", "json", "--isolated", "hosts/mx1")
    assert "postfix-unknown-parameter" in rules_found(out)


def test_per_target_settings_and_exclude(project, capsys):
    make_snapshot(project / "hosts" / "old", main=SOFT)
    (project / ".mailcfg.yml").write_text(
        "exclude: [hosts/old]\n"
        "targets:\n  - match: hosts/mx2\n    ignore: [postfix-soft-bounce]\n")
    _, out, _ = cli(capsys, "lint", "-f", "json", "hosts")
    targets = {t["target"]: {f["rule"] for f in t["findings"]} for t in json.loads(out)["targets"]}
    assert set(targets) == {"hosts/mx1", "hosts/mx2"}  # hosts/old excluded
    assert "postfix-soft-bounce" in targets["hosts/mx1"] and "postfix-soft-bounce" not in targets["hosts/mx2"]
    _, out, _ = cli(capsys, "lint", "-f", "json", "--exclude", "hosts/mx2", "hosts")
    assert [t["target"] for t in json.loads(out)["targets"]] == ["hosts/mx1"]
    _, out, _ = cli(capsys, "lint", "-f", "json", "hosts/old")  # named itself: linted anyway
    assert [t["target"] for t in json.loads(out)["targets"]] == ["hosts/old"]


def test_per_target_facts_set_the_postfix_version(project, capsys):
    # a plain config directory says no version: the project states it, and the analysis uses it
    (project / ".mailcfg.yml").write_text(
        "targets:\n  - match: 'hosts/mx1'\n    facts: {postfix_version: '2.9.6'}\n    roles: [mx]\n")
    code, out, _ = cli(capsys, "config", "--show", "hosts/mx1")
    shown = json.loads(out)
    assert code == 0 and shown["facts"] == {"postfix_version": "2.9.6"} and shown["roles"] == ["mx"]
    assert "postfix-soft-bounce" in shown["rules"]
    _, out, _ = cli(capsys, "config", "--show", "hosts/mx2")
    assert json.loads(out)["facts"] == {} and json.loads(out)["config"].endswith(".mailcfg.yml")
    _, out, _ = cli(capsys, "lint", "-f", "json", "hosts")
    unknown = {t["target"]: any("version unknown" in a for a in t["assumptions"]) for t in json.loads(out)["targets"]}
    assert unknown == {"hosts/mx1": False, "hosts/mx2": True}


def test_schema_is_printed_and_documents_every_key(capsys):
    code, out, _ = cli(capsys, "config", "--schema")
    schema = json.loads(out)
    assert code == 0
    jsonschema.Draft202012Validator.check_schema(schema)
    assert all(p.get("description") for p in schema["properties"].values())
    target_keys = schema["properties"]["targets"]["items"]["properties"]
    assert all(p.get("description") for p in target_keys.values())
    example = {"select": ["relay", "exim-*"], "ignore": ["postfix-soft-bounce"], "severity": {"x": "info"},
               "targets": [{"match": "mx*", "facts": {"postfix_version": "3.7.10"}}], "require-reason": True}
    jsonschema.validate(example, schema)


def test_fix_takes_select_and_the_old_rule_option(tmp_path, capsys):
    root = make_snapshot(tmp_path / "h", main=MAIN + "mynetworks = 0.0.0.0/0\n",
                         master="smtp inet n - y - - smtpd\n")
    args = ("--unsafe-fixes", "--fail-on", "never", str(root))
    code, out, _ = cli(capsys, "fix", "--select", "postfix-soft-bounce", *args)
    changed = [line for line in out.splitlines() if line.startswith(("+", "-"))]
    assert code == 0 and changed == ["--- a/etc/postfix/main.cf", "+++ b/etc/postfix/main.cf",
                                     "-soft_bounce = yes", "+soft_bounce = no"]
    code, old, _ = cli(capsys, "fix", "--rule", "postfix-soft-bounce", *args)
    assert old == out
    code, out, err = cli(capsys, "fix", "--select", "postfix-soft-bonce", str(root))
    assert code == 2 and "did you mean" in err


def test_examples_directory_lints_the_same_with_an_empty_config(tmp_path, monkeypatch, capsys):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".mailcfg.yml").write_text("# nothing set\n")
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli(capsys, "lint", "-f", "json", str(EXAMPLES / "broken-submission"))
    assert code == 1 and len(json.loads(out)["targets"][0]["findings"]) == 14


def test_targets_match_inventory_groups(project, capsys):
    (project / ".mailcfg.yml").write_text(
        "targets:\n  - match: 'submission:!smtp-backup*'\n    ignore: [tls]\n"
        "  - match: 'mx1.example.org'\n    severity: {postfix-open-relay: warning}\n")
    inventory = str(EXAMPLES / "inventory.yml")
    shown = {}
    for host in ("smtp.example.org", "smtp-backup.example.org", "mx1.example.org"):
        code, out, _ = cli(capsys, "config", "--show", "-i", inventory, host)
        assert code == 0
        shown[host] = json.loads(out)
    assert shown["smtp.example.org"]["ignore"] == ["tls"] and "postfix-auth-without-tls" not in \
        shown["smtp.example.org"]["rules"]
    assert shown["smtp-backup.example.org"]["ignore"] == []
    assert shown["mx1.example.org"]["severity"] == {"postfix-open-relay": "warning"}
