"""Hostile input: terminal escapes never reach a terminal raw; loops and deep nesting end in a finding
or an error, never a crash or a hang."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, make_snapshot

TITLE = "\x1b]0;pwned\x07"  # retitles the terminal window
RED = "\x1b[31m"  # recolours everything after it
FACTS = {"hostname": "mail.example.net", "systems": {"postfix": {"version": "3.7.11"}}}
RAW = ("\x1b", "\x07", "\u202e")


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MAILCFG_DEBUG"}
    return subprocess.run([sys.executable, "-m", "mailcfg", *args], capture_output=True, text=True, cwd=REPO,
                          env=env, check=False, timeout=timeout)


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """A snapshot whose directory, table file name, main.cf lines and table lines carry escapes."""
    return make_snapshot(
        tmp_path / f"snap{RED}", facts=FACTS,
        main="compatibility_level = 3.6\n"
             f"mynetworks = 127.0.0.0/8 {RED}x 0.0.0.0/0\n"
             f"bogus{TITLE} = value{RED}\u202e\n"
             f"smtpd_client_restrictions = check_client_access cidr:/etc/postfix/evil{RED}.cidr\n",
        files={f"/etc/postfix/evil{RED}.cidr": f"10.0.0.0/8 REJECT go away{TITLE}\n10.0.0.1/8{TITLE} OK\n"})


@pytest.mark.parametrize("fmt", ["text", "github", "junit", "codeclimate"])
def test_escapes_are_shown_not_sent(hostile, fmt):
    out = run("lint", str(hostile), "--format", fmt)
    assert out.returncode == 1, out.stderr
    assert not any(c in out.stdout + out.stderr for c in RAW)
    if fmt in ("text", "github", "junit"):  # these show the file name; text and github quote messages
        assert "evil\\x1b[31m.cidr" in out.stdout
    if fmt != "junit":
        assert "mynetworks" in out.stdout


def test_text_report_quotes_the_line_visibly_with_the_caret_under_the_setting(hostile):
    lines = run("lint", str(hostile)).stdout.splitlines()
    assert f"{hostile}".replace(RED, "\\x1b[31m") + " (postfix)" == lines[0]
    # the finding about 0.0.0.0/0 points at it; the caret stands under it in the shown line
    quoted = next(i for i, line in enumerate(lines) if "mynetworks-too-wide" in line) + 1
    assert lines[quoted] == "             | mynetworks = 127.0.0.0/8 \\x1b[31mx 0.0.0.0/0"
    assert lines[quoted][len(lines[quoted + 1]) - 1:] == "0.0.0.0/0"
    assert any(f"bogus\\x1b]0;pwned\\x07 = value\\x1b[31m\\u202e" in line for line in lines)


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_machine_formats_stay_valid_json_and_keep_the_text(hostile, fmt):
    out = run("lint", str(hostile), "--format", fmt)
    data = json.loads(out.stdout)  # control characters escaped the JSON way
    assert "\x1b" not in out.stdout
    # the file's real name, as it is (or percent-encoded in a SARIF file URI)
    assert any(f"evil{RED}.cidr" in text or "evil%1B%5B31m.cidr" in text for text in _strings(data))


def _strings(data) -> list[str]:
    if isinstance(data, str):
        return [data]
    items = data.values() if isinstance(data, dict) else data if isinstance(data, list) else []
    return [s for item in items for s in _strings(item)]


def test_one_line_errors_on_stderr_are_visible(tmp_path):
    out = run("lint", str(tmp_path / f"missing{TITLE}"))
    assert out.returncode == 2
    assert not any(c in out.stdout + out.stderr for c in RAW)
    assert out.stderr.count("\n") == 1 and "missing\\x1b]0;pwned\\x07" in out.stderr


def test_explain_trace_is_visible(hostile):
    out = run("explain", str(hostile), "--client", "10.1.2.3", "--rcpt", "a@example.org")
    assert not any(c in out.stdout + out.stderr for c in RAW)
    assert "go away\\x1b]0;pwned\\x07" in out.stdout and "evil\\x1b[31m.cidr" in out.stdout
