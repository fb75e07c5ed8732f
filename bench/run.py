"""Every performance figure of issue 18 beside its yardstick, measured in the same run (see bench/run).

Usage: bench/run [--quick] [--snapshots N] [--no-fleet] [--fleet-hosts N] [--only PART ...]

    start-up      `mailcfg --help`, `mailcfg rules`, `mailcfg lint SMALL` (whole processes, median of
                  repeated runs) against an empty `python -c pass`
    throughput    `mailcfg lint -f json DIR` over N generated Postfix snapshots (tests/postfix_generator.py's
                  mix, with tables) against N runs of `postconf -c DIR -n`; peak memory (RSS summed over
                  mailcfg's process tree, sampled); the findings checked equal to a one-process run's
    engine        Postfix and Exim decisions per second in-process on the generators' configurations
                  (each configuration's own probes, decided once: client, HELO, sender and recipient
                  vary), in fresh processes (bench/engine_once.py): the configurations one after
                  another in one process (median of repeated rounds), each in a process of its own, and
                  1,000 probes per configuration each with a client, HELO, sender and recipient new to
                  the run
    policy        probes per second loading a 2,000-probe policy, YAML and JSON; `mailcfg test` of it
                  on a bundled example (whole process, median of repeated runs)
    fleet         bench/fleet_vs_ansible.py for N loopback hosts: wall time beside Ansible's, and
                  mailcfg's CPU time per host (collection and analysis, the whole controller process)

Prints a table: figure, mailcfg, yardstick, ratio (mailcfg / yardstick), goal. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

PYTHON = Path(sys.executable)
MAILCFG = PYTHON.with_name("mailcfg")
SMALL = REPO / "examples" / "broken-submission"


@dataclass
class Row:
    figure: str
    value: float
    unit: str
    yardstick: float | None = None  # the same kind of figure for the reference, same unit
    goal: str = ""

    def show(self) -> str:
        ratio = f"{self.value / self.yardstick:.2f}" if self.yardstick else ""
        yard = f"{self.yardstick:,.1f} {self.unit}" if self.yardstick is not None else ""
        return f"{self.figure:<44} {self.value:>12,.1f} {self.unit:<10} {yard:>18} {ratio:>7}  {self.goal}"


def median_wall(argv: list[str], runs: int, env: dict[str, str] | None = None) -> float:
    """Median wall time in ms of a whole process (one warm-up run first)."""
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=env)
        if i:
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def startup(runs: int) -> list[Row]:
    env = os.environ | {"NO_COLOR": "1"}
    empty = median_wall([str(PYTHON), "-c", "pass"], runs, env)
    rows = []
    for figure, args, goal in (("start-up: mailcfg --help", ["--help"], "<= 150 ms"),
                               ("start-up: mailcfg rules", ["rules"], "<= 150 ms"),
                               (f"start-up: mailcfg lint {SMALL.name}", ["lint", str(SMALL)], "<= 300 ms")):
        rows.append(Row(figure, median_wall([str(MAILCFG), *args], runs, env), "ms", empty, goal))
    return rows


class TreeMemory(threading.Thread):
    """Peak RSS (KiB) summed over a process and its descendants, sampled."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0, threading.Event()

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(ppid, []).append(int(entry))
        tree, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo += children.get(pid, [])
        return tree

    def run(self) -> None:
        while not self.done.wait(0.05):
            total = 0
            for pid in self._tree():
                try:
                    with open(f"/proc/{pid}/status") as f:
                        total += next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
                except OSError:
                    continue
            self.peak = max(self.peak, total)


