"""The same fleet linted by mailcfg's own fan-out and by ansible-playbook with the collection mailcfg.mailcfg.

Usage: .venv/bin/python bench/fleet_ansible_collection.py [--hosts 200] [--forks 10] [--servers 4]
Needs root (the loopback sshd of tests/realsshd.py) and ansible-core in .venv (the test extras): the
collection's action plugins import mailcfg, so ansible-playbook must run in the Python that has it.

The fleet and the measuring are bench/fleet_vs_ansible.py's: a few real sshd servers on 127.0.0.1 serve
examples/open-relay as /etc/postfix, N inventory hosts spread over them, each tool runs with the same
inventory, known_hosts file, key, user and forks, one plain SSH connection per round trip (no ControlMaster).
Three runs, each checked (every host ok; both lints find on every host what mailcfg finds in one host's snapshot):

    mailcfg      mailcfg lint -i INV all --forks F           collection script over paramiko, lint
    collection   ansible-playbook -f F lint.yml              mailcfg.mailcfg.lint: the same scripts over
                                                               Ansible's ssh connection, lint in the worker
    ansible-raw  ansible all -f F -m raw -a <phase-1 script>  Ansible's cost of one round trip, nothing linted

Printed: wall time, peak memory of the process tree (RSS, and PSS, which counts the pages Ansible's forked
workers share once), CPU time of the tree, and per host: the tree's CPU, and the CPU the collection run
spends beyond the raw one (its extra round trips, the action plugin and the analysis), beside the CPU of
mailcfg's analysis alone (the lint of the same host's snapshot, in this process). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import fleet_vs_ansible as fleet  # noqa: E402
from fleet_vs_ansible import REPO, Run, base_env, measure, realsshd, tail  # noqa: E402

BIN = Path(sys.executable).parent
PLAYBOOK = """\
- name: Lint the fleet's mail configuration
  hosts: all
  gather_facts: false
  tasks:
    - name: Lint
      mailcfg.mailcfg.lint:
        fail_on: never
