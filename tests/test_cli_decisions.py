"""`mailcfg explain` and `mailcfg test`: the DESIGN.md shapes, exit codes and bad input."""

from __future__ import annotations

import json

import pytest
from conftest import EXAMPLES
from test_cli import run

OPEN = str(EXAMPLES / "open-relay")
POLICY = str(EXAMPLES / "open-relay" / "policy.yml")


def test_explain_json_has_the_decision_and_a_located_trace():
    proc = run("explain", OPEN, "--client", "198.51.100.9", "--helo", "web2.example.org",
               "--rcpt", "victim@example.com", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["decision"], doc["stage"], doc["reply"], doc["service"]) == ("accept", "rcpt", "250 2.1.5 Ok", "smtp")
    grant = [s for s in doc["trace"] if s["result"] == "permit" and s["what"].startswith("check_helo_access")]
    assert grant and (grant[0]["file"], grant[0]["line"]) == ("etc/postfix/helo_access", 3)
    assert all({"stage", "what", "result", "note", "file", "line"} <= set(s) for s in doc["trace"])


def test_explain_text_shows_reply_and_where():
    proc = run("explain", OPEN, "--client", "198.51.100.9", "--rcpt", "victim%example.com@example.org")
    assert proc.returncode == 0
    assert "REJECT at rcpt: 554 5.7.1 <victim%example.com@example.org>: Relay access denied" in proc.stdout
    assert "etc/postfix/main.cf:11" in proc.stdout


def test_test_policy_reports_each_probe_and_exits_1_on_a_failure():
    proc = run("test", OPEN, "--policy", POLICY, "--format", "json")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert (doc["passed"], doc["failed"]) == (3, 1)
    failed = [r for r in doc["results"] if not r["passed"]]
    assert [(r["name"], r["expected"], r["actual"]) for r in failed] == \
        [("strangers cannot relay with a web server's HELO", "reject", "accept")]
    assert {"name", "expected", "actual", "reply", "passed", "trace"} <= set(doc["results"][0])


def test_test_policy_passing_exits_0(tmp_path):
    policy = tmp_path / "p.json"
    policy.write_text(json.dumps({"probes": [{"client": "198.51.100.9", "rcpt": "a@example.net",
                                              "expect": "reject"}]}))
    assert run("test", OPEN, "--policy", str(policy)).returncode == 0


@pytest.mark.parametrize(("text", "message"), [
    ("probes: [", "not valid YAML or JSON"),
    ("probes: []\n", "non-empty list under 'probes'"),
    ("probes:\n  - client: 1.2.3.4\n    rcpt: a@b.c\n    expect: maybe\n", "p.yml:2: expect must be one of"),
    ("probes:\n  - client: 1.2.3.4\n    expect: accept\n", "p.yml:2: probe needs 'rcpt'"),
    ("probes:\n  - client: 1.2.3.4\n    rcpt: a@b.c\n    expect: accept\n    colour: red\n", "unknown field 'colour'"),
    ("probes:\n  - client: 1.2.3.4\n    rcpt: a@b.c\n    expect: accept\n    service: nosuch\n",
     "no smtpd service 'nosuch' in master.cf"),
])
def test_bad_policy_is_one_line_and_exit_2(tmp_path, text, message):
    policy = tmp_path / "p.yml"
    policy.write_text(text)
    proc = run("test", OPEN, "--policy", str(policy))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert message in proc.stderr, proc.stderr


def test_explain_unknown_port_is_exit_2():
    proc = run("explain", OPEN, "--client", "1.2.3.4", "--rcpt", "a@b.example", "--port", "2525")
    assert proc.returncode == 2 and "no smtpd port 2525" in proc.stderr
