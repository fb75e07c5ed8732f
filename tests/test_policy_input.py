"""explain and test check their input: one clear line naming the option or the policy file:line of
the probe, and in a policy the other probes are still run and reported (exit 2 when one is invalid)."""

from __future__ import annotations

import json

import pytest
from conftest import EXAMPLES
from test_cli import run

OPEN = str(EXAMPLES / "open-relay")
GOOD_PROBE = "  - name: {name}\n    client: 198.51.100.77\n    rcpt: victim@example.com\n    expect: accept\n"


@pytest.mark.parametrize(("args", "message"), [
    (("--client", "not-an-ip", "--rcpt", "a@example.org"), "client 'not-an-ip' is not an IP address"),
    (("--client", "1.2.3.4", "--rcpt", "a@example.org", "--service", "smtp", "--port", "587"),
     "service 'smtp' listens on port 25, not 587"),
    (("--client", "1.2.3.4", "--rcpt", "a@example.org\r\nDATA"), "holds a control character"),
])
def test_explain_bad_input_is_one_line_and_exit_2(args, message):
    proc = run("explain", OPEN, *args)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert message in proc.stderr, proc.stderr


def test_a_bare_local_part_is_valid_input_decided_as_smtpd_does():
    """smtpd takes RCPT TO:<alice> as a local address (alice@$myhostname), not as a syntax error."""
    proc = run("explain", OPEN, "--client", "198.51.100.77", "--rcpt", "alice", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["decision"], doc["reply"]) == \
        ("reject", "550 5.1.1 <alice>: Recipient address rejected: User unknown in local recipient table")


@pytest.mark.parametrize(("probe", "message"), [
    ("    client: not-an-ip\n    rcpt: a@example.org\n    expect: reject\n", "client 'not-an-ip' is not an IP address"),
    ("    client: 1.2.3.4\n    rcpt: a@example.org\n    expect: reject\n    service: nosuch\n",
     "no smtpd service 'nosuch' in master.cf"),
    ("    client: 1.2.3.4\n    rcpt: a@example.org\n    expect: reject\n    service: smtp\n    port: 587\n",
     "service 'smtp' listens on port 25, not 587"),
    ("    client: 1.2.3.4\n    rcpt: a@example.org\n    expect: reject\n    expct_code: 554\n",
     "unknown field 'expct_code' (did you mean 'expect_code'?)"),
    ("    client: 1.2.3.4\n    rcpt: a@example.org\n    expect: reject\n    tls: yes please\n",
     "tls must be true or false, not 'yes please'"),
    ("    client: 1.2.3.4\n    rcpt: [a, b]\n    expect: reject\n", "rcpt must be text, not a list"),
    ("    client: 1.2.3.4\n    rcpt: a@example.org\n    expect: reject\n    expect_code: 99\n",
     "expect_code must be an SMTP reply code"),
    ("    client: 1.2.3.4\n    rcpt: a@example.org\n    expect: reject\n    expect_reply: '('\n",
     "expect_reply is not a valid regular expression"),
    ("    client: 1.2.3.4\n    rcpt: a@example.org\n    expect: reject\n    port: \u00b2\n",
     "port must be a number, not '\u00b2'"),  # str.isdigit() takes a superscript, int() does not
    ("    client: 1.2.3.4\n    rcpt: a@example.org\n    expect: reject\n    expect_code: \u0665\u0665\u0664\n",
     "expect_code must be a number, not '\u0665\u0665\u0664'"),
])
def test_one_bad_probe_is_reported_at_its_line_and_the_others_still_run(tmp_path, probe, message):
    policy = tmp_path / "p.yml"
    policy.write_text("probes:\n" + GOOD_PROBE.format(name="first") + "  - name: bad\n" + probe
                      + GOOD_PROBE.format(name="last"))
    proc = run("test", OPEN, "--policy", str(policy), "--format", "json")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr == f"mailcfg: {policy}:6: {message}\n" or message in proc.stderr, proc.stderr
    assert f"{policy}:6: " in proc.stderr and proc.stderr.count("\n") == 1
    doc = json.loads(proc.stdout)
    got = [(r["name"], r["actual"]) for r in doc["results"]]
    assert got == [("first", "reject"), ("bad", "invalid"), ("last", "reject")]
    assert doc["invalid"] == 1


