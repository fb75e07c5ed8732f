"""Big inputs: long cidr tables and mynetworks lists keep Postfix's first-match answers (checked
against the real Postfix), and huge files are linted and reported without a hang (a subprocess
timeout, never a timing assertion: bench/big_inputs.py measures)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import realpostfix as rp
from conftest import REPO, make_snapshot
from mailcfg.decisions import explain
from mailcfg.transaction import Probe

FOREIGN = "x@foreign.example"


def filler(n: int, start: int = 0) -> list[str]:
    """n distinct networks in 11.0.0.0-110.255.255.255 (none of the probes' addresses)."""
    return [f"{11 + ((start + i) >> 16) % 100}.{((start + i) >> 8) & 255}.{(start + i) & 255}.0/24" for i in range(n)]


def big_cidr() -> str:
    """20,000 lines where several entries hold the same address: only the first may answer."""
    lines = [f"{net} REJECT filler {i}" for i, net in enumerate(filler(10_000))]
    lines += ["198.51.100.0/25 REJECT first match", "198.51.100.7/32 OK shadowed by the line above",
              "if 192.0.2.0/24", "192.0.2.0/28 REJECT inside the if", "endif",
              "if 192.0.2.0/26", "if !192.0.2.0/28", "192.0.2.0/26 REJECT nested if", "endif", "endif"]
    lines += [f"{net} REJECT filler late {i}" for i, net in enumerate(filler(9_980, 20_000))]
    lines += ["!198.18.0.0/15 REJECT negated entry", "198.18.0.0/16 REJECT after the negated entry",
              "198.51.100.0/24 REJECT too late"]
    return "\n".join(lines) + "\n"


def big_mynetworks() -> str:
    words = ["127.0.0.0/8", "!198.51.100.7", *filler(20_000), "198.51.100.0/24", "[2001:db8::]/32"]
    return "mynetworks = " + " ".join(words) + "\n"


CLIENTS = ["198.51.100.7", "198.51.100.200", "192.0.2.5", "192.0.2.40", "198.18.0.5", "11.0.5.9", "12.78.32.1",
           "203.0.113.9"]


def _snapshot(root: Path, extra: str, files: dict[str, str]) -> Path:
    rp.write_baseline(root)
    main = root / "etc" / "postfix" / "main.cf"
    main.write_text(main.read_text() + extra)
    for name, text in files.items():
        (root / "etc" / "postfix" / name).write_text(text)
    rp.finish_snapshot(root)
    return root


def test_long_cidr_table_and_mynetworks_answer_as_the_real_postfix(harness, tmp_path):
    table = _snapshot(tmp_path / "cidr", "smtpd_client_restrictions = check_client_access cidr:/etc/postfix/big.cidr\n",
                      {"big.cidr": big_cidr()})
    nets = _snapshot(tmp_path / "mynetworks", big_mynetworks(), {})
    probes = [Probe(c, FOREIGN, "a@example.org", "client.example", service="smtp", port=25) for c in CLIENTS]
    real = harness.run([(table, probes), (nets, probes)])
    for root, observed in zip((table, nets), real, strict=True):
        ours = [explain(str(root), p).decision for p in probes]
        assert [(d.action, d.reply) for d in ours] == [(o.action, o.reply) for o in observed], root.name
    # the answers differ from client to client: the first matching line decided each
    assert len({o.reply for o in real[0]}) >= 6
    assert {o.action for o in real[1]} == {"accept", "reject"}


def run(*args: str, timeout: float) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MAILCFG_DEBUG"}
    return subprocess.run([sys.executable, "-m", "mailcfg", *args], capture_output=True, text=True, cwd=REPO,
                          env=env, check=False, timeout=timeout)


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_a_200000_line_cidr_table_is_linted(tmp_path, fmt):
    root = make_snapshot(tmp_path / "s", "compatibility_level = 3.6\nsmtpd_client_restrictions = "
                         "check_client_access cidr:/etc/postfix/big.cidr\n",
                         files={"/etc/postfix/big.cidr": "".join(f"{n} REJECT\n" for n in filler(200_000))})
    out = run("lint", str(root), "--format", fmt, timeout=600)  # minutes before the index: a hang fails here
    assert out.returncode in (0, 1), out.stderr
    if fmt == "json":
        assert json.loads(out.stdout)["targets"][0]["status"] == "ok"


def test_a_megabyte_value_is_quoted_around_the_column(tmp_path):
    nets = filler(80_000)  # public /24s (but 100.64.0.0/10): a finding each
    root = make_snapshot(tmp_path / "s", "compatibility_level = 3.6\nmynetworks = 127.0.0.0/8 " + " ".join(nets) + "\n")
    assert (root / "etc" / "postfix" / "main.cf").stat().st_size > 1_000_000
    out = run("lint", str(root), timeout=600)
    assert out.returncode == 1, out.stderr
    lines = out.stdout.splitlines()
    findings = [i for i, line in enumerate(lines) if "postfix-mynetworks-too-wide" in line]
    assert len(findings) > 70_000
    # each finding quotes a window of the megabyte line with the caret under its network
    for i in (findings[0], findings[35_000], findings[-1]):
        net = lines[i].split("mynetworks lists ")[1].split(":")[0]
        quoted, caret = lines[i + 1], lines[i + 2]
        assert len(quoted) < 200 and quoted[len(caret) - 1:].startswith(net.split("/")[0])


def test_many_unknown_parameters_are_reported_each_with_hints_for_the_first(tmp_path):
    names = [f"custom_setting_{i}" for i in range(50_000)]
    typo = "smtpd_tls_cert_fiel"
    root = make_snapshot(tmp_path / "s", f"{typo} = x\n" + "".join(f"{n} = {i}\n" for i, n in enumerate(names)))
    out = run("lint", str(root), "--format", "json", timeout=600)
    found = [f for f in json.loads(out.stdout)["targets"][0]["findings"] if f["rule"] == "postfix-unknown-parameter"]
    assert len(found) == 50_001
    assert found[0]["message"].endswith("did you mean smtpd_tls_cert_file?")
    assert sum("did you mean" in f["message"] for f in found) <= 100
