"""mailcfg.api: the library the Ansible collection calls, the same code paths as the CLI, no printing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import EXAMPLES
from mailcfg import api
from mailcfg.errors import MailcfgError
from mailcfg.remote.collect import first_script
from mailcfg.remote.hosts import HostSpec
from mailcfg.remote.route import connect
from mailcfg.remote.ssh import load_known_hosts
from mailcfg.remote.sshtarget import SshOptions
from realsshd import Sshd, available, served_conf

OPEN = "compatibility_level = 3.6\nmyhostname = mx1.example.org\nmynetworks = 0.0.0.0/0\n"


def test_lint_files_finds_an_open_relay_and_names_the_file_and_line():
    report = api.lint_files({"/etc/postfix/main.cf": OPEN}, facts={"hostname": "mx1.example.org"}, target="mx1")
    assert report.target == "mx1" and report.status == "ok" and report.systems == ["postfix"]
    relay = [f for f in report.findings if f["rule"] == "postfix-open-relay"]
    assert [(f["file"], f["line"], f["severity"]) for f in relay] == [("etc/postfix/main.cf", 3, "error")]
    assert report.summary["error"] >= 1 and report.summary["rules"]["postfix-open-relay"] == 1
    assert sum(report.summary[s] for s in ("error", "warning", "info")) == len(report.findings)
    data = report.to_json()
    assert json.loads(json.dumps(data)) == data and set(data) >= {"target", "systems", "status", "error",
                                                                  "findings", "assumptions", "summary"}


def test_lint_files_selects_and_ignores_rules():
    ignored = api.lint_files({"/etc/postfix/main.cf": OPEN}, ignore=["postfix-open-relay"])
    assert "postfix-open-relay" not in ignored.summary["rules"] and ignored.findings
    only = api.lint_files({"/etc/postfix/main.cf": OPEN}, select=["postfix-open-relay"])
    assert {f["rule"] for f in only.findings} == {"postfix-open-relay"}


def test_lint_of_a_local_target_equals_the_cli():
    cli = subprocess.run([sys.executable, "-m", "mailcfg", "lint", "-f", "json", str(EXAMPLES / "open-relay")],
                         capture_output=True, text=True, check=False, timeout=120)
    [target] = json.loads(cli.stdout)["targets"]
    report = api.lint(EXAMPLES / "open-relay")
    assert report.findings == target["findings"] and report.findings


def test_fixes_for_files_give_a_main_cf_that_lints_clean_for_the_rule():
    plan = api.fixes_for_files({"/etc/postfix/main.cf": OPEN}, unsafe=True)
    assert list(plan.files) == ["/etc/postfix/main.cf"] and plan.after == ["postfix reload"]
    assert "postfix-open-relay" in {f["rule"] for f in plan.fixed} and plan.commands == plan.restore == []
    again = api.lint_files({"/etc/postfix/main.cf": plan.files["/etc/postfix/main.cf"]})
    assert "postfix-open-relay" not in again.summary["rules"]


def test_fixes_of_a_local_target_name_host_paths_and_leave_the_files(tmp_path):
    conf = tmp_path / "postfix"
    conf.mkdir()
    (conf / "main.cf").write_text(OPEN)
    plan = api.fixes(conf, unsafe=True)
    assert list(plan.files) == ["/etc/postfix/main.cf"] and (conf / "main.cf").read_text() == OPEN
    safe_only = api.fixes(conf)  # narrowing mynetworks is unsafe: left, and said so
    assert safe_only.files == {} and "postfix-mynetworks-too-wide" in {f["rule"] for f in safe_only.left}


def test_explain_takes_probe_keys_as_a_policy_file_does():
    out = api.explain(EXAMPLES / "open-relay", client="198.51.100.7", rcpt="victim@nowhere.test",
                      helo="web1.example.org")
    assert out["decision"] == "accept" and out["probe"]["helo"] == "web1.example.org" and out["trace"]
    assert api.explain(EXAMPLES / "open-relay", client="198.51.100.7", rcpt="victim@nowhere.test")["decision"] == \
        "reject"


@pytest.mark.parametrize(("call", "words"), [
    (lambda: api.lint_files({"etc/postfix/main.cf": OPEN}), "'etc/postfix/main.cf': not an absolute host path"),
    (lambda: api.lint_files({"/etc/postfix/../shadow": "x"}), "'/etc/postfix/../shadow': not an absolute"),
    (lambda: api.lint_files({}), "files: no files given"),
    (lambda: api.lint_files({"/.mailcfg-host/facts.json": "{}"}), "not a host file"),
    (lambda: api.lint("/nonexistent/mailcfg"), "/nonexistent/mailcfg: no such file or directory"),
    (lambda: api.lint_files({"/etc/postfix/main.cf": OPEN}, select=["postfix-open-rely"]), "did you mean"),
    (lambda: api.explain(EXAMPLES / "open-relay", client="nope", rcpt="a@b.test"), "is not an IP address"),
    (lambda: api.explain(EXAMPLES / "open-relay", client="192.0.2.1", rcpt="a@b.test", expect="reject"),
     "'expect' is what a policy expects"),
    (lambda: api.lint_files({"/etc/postfix/main.cf": OPEN}, facts={"hostname": 7}), "must be a string"),
])
def test_bad_input_raises_one_line(call, words):
    with pytest.raises(MailcfgError) as caught:
        call()
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_collection_steps_refuse_what_is_not_their_output():
    steps = api.Collection()
    assert steps.next_script() == first_script()
    with pytest.raises(MailcfgError, match="did not run"):
        steps.feed(b"sudo: a password is required\n")
    with pytest.raises(MailcfgError, match="not complete"):
        steps.lint("host")


@pytest.mark.skipif(not available(), reason="needs Debian's sshd, unshare and root (scripts/setup.sh)")
def test_collection_driven_over_ssh_lints_as_the_ssh_collector_does(tmp_path):
    """Any transport that runs each script with `sh -s` gets the collector's snapshot and findings."""
    from mailcfg.remote.fetch import lint_host

    server = Sshd(tmp_path / "sshd", served_conf(tmp_path / "sshd"))
    try:
        options = SshOptions(known_hosts=server.known_hosts(tmp_path / "known_hosts"), identity=server.client_key)
        spec = HostSpec.from_url(server.url())
        steps = api.Collection()
        with connect(spec, options, load_known_hosts(options)) as conn:
            while (script := steps.next_script()) is not None:
                _, out, _ = conn.run("sh -s", script.encode())
                steps.feed(out)
        facts = steps.snapshot(tmp_path / "snap")
        assert "postfix" in facts["systems"] and (tmp_path / "snap/etc/postfix/helo_access").is_file()
        report = steps.lint(server.url())
        expected = lint_host(spec, options, None, server.url())
        assert report.findings == [f.to_json() for f in expected.findings] and report.findings
        assert api.fixes(steps).files == {}  # closing this relay is unsafe (it drops the web servers' relaying)
        plan = api.fixes(steps, unsafe=True)
        assert set(plan.files) <= {"/etc/postfix/main.cf", "/etc/postfix/helo_access"} and plan.files
        assert "postfix-open-relay" in {f["rule"] for f in plan.fixed}
    finally:
        server.stop()


