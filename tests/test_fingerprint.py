"""Fingerprints: the same across line moves and new comments, unique per finding, in every format."""

from __future__ import annotations

import json
import shutil

from conftest import EXAMPLES, make_snapshot
from mailcfg.findings import Finding, Location, Severity
from mailcfg.fingerprint import assign
from mailcfg.lint import lint_path
from test_pipeline_config import cli

BROKEN = EXAMPLES / "broken-submission"


def prints(result) -> list[str]:
    return [f.fingerprint for f in assign(result.findings, "host")]


def test_ordinal_numbers_equal_findings_and_no_line_enters():
    a = Finding("r", Severity.ERROR, "m", Location("f", 3), subject="mynetworks")
    b = Finding("r", Severity.ERROR, "m", Location("f", 9), subject="mynetworks")
    moved = [Finding("r", Severity.ERROR, "m", Location("f", 30), subject="mynetworks"), a]
    first = assign([a, b], "host")
    assert len({f.fingerprint for f in first}) == 2
    assert {f.fingerprint for f in assign(moved, "host")} == {f.fingerprint for f in first}
    assert {f.fingerprint for f in assign([a, b], "other")}.isdisjoint({f.fingerprint for f in first})


def test_postfix_fingerprints_survive_moved_lines_and_comments(tmp_path):
    main = (BROKEN / "etc/postfix/main.cf").read_text()
    master = (BROKEN / "etc/postfix/master.cf").read_text()
    before = lint_path(str(make_snapshot(tmp_path / "a", main=main, master=master)))
    lines = main.splitlines(keepends=True)
    half = len(lines) // 2
    shuffled = "# reordered by a template\n\n" + "".join([*lines[half:], "\n# --\n", *lines[:half]])
    master_lines = master.splitlines(keepends=True)
    after = lint_path(str(make_snapshot(tmp_path / "b", main=shuffled,
                                        master="# header\n#\n\n" + "".join(master_lines))))
    assert [f.location.line for f in after.findings] != [f.location.line for f in before.findings]
    assert sorted(prints(before)) == sorted(prints(after))
    assert len(set(prints(before))) == len(before.findings)
    assert all(f.subject for f in before.findings if f.location.line)


def test_exim_fingerprints_survive_moved_lines_and_comments(tmp_path):
    shutil.copytree(EXAMPLES / "exim-hosting", tmp_path / "a")
    shutil.copytree(EXAMPLES / "exim-hosting", tmp_path / "b")
    conf = tmp_path / "b" / "etc" / "exim4" / "exim4.conf"
    text = conf.read_text()
    text = text.replace("primary_hostname = mail.example.net\n", "")
    text = text.replace("tls_advertise_hosts  = *\n",
                        "tls_advertise_hosts  = *\nprimary_hostname = mail.example.net\n")
    text = text.replace("acl_check_rcpt:\n", "# the RCPT ACL\n\nacl_check_rcpt:\n  # first the null sender\n")
    conf.write_text("# hosting, reviewed\n\n" + text)
    before, after = lint_path(str(tmp_path / "a")), lint_path(str(tmp_path / "b"))
    assert before.findings and [f.location.line for f in before.findings] != [f.location.line for f in after.findings]
    assert prints(before) == prints(after)
    assert len(set(prints(before))) == len(before.findings)
    relay = {f.subject for f in before.findings if f.rule == "exim-open-relay"}
    assert relay == {"acl acl_check_rcpt: accept encrypted"}


def test_sarif_codeclimate_and_json_carry_the_same_stable_fingerprints(tmp_path, monkeypatch, capsys):
    shutil.copytree(BROKEN, tmp_path / "hosts" / "mx1")
    monkeypatch.chdir(tmp_path)

    def formats():
        _, sarif, _ = cli(capsys, "lint", "-f", "sarif", "hosts/mx1")
        _, cc, _ = cli(capsys, "lint", "-f", "codeclimate", "hosts/mx1")
        _, js, _ = cli(capsys, "lint", "-f", "json", "hosts/mx1")
        s = [r["partialFingerprints"]["primaryLocationLineHash"] for r in json.loads(sarif)["runs"][0]["results"]]
        c = [i["fingerprint"] for i in json.loads(cc)]
        j = [f["fingerprint"] for f in json.loads(js)["targets"][0]["findings"]]
        return s, c, j

    s, c, j = formats()
    assert len(set(s)) == len(s) == 14 and sorted(s) == sorted(c) == sorted(j)
    main = tmp_path / "hosts" / "mx1" / "etc" / "postfix" / "main.cf"
    main.write_text("# moved\n\n\n" + main.read_text())
    assert [sorted(x) for x in formats()] == [sorted(s)] * 3
