"""Baselines: known findings hidden by fingerprint (lines may move), stale entries reported."""

from __future__ import annotations

import json

import pytest
from conftest import make_snapshot
from test_pipeline_config import cli

MAIN = ("myhostname = mx.example.org\n"
        "soft_bounce = yes\n"
        "mynetworks = 127.0.0.0/8, 10.0.0.0/8\n"
        "smtpd_tls_cert_fiel = /x\n")
SMTP = "smtp inet n - y - - smtpd\n"


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    for host in ("mx1", "mx2"):
        make_snapshot(tmp_path / "hosts" / host, main=MAIN, master=SMTP)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def findings(out: str) -> dict[str, list[dict]]:
    return {t["target"]: t["findings"] for t in json.loads(out)["targets"]}


def test_written_baseline_hides_everything_and_is_stable(fleet, capsys):
    code, _, err = cli(capsys, "lint", "hosts", "--write-baseline", "known.json")
    assert code == 0 and "known.json" in err  # writing the baseline is not a failed gate
    data = json.loads((fleet / "known.json").read_text())
    assert data["version"] == 1 and len(data["entries"]) >= 6
    assert {e["target"] for e in data["entries"]} == {"hosts/mx1", "hosts/mx2"}
    assert data["entries"] == sorted(data["entries"], key=lambda e: (e["target"], e["file"] or "", e["rule"],
                                                                     e["subject"] or "", e["fingerprint"]))
    assert all("line" not in e for e in data["entries"])
    first = (fleet / "known.json").read_text()
    cli(capsys, "lint", "hosts", "--write-baseline", "known.json")
    assert (fleet / "known.json").read_text() == first
    data["entries"][0]["reason"] = "accepted until the office moves"  # people may say why: kept
    (fleet / "known.json").write_text(json.dumps(data))
    cli(capsys, "lint", "hosts", "--write-baseline", "known.json")
    assert json.loads((fleet / "known.json").read_text())["entries"][0]["reason"] == "accepted until the office moves"
    code, out, _ = cli(capsys, "lint", "-f", "json", "hosts", "--baseline", "known.json")
    assert code == 0 and findings(out) == {"hosts/mx1": [], "hosts/mx2": []}
    assert {t["baselined"] for t in json.loads(out)["targets"]} == {len(data["entries"]) // 2}


def test_writing_again_keeps_the_entries_of_targets_and_rules_the_run_did_not_judge(fleet, capsys):
    cli(capsys, "lint", "hosts", "--write-baseline", "known.json")
    everything = json.loads((fleet / "known.json").read_text())["entries"]
    cli(capsys, "lint", "hosts/mx1", "--write-baseline", "known.json")  # one host re-baselined: mx2's stay
    assert json.loads((fleet / "known.json").read_text())["entries"] == everything
    (fleet / "hosts" / "mx2" / "etc" / "postfix" / "main.cf").write_text("myhostname = mx.example.org\n")
    cli(capsys, "lint", "hosts", "--select", "postfix-soft-bounce", "--write-baseline", "known.json")
    kept = json.loads((fleet / "known.json").read_text())["entries"]
    # the fixed soft_bounce of mx2 is dropped; its other rules were not checked, so their entries stay
    assert kept == [e for e in everything if (e["target"], e["rule"]) != ("hosts/mx2", "postfix-soft-bounce")]


def test_moved_lines_and_comments_keep_findings_hidden_new_ones_show(fleet, capsys):
    cli(capsys, "lint", "hosts", "--write-baseline", "known.json")
    main = fleet / "hosts" / "mx1" / "etc" / "postfix" / "main.cf"
    lines = MAIN.splitlines(keepends=True)
    main.write_text("# managed by ansible\n\n" + "".join(reversed(lines)) + "\n# end\n")
    code, out, _ = cli(capsys, "lint", "-f", "json", "hosts", "--baseline", "known.json")
    assert code == 0 and findings(out)["hosts/mx1"] == []
    main.write_text(main.read_text() + "smtpd_banner = $myhostnme\n")
    code, out, _ = cli(capsys, "lint", "-f", "json", "hosts", "--baseline", "known.json")
    assert code == 1 and [f["rule"] for f in findings(out)["hosts/mx1"]] == ["postfix-undefined-variable"]


def test_fixed_findings_leave_stale_entries(fleet, capsys):
    (fleet / ".mailcfg.yml").write_text("baseline: known.json\n")
    cli(capsys, "lint", "hosts", "--write-baseline", "known.json")
    main = fleet / "hosts" / "mx2" / "etc" / "postfix" / "main.cf"
    main.write_text(MAIN.replace("soft_bounce = yes\n", ""))
    code, out, _ = cli(capsys, "lint", "-f", "json", "hosts")  # the baseline named by the configuration
    stale = findings(out)["hosts/mx2"]
    assert code == 0 and [(f["rule"], f["severity"]) for f in stale] == [("mailcfg-stale-baseline", "info")]
    assert "postfix-soft-bounce" in stale[0]["message"] and findings(out)["hosts/mx1"] == []
    assert cli(capsys, "lint", "hosts", "--fail-on-stale")[0] == 1
    # nor are entries of rules this run does not check
    code, out, _ = cli(capsys, "lint", "-f", "json", "hosts", "--select", "postfix-unknown-parameter")
    assert code == 0 and findings(out) == {"hosts/mx1": [], "hosts/mx2": []}
    # a target not linted in this run keeps its entries without a word
    code, out, _ = cli(capsys, "lint", "-f", "json", "hosts/mx1")
    assert code == 0 and findings(out) == {"hosts/mx1": []}


def test_the_same_targets_named_from_elsewhere_match(fleet, capsys, monkeypatch):
    (fleet / ".mailcfg.yml").write_text("baseline: known.json\n")
    cli(capsys, "lint", "hosts", "--write-baseline", "known.json")
    monkeypatch.chdir(fleet / "hosts")
    code, out, _ = cli(capsys, "lint", "-f", "json", "mx1", str(fleet / "hosts" / "mx2"))
    assert code == 0 and all(f == [] for f in findings(out).values())


@pytest.mark.parametrize("text, words", [("{", "invalid JSON"), ('{"version": 7, "entries": []}', "version 1"),
                                         ('{"version": 1, "entries": [{"rule": "x"}]}', "entry 1")])
def test_bad_baseline_is_one_line_exit_2(fleet, capsys, text, words):
    (fleet / "known.json").write_text(text)
    code, out, err = cli(capsys, "lint", "hosts", "--baseline", "known.json")
    assert code == 2 and out == "" and err.count("\n") == 1 and words in err and "known.json" in err
    code, _, err = cli(capsys, "lint", "hosts", "--baseline", "missing.json")
    assert code == 2 and "baseline not found" in err


def test_an_empty_baseline_such_as_dev_null_hides_nothing(fleet, capsys):
    (fleet / ".mailcfg.yml").write_text("baseline: known.json\n")
    cli(capsys, "lint", "hosts", "--write-baseline", "known.json")
    code, out, err = cli(capsys, "lint", "-f", "json", "hosts", "--baseline", "/dev/null")
    assert code == 1 and all(f for f in findings(out).values()), err  # the project's baseline set aside