"""


def run_collection(work: Path, inv: Path, names: list[str], forks: int, kh: Path, key: Path) -> Run:
    run = Run("collection", len(names), forks)
    out, err, report = work / "collection.out", work / "collection.err", work / "report.json"
    (work / "lint.yml").write_text(PLAYBOOK)
    ssh_common = f"-o UserKnownHostsFile={kh} -o StrictHostKeyChecking=yes"
    argv = [str(BIN / "ansible-playbook"), "-i", str(inv), "-f", str(forks), str(work / "lint.yml"),
            "-u", "root", "--private-key", str(key),
            "-e", json.dumps({"ansible_ssh_common_args": ssh_common})]
    env = base_env(work / "home-collection") | {
        "ANSIBLE_HOST_KEY_CHECKING": "True", "ANSIBLE_SSH_ARGS": "-o ControlMaster=no",
        "ANSIBLE_SSH_EXECUTABLE": fleet.SSH, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_COLLECTIONS_PATH": str(REPO),
        "ANSIBLE_LOCAL_TEMP": str(work / "home-collection" / "tmp"), "ANSIBLE_SHOW_CUSTOM_STATS": "True",
        # the fleet's findings in one JSON report, written by the collection's aggregate callback
        "ANSIBLE_CALLBACKS_ENABLED": "mailcfg.mailcfg.mailcfg_report", "MAILCFG_REPORT_FILE": str(report),
    }
    measure(run, argv, env, work, out, err)
    text = out.read_text(errors="replace")
    ok = re.findall(r"^(\S+)\s+: ok=(\d+)\s+changed=\d+\s+unreachable=0\s+failed=0", text, re.M)
    good = sorted(h for h, n in ok if n == "1")
    rows = json.loads(report.read_text())["targets"] if report.exists() else []
    kinds = {tuple(f["rule"] for f in r["findings"]) for r in rows if r["status"] == "ok"}
    run.extra["findings"] = sorted(kinds)[0] if len(kinds) == 1 else None
    if run.extra["rc"] != 0 or good != sorted(names) or len(rows) != len(names) or len(kinds) != 1:
        run.error = (f"exit code {run.extra['rc']}, {len(good)}/{len(names)} hosts ok, {len(rows)} results, "
                     f"{len(kinds)} different finding lists: {tail(out, 300)} {tail(err, 200)}")
    return run


def analysis_cpu(work: Path, server: realsshd.Sshd, kh: Path, key: Path, repeat: int = 20) -> tuple[float, list]:
    """CPU seconds of mailcfg's lint of one host's snapshot (fetched once), and its finding rules."""
    from mailcfg.lint import lint_path

    snap = work / "snapshot"
    subprocess.run([str(fleet.MAILCFG), "fetch", server.url(), "-o", str(snap), "--known-hosts", str(kh),
                    "--identity", str(key)], check=True, capture_output=True, env=base_env(work / "home-fetch"))
    rules = [f.rule for f in lint_path(str(snap)).findings]
    start = time.process_time()
    for _ in range(repeat):
        lint_path(str(snap))
    return (time.process_time() - start) / repeat, rules


def native_rules(work: Path) -> set[tuple[str, ...]]:
    targets = json.loads((work / "mailcfg.out").read_text())["targets"]
    return {tuple(f["rule"] for f in t["findings"]) for t in targets}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--forks", type=int, default=10, help="hosts at the same time, every tool")
    parser.add_argument("--servers", type=int, default=4, help="sshd servers the hosts are spread over")
    args = parser.parse_args()
    if not realsshd.available():
        sys.exit("needs root, /usr/sbin/sshd and unshare")
    if not (BIN / "ansible-playbook").exists():
        sys.exit(f"{BIN / 'ansible-playbook'} is missing: install the test extras (scripts/setup.sh)")
    fleet.ANSIBLE = BIN / "ansible"  # the raw run uses the same ansible-core as the collection run
    version = subprocess.run([str(fleet.ANSIBLE), "--version"], capture_output=True, text=True,
                             env=os.environ | {"LC_ALL": "C.UTF-8"}, check=True).stdout.splitlines()[0]

    root = Path(tempfile.mkdtemp(prefix="mailcfg-fleet-collection-"))
    servers: list[realsshd.Sshd] = []
    try:
        max_startups = max(100, 2 * args.forks)
        servers = fleet.start_servers(root, args.servers, f"MaxStartups {max_startups}\n")
        kh = fleet.known_hosts(servers, root / "known_hosts")
        key = servers[0].client_key
        print(f"{version}; {os.cpu_count()} CPUs; {len(servers)} sshd on 127.0.0.1; forks {args.forks}; "
              f"{args.hosts} hosts", flush=True)
        cpu_lint, rules = analysis_cpu(root, servers[0], kh, key)

        runners = {"mailcfg": fleet.run_mailcfg, "collection": run_collection, "ansible-raw": fleet.run_ansible}
        warm = root / "inventory-warm.yml"
        warm_names = fleet.write_inventory(warm, min(10, args.hosts), servers)
        inv = root / "inventory.yml"
        names = fleet.write_inventory(inv, args.hosts, servers)
        results: dict[str, Run] = {}
        for tool, runner in runners.items():
            work = root / f"warm-{tool}"
            work.mkdir()
            runner(work, warm, warm_names, args.forks, kh, key)  # page cache, first logins: not reported
            work = root / f"run-{tool}"
            work.mkdir()
            logins, _ = fleet.sshd_log_counts(servers)
            run = runner(work, inv, names, args.forks, kh, key)
            run.extra["logins"] = fleet.sshd_log_counts(servers)[0] - logins
            if tool == "mailcfg" and not run.error and native_rules(work) != {tuple(rules)}:
                run.error = f"findings differ from the snapshot's: {native_rules(work)} vs {rules}"
            if tool == "collection" and not run.error and run.extra["findings"] != tuple(rules):
                run.error = f"findings differ from mailcfg's: {run.extra['findings']} vs {rules}"
            results[tool] = run
            print(f"  {tool}: {f'FAILED: {run.error}' if run.error else f'{run.wall:.2f} s'}", flush=True)

        print()
        print(f"{'tool':<12} {'hosts':>5} {'forks':>5} {'wall s':>7} {'hosts/s':>7} {'peak MiB':>9} {'peak PSS':>9} "
              f"{'cpu s':>7} {'cpu ms/host':>11} {'ssh logins':>10}")
        for run in results.values():
            if run.error:
                print(f"{run.tool:<12} FAILED: {run.error}")
                continue
            print(f"{run.tool:<12} {run.hosts:>5} {run.forks:>5} {run.wall:>7.2f} {run.hosts / run.wall:>7.1f} "
                  f"{run.peak_rss:>9.1f} {run.peak_pss:>9.1f} {run.cpu:>7.2f} {1000 * run.cpu / run.hosts:>11.1f} "
                  f"{run.extra['logins']:>10}")
        print()
        col, raw, nat = results["collection"], results["ansible-raw"], results["mailcfg"]
        print(f"mailcfg's analysis of one host's snapshot, in process: {1000 * cpu_lint:.1f} ms CPU "
              f"({len(rules)} findings)")
        if not (col.error or raw.error):
            print(f"collection beyond raw Ansible: {1000 * (col.cpu - raw.cpu) / col.hosts:.1f} ms CPU per host "
                  f"(the action plugin: its extra round trips, the analysis, the result, the report callback)")
        if not (col.error or nat.error):
            print(f"collection / mailcfg: wall {col.wall / nat.wall:.2f}x, cpu {col.cpu / nat.cpu:.2f}x, "
                  f"peak RSS {col.peak_rss / nat.peak_rss:.2f}x, peak PSS {col.peak_pss / nat.peak_pss:.2f}x")
    finally:
        fleet.stop_all(servers, root)


if __name__ == "__main__":
    main()
