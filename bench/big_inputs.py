"""How `mailcfg lint` copes with big inputs: long cidr tables, huge values, many unknown parameters.

Usage: .venv/bin/python bench/big_inputs.py [SCALE [LIMIT]]
Generates each snapshot in a temporary directory, runs the real CLI on it (`--format json` and
`--format text`, output discarded) and prints the wall time of each run; a run still going after
LIMIT seconds (default 300) is stopped and shown as "> LIMIT". SCALE (default 1) multiplies the
sizes. To time another version, put its package first on PYTHONPATH. Nothing here is asserted;
tests/test_scale.py checks the results.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MAILCFG = Path(sys.executable).with_name("mailcfg")
BASE = """compatibility_level = 3.6
myhostname = mail.example.net
mydestination = $myhostname, localhost
inet_interfaces = all
"""
FACTS = {"hostname": "mail.example.net", "systems": {"postfix": {"version": "3.7.11"}},
         "addresses": [{"interface": "lo", "address": "127.0.0.1", "prefix": 8}]}


def networks(n: int) -> list[str]:
    """n distinct /32s and /24s spread over the unicast IPv4 space, none containing 127/8."""
    out = []
    for i in range(n):
        a, b, c = 11 + (i >> 16) % 100, (i >> 8) & 255, i & 255
        out.append(f"{a}.{b}.{c}.0/24" if i % 2 else f"{a}.{b}.{c}.7/32")
    return out


def snapshot(root: Path, main_cf: str, files: dict[str, str]) -> Path:
    (root / "etc/postfix").mkdir(parents=True)
    (root / ".mailcfg-host").mkdir()
    (root / ".mailcfg-host/facts.json").write_text(json.dumps(FACTS))
    (root / "etc/postfix/main.cf").write_text(BASE + main_cf)
    for name, text in files.items():
        (root / name.lstrip("/")).write_text(text)
    return root


def cidr_table(root: Path, n: int) -> Path:
    table = "".join(f"{net} REJECT blocked\n" for net in networks(n))
    return snapshot(root, "smtpd_client_restrictions = check_client_access cidr:/etc/postfix/block.cidr\n"
                          "mynetworks = cidr:/etc/postfix/block.cidr\n",
                    {"/etc/postfix/block.cidr": table})


def big_value(root: Path, size: int) -> Path:
    value = " ".join(networks(size // 14))[:size].rsplit(" ", 1)[0]
    return snapshot(root, f"mynetworks = 127.0.0.0/8 {value}\n", {})


def unknown_parameters(root: Path, n: int) -> Path:
    return snapshot(root, "".join(f"custom_setting_{i} = value {i}\n" for i in range(n)), {})


def run(target: Path, fmt: str, limit: float) -> str:
    start = time.perf_counter()
    try:
        done = subprocess.run([str(MAILCFG), "lint", str(target), "--format", fmt], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, check=False, timeout=limit)
    except subprocess.TimeoutExpired:
        return f"{fmt} > {limit:.0f} s"
    elapsed = time.perf_counter() - start
    if fmt == "json":
        json.loads(done.stdout)  # a crash would show here
    return f"{fmt} {elapsed:6.2f} s (exit {done.returncode})"


def main() -> None:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1
    limit = float(sys.argv[2]) if len(sys.argv) > 2 else 300
    cases = [
        ("cidr table, 20,000 lines", cidr_table, int(20_000 * scale)),
        ("cidr table, 200,000 lines", cidr_table, int(200_000 * scale)),
        ("mynetworks value of 1 MB", big_value, int(1_000_000 * scale)),
        ("main.cf, 8,000 unknown parameters", unknown_parameters, int(8_000 * scale)),
        ("main.cf, 50,000 unknown parameters", unknown_parameters, int(50_000 * scale)),
    ]
    for title, make, size in cases:
        with tempfile.TemporaryDirectory() as tmp:
            target = make(Path(tmp) / "snap", size)
            timings = [run(target, fmt, limit) for fmt in ("json", "text")]
            print(f"{title:<38} {', '.join(timings)}", flush=True)


if __name__ == "__main__":
    main()