def test_fixes_of_a_plesk_host_are_its_commands_not_file_edits(tmp_path):
    from fakeplesk.snapshots import snapshot

    plan = api.fixes(snapshot(tmp_path / "plesk", {"relay": "open"}))
    assert plan.files == {}  # Plesk regenerates main.cf: its settings change through its CLI only
    assert plan.commands == ["plesk bin mailserver --set-relay auth -auth-type smtp"]
    assert plan.restore[-1] == "plesk bin mailserver --set-relay open"
    assert "plesk-relay-open" in {f["rule"] for f in api.lint(tmp_path / "plesk").findings}


def test_the_api_is_typed_for_its_callers():
    """Every public function annotates each parameter and its result, and the package says it is typed
    (PEP 561 py.typed, shipped as package data), so a caller's type checker reads mailcfg.api."""
    import inspect
    import tomllib
    from pathlib import Path

    for name in api.__all__:
        obj = getattr(api, name)
        if inspect.isfunction(obj):
            signature = inspect.signature(obj)
            assert signature.return_annotation is not inspect.Signature.empty, name
            assert all(p.annotation is not inspect.Parameter.empty for p in signature.parameters.values()), name
    package = Path(api.__file__).parent
    assert (package / "py.typed").is_file()
    pyproject = tomllib.loads((package.parent / "pyproject.toml").read_text())
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["mailcfg"]
