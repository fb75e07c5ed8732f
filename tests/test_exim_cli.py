"""explain and test on an Exim host: the same interface and JSON as for Postfix."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import EXAMPLES

HOST = EXAMPLES / "exim-hosting"


def mailcfg(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mailcfg", *args], capture_output=True, text=True, check=False,
                          timeout=120)


def test_explain_json_names_the_statement_that_decided():
    out = mailcfg("explain", str(HOST), "--client", "198.51.100.7", "--tls", "--rcpt", "victim@example.com",
                  "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert (data["decision"], data["stage"], data["reply"], data["service"]) == ("accept", "rcpt", "250 Accepted",
                                                                                 "smtp")
    last = data["trace"][-1]
    assert (last["what"], last["file"], last["line"]) == ("accept encrypted = *", "etc/exim4/exim4.conf", 29)


def test_explain_by_service_name_and_an_unknown_service():
    out = mailcfg("explain", str(HOST), "--client", "198.51.100.7", "--rcpt", "victim@example.com",
                  "--service", "submission")
    assert out.returncode == 0 and "service submission" in out.stdout and "550 relay not permitted" in out.stdout
    bad = mailcfg("explain", str(HOST), "--client", "198.51.100.7", "--rcpt", "x@example.com", "--service", "pickup")
    assert bad.returncode == 2 and "Exim has no service 'pickup'" in bad.stderr and "Traceback" not in bad.stderr


def test_policy_fails_on_the_open_relay_and_passes_once_fixed(tmp_path: Path):
    policy = HOST / "policy.yml"
    out = mailcfg("test", str(HOST), "--policy", str(policy), "--format", "json")
    data = json.loads(out.stdout)
    assert out.returncode == 1 and (data["passed"], data["failed"]) == (3, 1)
    [failed] = [r for r in data["results"] if not r["passed"]]
    assert failed["name"] == "strangers cannot relay after STARTTLS either" and failed["actual"] == "accept"
    fixed = tmp_path / "host"
    shutil.copytree(HOST, fixed)
    assert mailcfg("fix", str(fixed), "--write").returncode == 1  # 1: the '#' in relay_from_hosts is left
    again = mailcfg("test", str(fixed), "--policy", str(policy))
    assert again.returncode == 0, again.stdout