def throughput(count: int) -> list[Row]:
    from mailcfg.lint import lint_path
    from postfix_generator import generate_batch

    with tempfile.TemporaryDirectory(prefix="mailcfg-bench-") as tmp:
        fleet = Path(tmp) / "snapshots"
        fleet.mkdir()
        dirs = [g.root for g in generate_batch(fleet, 18, count)]
        postconf = shutil.which("postconf") or "/usr/sbin/postconf"
        start = time.perf_counter()
        for d in dirs:
            subprocess.run([postconf, "-c", str(d / "etc" / "postfix"), "-n"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
        yard = time.perf_counter() - start
        out = Path(tmp) / "report.json"
        start = time.perf_counter()
        proc = subprocess.Popen([str(MAILCFG), "lint", "-f", "json", "--fail-on", "never", "-o", str(out), str(fleet)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        memory = TreeMemory(proc.pid)
        memory.start()
        _, stderr = proc.communicate()
        wall = time.perf_counter() - start
        memory.done.set()
        memory.join()
        report = json.loads(out.read_text()) if out.exists() else {"targets": []}
        alone = {str(d): sorted(f["rule"] for f in lint_path(str(d)).to_json()["findings"]) for d in dirs}
        seen = {t["target"]: sorted(f["rule"] for f in t["findings"]) for t in report["targets"]}
        same = "same findings as one process" if seen == alone else \
            f"DIFFERENT from one process ({sum(seen.get(k) != v for k, v in alone.items())} targets); " \
            f"{stderr.decode(errors='replace')[-200:]}"
    return [Row(f"throughput: lint {count} snapshots (wall)", wall, "s", yard, f"< 1.00 x postconf -n ({same})"),
            Row(f"throughput: peak memory, {count} snapshots", memory.peak / 1024, "MiB", None, "<= 200 MiB")]


def _engine_inputs(root: Path, configs: int) -> dict[str, Path]:
    """The generators' configurations and probes, written for bench/engine_once.py."""
    from dataclasses import asdict

    from exim_generator import generate_batch as exim_batch
    from exim_generator import write_snapshot
    from postfix_generator import generate_batch

    made = {"Postfix": root / "postfix", "Exim": root / "exim"}
    for path in made.values():
        path.mkdir()
    for i, g in enumerate(generate_batch(root / "generated", 18, configs)):
        shutil.copytree(g.root, made["Postfix"] / str(i) / "snapshot", symlinks=True)
        (made["Postfix"] / str(i) / "probes.json").write_text(json.dumps([asdict(p) for p in g.probes]))
    for i, g in enumerate(exim_batch(18, configs)):
        write_snapshot(g, made["Exim"] / str(i) / "snapshot")
        (made["Exim"] / str(i) / "probes.json").write_text(json.dumps([asdict(p) for p in g.probes]))
    for name, path in made.items():
        (path / "system").write_text(name.lower())
    return made


def _decided(*args: str) -> tuple[int, float]:
    out = subprocess.run([str(PYTHON), str(REPO / "bench" / "engine_once.py"), *args], capture_output=True,
                         text=True, check=True).stdout.split()
    return int(out[0]), float(out[1])


def engine(configs: int, rounds: int, varied: int) -> list[Row]:
    """Each system in fresh processes (bench/engine_once.py): the configurations one after another in one
    process, median of `rounds` processes; each configuration in a process of its own; and `varied` probes
    per configuration, each with a new client, HELO, sender and recipient, in one process."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="mailcfg-bench-") as tmp:
        for name, folder in _engine_inputs(Path(tmp), configs).items():
            rates, count = [], 0
            for _ in range(rounds):
                count, spent = _decided(str(folder))
                rates.append(count / spent)
            rows.append(Row(f"engine: {name}, {configs} configurations in turn", statistics.median(rates), "/s", None,
                            f">= 10,000/s ({count} decisions; median of {rounds} processes: "
                            f"{min(rates):,.0f} to {max(rates):,.0f})"))
            alone = [_decided(str(folder), str(i)) for i in range(configs)]
            rows.append(Row(f"engine: {name}, each configuration alone", sum(n for n, _ in alone) /
                            sum(t for _, t in alone), "/s", None, f"({configs} processes, nothing carried over)"))
            count, spent = _decided(str(folder), "--varied", str(varied))
            rows.append(Row(f"engine: {name}, {varied:,} new probes each", count / spent, "/s", None,
                            f">= 10,000/s ({count} decisions: every client, HELO, sender, recipient new)"))
    return rows


def policy(count: int, runs: int) -> list[Row]:
    from mailcfg.policy import load_policy

    probes = [{"name": f"probe {i}", "service": "smtp", "client": f"198.51.100.{i % 250}",
               "helo": "client.example.net", "sender": f"a{i}@sender.example", "rcpt": f"victim{i}@nowhere.example",
               "expect": "reject", "expect_code": 554, "expect_reply": "Relay access denied$"} for i in range(count)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="mailcfg-bench-") as tmp:
        as_yaml, as_json = Path(tmp) / "policy.yml", Path(tmp) / "policy.json"
        as_yaml.write_text("probes:\n" + "".join(
            "  - " + "\n    ".join(f"{k}: {v}" if k != "expect_reply" else f"{k}: '{v}'" for k, v in p.items())
            + "\n" for p in probes))
        as_json.write_text(json.dumps({"probes": probes}, indent=2))
        for label, path in (("YAML", as_yaml), ("JSON", as_json)):
            times = []
            for _ in range(5):
                start = time.perf_counter()
                load_policy(path)
                times.append(time.perf_counter() - start)
            rows.append(Row(f"policy: load {count} probes, {label}", count / statistics.median(times), "probes/s",
                            None, ">= 20,000/s"))
        # The whole command as a pipeline runs it: start-up, loading, every decision and the JSON report.
        report = Path(tmp) / "out.json"
        wall = median_wall([str(MAILCFG), "test", str(REPO / "examples" / "hardened-submission"), "--policy",
                            str(as_json), "-f", "json", "-o", str(report)], runs)
        try:
            checked = len(json.loads(report.read_text())["results"])
        except (OSError, ValueError, KeyError):
            checked = 0
        rows.append(Row(f"policy: mailcfg test, {count} probes, JSON (wall)", wall, "ms", None,
                        "the issue measured 6.8 s" if checked == count else
                        f"FAILED: the report holds {checked} of {count} results"))
    return rows


def fleet(hosts: int) -> list[Row]:
    proc = subprocess.run([str(PYTHON), str(REPO / "bench" / "fleet_vs_ansible.py"), "--sizes", str(hosts)],
                          capture_output=True, text=True, check=False)
    found = {}
    for line in proc.stdout.splitlines():
        m = re.match(rf"(mailcfg|ansible)\s+{hosts}\s+\d+\s+[\d.]+\s+([\d.]+)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+"
                     r"\s+([\d.]+)", line)
        if m:
            found[m.group(1)] = (float(m.group(2)), float(m.group(3)))
    if "mailcfg" not in found or "ansible" not in found:
        tail = " ".join((proc.stdout + proc.stderr)[-300:].split())
        print(f"fleet: no figures ({tail})", file=sys.stderr)
        return []
    (m_wall, m_cpu), (a_wall, a_cpu) = found["mailcfg"], found["ansible"]
    return [Row(f"fleet: lint -i INV, {hosts} loopback hosts (wall)", m_wall, "s", a_wall, "ansible raw collection"),
            Row("fleet: controller CPU per host", 1000 * m_cpu / hosts, "ms", 1000 * a_cpu / hosts, "<= 10 ms")]


PARTS = ("start-up", "throughput", "engine", "policy", "fleet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and snapshots (a rough look)")
    parser.add_argument("--snapshots", type=int, default=1000, help="generated snapshots for the throughput")
    parser.add_argument("--no-fleet", action="store_true", help="skip the SSH fleet (needs root and sshd)")
    parser.add_argument("--fleet-hosts", type=int, default=200)
    parser.add_argument("--only", action="append", metavar="PART", choices=PARTS,
                        help=f"run only this part, one of {', '.join(PARTS)} (may be repeated)")
    args = parser.parse_args()
    quick = args.quick
    print(f"mailcfg benchmarks: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}", flush=True)
    rows: list[Row] = []
    for label, step in (("start-up", lambda: startup(5 if quick else 15)),
                        ("throughput", lambda: throughput(100 if quick else args.snapshots)),
                        ("engine", lambda: engine(10 if quick else 40, 3 if quick else 7, 200 if quick else 1000)),
                        ("policy", lambda: policy(2000, 3 if quick else 7)),
                        ("fleet", None if args.no_fleet else lambda: fleet(20 if quick else args.fleet_hosts))):
        if step is None or (args.only and label not in args.only):
            continue
        print(f"  {label} ...", file=sys.stderr, flush=True)
        rows += step()
    print(f"{'figure':<44} {'mailcfg':>12} {'unit':<10} {'yardstick':>18} {'ratio':>7}  goal")
    for row in rows:
        print(row.show())
    print("yardsticks: start-up - `python -c pass` with the same interpreter; throughput - `postconf -c DIR -n` "
          "run once per snapshot, one after the other; fleet - Ansible collecting the same files (raw module).")


if __name__ == "__main__":
    main()