def test_duplicate_probe_names_name_the_first(tmp_path):
    policy = tmp_path / "p.yml"
    policy.write_text("probes:\n" + GOOD_PROBE.format(name="same") + GOOD_PROBE.format(name="same"))
    proc = run("test", OPEN, "--policy", str(policy))
    assert proc.returncode == 2
    assert proc.stderr == f"mailcfg: {policy}:6: duplicate probe name 'same' (first at {policy}:2)\n"
    assert "INVALID same" in proc.stdout and "FAIL same: expected accept, got reject" in proc.stdout


def test_expect_code_and_expect_reply(tmp_path):
    policy = tmp_path / "p.yml"
    probe = "  - name: {name}\n    client: 198.51.100.9\n    rcpt: a@example.net\n    expect: reject\n"
    policy.write_text("probes:\n"
                      + probe.format(name="right code") + "    expect_code: 554\n"
                      + probe.format(name="wrong code") + "    expect_code: 450\n"
                      + probe.format(name="right text") + "    expect_reply: 'Relay access denied$'\n"
                      + probe.format(name="wrong text") + "    expect_reply: 'Access denied: go away'\n")
    proc = run("test", OPEN, "--policy", str(policy), "--format", "json")
    assert proc.returncode == 1
    results = {r["name"]: r for r in json.loads(proc.stdout)["results"]}
    assert {n: r["passed"] for n, r in results.items()} == \
        {"right code": True, "wrong code": False, "right text": True, "wrong text": False}
    assert results["wrong code"]["problems"] == ["expected reply code 450, got 554"]
    assert results["wrong text"]["problems"] == ["the reply does not match expect_reply /Access denied: go away/"]


def test_bare_local_parts_as_the_real_smtpd_answers_them(harness, tmp_path):
    """A recipient without `@` is no input error: the real smtpd decides it like any address, and so
    does the engine (a listed local user, an unknown one, and reject_non_fqdn_recipient)."""
    import realpostfix as rp
    from mailcfg.decisions import explain
    from mailcfg.transaction import Probe

    roots = []
    for name, extra in (("plain", ""), ("fqdn", "smtpd_recipient_restrictions = reject_non_fqdn_recipient\n")):
        root = tmp_path / name
        (root / "etc/postfix").mkdir(parents=True)
        (root / "etc/postfix/main.cf").write_text(
            "compatibility_level = 3.6\nmyhostname = mx1.example.org\nmydestination = $myhostname, localhost\n"
            "alias_maps =\nlocal_recipient_maps = inline:{ alice=x }\n" + extra)
        (root / "etc/postfix/master.cf").write_text(rp.master_cf(["smtp      inet  n       -       n       -"
                                                                  "       -       smtpd"]))
        rp.finish_snapshot(root)
        roots.append(root)
    probes = [Probe("198.51.100.7", rcpt, "someone@example.net", "client.example.net", service="smtp")
              for rcpt in ("alice", "bob", "Alice")]
    real = harness.run([(root, probes) for root in roots])
    for root, observed in zip(roots, real, strict=True):
        for probe, answer in zip(probes, observed, strict=True):
            decided = explain(str(root), probe).decision
            assert (decided.action, decided.reply) == (answer.action, answer.reply), (root.name, probe.rcpt,
                                                                                       answer.transcript)
    assert [a.action for a in real[0]] == ["accept", "reject", "accept"]  # the real smtpd takes them as local
    assert [a.code for a in real[1]] == [504, 504, 504]  # and reject_non_fqdn_recipient refuses them
