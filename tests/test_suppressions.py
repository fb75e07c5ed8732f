"""Checked suppression comments: invalid, unused (and fixed), missing reasons, counted."""

from __future__ import annotations

import json
import shutil

from conftest import EXAMPLES, by_rule, make_snapshot
from mailcfg.fixer import fix_target
from mailcfg.lint import lint_path, lint_snapshot
from mailcfg.snapshot import load_local
from mailcfg.source import SourceFile
from mailcfg.suppression import directives, missing_reasons
from test_pipeline_config import cli

SMTP = "smtp inet n - y - - smtpd\n"


def lint_main(tmp_path, main: str):
    root = make_snapshot(tmp_path / "s", main=main, master=SMTP)
    return lint_snapshot(load_local(str(root)))


def test_a_used_suppression_hides_its_finding_and_is_counted(tmp_path):
    result = lint_main(tmp_path, "# mailcfg: ignore postfix-soft-bounce -- staging host\nsoft_bounce = yes\n")
    assert by_rule(result.findings, "postfix-soft-bounce") == []
    assert [f.rule for f in result.findings if f.rule.startswith("mailcfg-")] == []
    assert result.suppressed == 1 and result.to_json()["suppressed"] == 1


def test_unknown_rule_is_an_error_with_did_you_mean(tmp_path):
    result = lint_main(tmp_path, "# mailcfg: ignore postfix-soft-bounc -- staging\nsoft_bounce = yes\n")
    [invalid] = by_rule(result.findings, "mailcfg-invalid-suppression")
    assert invalid.severity.value == "error" and "did you mean 'postfix-soft-bounce'?" in invalid.message
    assert (invalid.location.line, invalid.location.column) == (1, 19)
    assert len(by_rule(result.findings, "postfix-soft-bounce")) == 1  # hidden by nothing
    [garbled] = by_rule(lint_main(tmp_path, "# mailcfg: ignroe postfix-soft-bounce\nsoft_bounce = yes\n").findings,
                        "mailcfg-invalid-suppression")
    assert "not a suppression" in garbled.message


def test_unused_suppression_reported_and_fix_removes_it(tmp_path):
    main = ("myhostname = mx.example.org\n"
            "# mailcfg: ignore postfix-soft-bounce -- was staging\n"
            "soft_bounce = no\n"
            "# mailcfg: ignore postfix-unknown-parameter, postfix-soft-bounce -- typo kept on purpose\n"
            "smtpd_tls_cert_fiel = /x\n")
    result = lint_main(tmp_path, main)
    unused = by_rule(result.findings, "mailcfg-unused-suppression")
    assert [(f.location.line, f.fix) for f in unused] == [(2, "safe"), (4, "safe")]
    assert "postfix-soft-bounce" in unused[1].message and "postfix-unknown-parameter" not in unused[1].message
    run = fix_target(str(tmp_path / "s"), ["mailcfg-unused-suppression"])
    [change] = run.changes
    assert change.after == ("myhostname = mx.example.org\nsoft_bounce = no\n"
                            "# mailcfg: ignore postfix-unknown-parameter -- typo kept on purpose\n"
                            "smtpd_tls_cert_fiel = /x\n")
    assert by_rule(run.after.findings, "mailcfg-unused-suppression") == []
    assert by_rule(run.after.findings, "postfix-unknown-parameter") == []  # still suppressed


def test_a_suppression_with_a_blank_line_below_hides_nothing(tmp_path):
    result = lint_main(tmp_path, "# mailcfg: ignore postfix-soft-bounce -- x\n\nsoft_bounce = yes\n")
    assert len(by_rule(result.findings, "postfix-soft-bounce")) == 1
    [unused] = by_rule(result.findings, "mailcfg-unused-suppression")
    assert "nothing below it" in unused.message


def test_missing_reason_only_when_the_project_asks(tmp_path, monkeypatch, capsys):
    main = "# mailcfg: ignore postfix-soft-bounce\nsoft_bounce = yes\n"
    assert by_rule(lint_main(tmp_path, main).findings, "mailcfg-suppression-missing-reason") == []
    [missing] = missing_reasons(lint_main(tmp_path, main).sources)
    assert missing.severity.value == "warning" and missing.location.line == 1
    (tmp_path / ".git").mkdir()
    (tmp_path / ".mailcfg.yml").write_text("require-reason: true\n")
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli(capsys, "lint", "-f", "json", "s")
    [target] = json.loads(out)["targets"]
    assert [f["rule"] for f in target["findings"] if f["rule"].startswith("mailcfg-")] == \
        ["mailcfg-suppression-missing-reason"]
    assert target["suppressed"] == 1 and code == 1


def test_exim_statement_suppression_covers_its_conditions():
    text = ("acl_check_rcpt:\n"
            "  # mailcfg: ignore exim-open-relay -- lab host\n"
            "  accept  hosts = *\n"
            "          domains = *\n"
            "  deny\n")
    [d] = directives(SourceFile.from_text("etc/exim4/exim4.conf", text))
    assert d.covers == (3, 4) and d.reason == "lab host"
    continued = "# mailcfg: ignore exim-syntax\nmain_option = a \\\n  b\nother = c\n"
    assert directives(SourceFile.from_text("x", continued))[0].covers == (2, 3)


def test_suppressions_in_an_example_are_counted_in_text_summary(tmp_path, capsys):
    root = make_snapshot(tmp_path / "h", main=(EXAMPLES / "broken-submission" / "etc/postfix/main.cf").read_text()
                         .replace("soft_bounce", "# mailcfg: ignore postfix-soft-bounce -- test host\nsoft_bounce"),
                         master=(EXAMPLES / "broken-submission" / "etc/postfix/master.cf").read_text())
    code, out, _ = cli(capsys, "lint", str(root))
    assert code == 1 and "1 suppressed" in out


def test_exim_statement_suppressed_in_a_real_configuration(tmp_path):
    shutil.copytree(EXAMPLES / "exim-hosting", tmp_path / "ex")
    conf = tmp_path / "ex" / "etc" / "exim4" / "exim4.conf"
    conf.write_text(conf.read_text().replace("  accept  encrypted", "  # mailcfg: ignore exim-open-relay -- lab\n"
                                                                      "  accept  encrypted"))
    result = lint_path(str(tmp_path / "ex"))
    assert by_rule(result.findings, "exim-open-relay") == [] and result.suppressed == 3
    assert [f for f in result.findings if f.rule.startswith("mailcfg-")] == []
