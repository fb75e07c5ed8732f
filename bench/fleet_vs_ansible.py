"""How fast `mailcfg lint -i INVENTORY all` checks a fleet over SSH, next to Ansible doing the same collection.

Usage: .venv/bin/python bench/fleet_vs_ansible.py [--sizes 10,50,200] [--forks 10] [--servers 4] [--repeat 1]
Needs root (the loopback sshd of tests/realsshd.py runs in its own mount namespace). On the first run
ansible-core is installed with pip into bench/.venv-ansible.

A few real sshd servers on 127.0.0.1 serve examples/open-relay as /etc/postfix; an inventory of N hosts
(h000, h001, ...) spreads over them round robin. For each N, both tools run with the same inventory,
known_hosts file, key, user and forks:

    mailcfg lint -f json -i INV all --forks F ...        one SSH connection per host (paramiko), the
                                                          collection script on `sh -s`, then the lint
    ansible all -i INV -f F -m raw -a "echo ... | base64 -d | sh"
                                                          the same script, one `ssh` per host, nothing linted

Printed per tool and N: wall time, hosts per second, the peak memory of the whole process tree (RSS summed
over the command and all its descendants, sampled every 20 ms; PSS beside it, which counts pages shared
between Ansible's forked workers once), the largest single process (ru_maxrss), the CPU time of the tree, and
the machine's CPU use during the run (the remote side, sshd + sh + postconf, runs on the same CPUs, so on a
small machine the controller's CPU time slows the collection down); then Ansible's figures over mailcfg's per N.
A run is checked (every host ok, one login per host in the sshd logs) and shown as FAILED otherwise, never as a
time; its outputs are kept in a /tmp/mailcfg-fleet-failed-* directory. With --repeat, the median of the good runs
is shown, with the number of failed ones. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import realsshd  # noqa: E402
from mailcfg.remote.collect import first_script  # noqa: E402

MAILCFG = REPO / ".venv" / "bin" / "mailcfg"
ANSIBLE_VENV = REPO / "bench" / ".venv-ansible"
# ansible-core comes with the test extras; without them it is installed into a venv of its own
ANSIBLE = next((p for p in (REPO / ".venv" / "bin" / "ansible",) if p.exists()), ANSIBLE_VENV / "bin" / "ansible")
SSH = "/usr/bin/ssh"
TOOLS = ("mailcfg", "ansible")


# --- the fleet -------------------------------------------------------------------------------------

def start_servers(root: Path, count: int, sshd_options: str) -> list[realsshd.Sshd]:
    servers: list[realsshd.Sshd] = []
    try:
        for i in range(count):
            base = root / f"sshd{i}"
            base.mkdir()
            servers.append(realsshd.Sshd(base, realsshd.served_conf(base), sshd_options=sshd_options))
    except BaseException:
        for srv in servers:
            srv.stop()
        raise
    # Each Sshd makes its own client key; one key for the whole fleet, as an operator would have.
    # sshd reads AuthorizedKeysFile at each login, so rewriting it after the start is enough.
    pub = servers[0].client_key.with_suffix(".pub").read_text()
    for srv in servers:
        (srv.public / "authorized_keys").write_text(pub)
    return servers


def known_hosts(servers: list[realsshd.Sshd], path: Path) -> Path:
    path.write_text("".join(srv.known_hosts_line() for srv in servers))
    return path


def write_inventory(path: Path, n: int, servers: list[realsshd.Sshd]) -> list[str]:
    width = max(3, len(str(n - 1)))
    names = [f"h{i:0{width}d}" for i in range(n)]
    lines = ["all:", "  hosts:"]
    for i, name in enumerate(names):
        lines += [f"    {name}:", "      ansible_host: 127.0.0.1",
                  f"      ansible_port: {servers[i % len(servers)].port}", "      ansible_user: root"]
    path.write_text("\n".join(lines) + "\n")
    return names


def sshd_log_counts(servers: list[realsshd.Sshd]) -> tuple[int, int]:
    """(accepted logins, MaxStartups throttling/drop lines) over all the servers' logs so far."""
    accepted = drops = 0
    for srv in servers:
        text = (srv.base / "sshd.log").read_text(errors="replace")
        accepted += text.count("Accepted publickey")
        drops += text.count("MaxStartups")
    return accepted, drops


# --- measuring a command ---------------------------------------------------------------------------

def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rpartition(b")")[2].split()[1])  # after comm, which may hold spaces: state ppid ...
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def _kib(path: str, key: bytes) -> int:
    try:
        with open(path, "rb") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0  # gone, or a zombie (no VmRSS)


class TreeSampler(threading.Thread):
    """Peak of the summed RSS (and PSS) of a process and all its descendants, sampled every `interval` s."""

    def __init__(self, pid: int, interval: float = 0.02):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.done = threading.Event()
        self.peak_rss = self.peak_pss = self.peak_procs = self.samples = 0

    def sample(self) -> None:
        kids = _children()
        tree, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo += kids.get(pid, [])
        rss = sum(_kib(f"/proc/{p}/status", b"VmRSS:") for p in tree)
        pss = sum(_kib(f"/proc/{p}/smaps_rollup", b"Pss:") for p in tree)
        self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
        self.peak_procs = max(self.peak_procs, len(tree))
        self.samples += 1

    def run(self) -> None:
        while True:
            self.sample()
            if self.done.wait(self.interval):
                return


@dataclass
class Run:
    tool: str
    hosts: int
    forks: int
    wall: float = 0.0
    peak_rss: float = 0.0  # MiB, summed over the tree
    peak_pss: float = 0.0  # MiB, summed over the tree
    max_one: float = 0.0  # MiB, ru_maxrss of the largest process of the tree that was waited for
    cpu: float = 0.0  # s, user + system of the tree
    procs: int = 0  # most processes in the tree at one sample
    busy: float = 0.0  # % of all the machine's CPUs in use during the run
    rest: float = 0.0  # s, CPU time of the machine during the run outside the tree (sshd, remote sh, postconf, ...)
    error: str = ""  # why the run does not count
    extra: dict = field(default_factory=dict)


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)  # idle, iowait


def measure(run: Run, argv: list[str], env: dict[str, str], cwd: Path, out: Path, err: Path) -> Run:
    with out.open("wb") as stdout, err.open("wb") as stderr:
        busy0, total0 = cpu_ticks()
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        run.wall = time.perf_counter() - start
        busy1, total1 = cpu_ticks()
        run.busy = 100 * (busy1 - busy0) / max(1, total1 - total0)
        machine_cpu = (busy1 - busy0) / os.sysconf("SC_CLK_TCK")
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, for the rusage of this one child
        sampler.done.set()
        sampler.join()
    run.peak_rss, run.peak_pss = sampler.peak_rss / 1024, sampler.peak_pss / 1024
    run.max_one = usage.ru_maxrss / 1024
    run.cpu = usage.ru_utime + usage.ru_stime
    run.rest = max(0.0, machine_cpu - run.cpu)
    run.procs = sampler.peak_procs
    run.extra["rc"] = proc.returncode
    return run


def tail(path: Path, chars: int = 300) -> str:
    return " ".join(path.read_text(errors="replace")[-chars:].split())


# --- the two tools ---------------------------------------------------------------------------------

def ensure_ansible() -> str:
    """ansible-core (the test extras', or in bench/.venv-ansible made on the first run); returns its version line."""
    if not ANSIBLE.exists():
        if not (ANSIBLE_VENV / "bin" / "python").exists():
            print(f"creating {ANSIBLE_VENV} ...", flush=True)
            subprocess.run([shutil.which("python3") or "python3", "-m", "venv", str(ANSIBLE_VENV)], check=True)
        print("installing ansible-core with pip ...", flush=True)
        subprocess.run([str(ANSIBLE_VENV / "bin" / "python"), "-m", "pip", "install", "-q", "ansible-core"],
                       check=True)
    env = os.environ | {"LC_ALL": "C.UTF-8"}
    out = subprocess.run([str(ANSIBLE), "--version"], capture_output=True, text=True, env=env, check=True)
    return out.stdout.splitlines()[0]


def base_env(home: Path) -> dict[str, str]:
    """Each tool gets its own empty HOME (no ~/.ssh, no ~/.ansible.cfg), no ssh-agent, a UTF-8 locale."""
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK" and not k.startswith("ANSIBLE_")}
    return env | {"HOME": str(home), "LC_ALL": "C.UTF-8", "NO_COLOR": "1"}


def run_mailcfg(work: Path, inv: Path, names: list[str], forks: int, kh: Path, key: Path) -> Run:
    run = Run("mailcfg", len(names), forks)
    out, err = work / "mailcfg.out", work / "mailcfg.err"
    argv = [str(MAILCFG), "lint", "-f", "json", "-i", str(inv), "all", "--forks", str(forks),
            "--known-hosts", str(kh), "--identity", str(key), "--fail-on", "never"]
    measure(run, argv, base_env(work / "home-mailcfg"), work, out, err)
    try:
        targets = json.loads(out.read_text())["targets"]
    except (ValueError, KeyError) as exc:
        run.error = f"exit code {run.extra['rc']}, unreadable JSON report ({exc}): {tail(err)}"
        return run
    ok = sorted(t["target"] for t in targets if t.get("status") == "ok")
    if run.extra["rc"] != 0 or ok != sorted(names) or len(targets) != len(names):
        bad = [(t.get("target"), t.get("status"), t.get("error")) for t in targets if t.get("status") != "ok"]
        run.error = (f"exit code {run.extra['rc']}, {len(ok)}/{len(names)} hosts ok, {len(targets)} targets; "
                     f"not ok: {bad[:3]}")
    return run


ANSIBLE_OK = re.compile(r"^(\S+) \| CHANGED \| rc=0 >>$", re.MULTILINE)


def run_ansible(work: Path, inv: Path, names: list[str], forks: int, kh: Path, key: Path) -> Run:
    run = Run("ansible", len(names), forks)
    out, err = work / "ansible.out", work / "ansible.err"
    # base64: one plain raw command, safe from Ansible's templating ({# ... in the script) and from quoting
    command = f"echo {base64.b64encode(first_script().encode()).decode()} | base64 -d | sh"
    ssh_common = f"-o UserKnownHostsFile={kh} -o StrictHostKeyChecking=yes"
    argv = [str(ANSIBLE), "all", "-i", str(inv), "-f", str(forks), "-m", "raw", "-a", command,
            "-u", "root", "--private-key", str(key), "-e", json.dumps({"ansible_ssh_common_args": ssh_common})]
    env = base_env(work / "home-ansible") | {
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        # one plain connection per host, as mailcfg does: no ControlMaster/ControlPersist (a persisting
        # master would leave the tree and be missed by the memory figures), no -C compression
        "ANSIBLE_SSH_ARGS": "-o ControlMaster=no",
        "ANSIBLE_SSH_EXECUTABLE": SSH,
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(work / "home-ansible" / "tmp"),
    }
    measure(run, argv, env, work, out, err)
    text = out.read_text(errors="replace")
    ok = sorted(ANSIBLE_OK.findall(text))
    ends = len(re.findall(r"^=== END$", text, re.MULTILINE))
    if run.extra["rc"] != 0 or ok != sorted(names) or ends != len(names):
        failed = re.findall(r"^(\S+) \| (UNREACHABLE!|FAILED!?)[^\n]*", text, re.MULTILINE)
        run.error = (f"exit code {run.extra['rc']}, {len(ok)}/{len(names)} hosts CHANGED rc=0, {ends} complete "
                     f"outputs; failed: {failed[:3]} {tail(err, 200)}")
    return run


RUNNERS = {"mailcfg": run_mailcfg, "ansible": run_ansible}


def checked(tool: str, servers: list[realsshd.Sshd], work: Path, inv: Path, names: list[str], forks: int,
            kh: Path, key: Path) -> Run:
    """One run of `tool`, in a fresh working directory, with the sshd logins it caused counted."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    before, drops_before = sshd_log_counts(servers)
    run = RUNNERS[tool](work, inv, names, forks, kh, key)
    time.sleep(0.2)  # let sshd write its last log lines
    after, drops_after = sshd_log_counts(servers)
    run.extra["logins"], run.extra["drops"] = after - before, drops_after - drops_before
    if not run.error and run.extra["logins"] != len(names):
        run.error = f"{run.extra['logins']} sshd logins for {len(names)} hosts"
    if run.error:  # keep the evidence: the work directory goes with the fleet's
        kept = Path(tempfile.mkdtemp(prefix=f"mailcfg-fleet-failed-{tool}-{len(names)}-"))
        for f in work.glob(f"{tool}.*"):
            shutil.copy(f, kept)
        for srv in servers:
            shutil.copy(srv.base / "sshd.log", kept / f"sshd-{srv.port}.log")
        run.error += f" [outputs kept in {kept}]"
    return run


# --- main ------------------------------------------------------------------------------------------

def row(run: Run) -> str:
    head = f"{run.tool:<8} {run.hosts:>6} {run.forks:>6} {run.hosts / run.forks:>11.1f}"
    if run.error:
        return f"{head}  FAILED ({run.wall:.2f} s): {run.error}"
    return (f"{head} {run.wall:>8.2f} {run.hosts / run.wall:>8.1f} {run.peak_rss:>9.1f} {run.peak_pss:>9.1f} "
            f"{run.max_one:>9.1f} {run.cpu:>7.2f} {run.procs:>6} {run.busy:>5.0f}% {run.rest:>7.2f}"
            + (f"  ({run.extra['failed']} other run(s) FAILED)" if run.extra.get("failed") else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,50,200", help="inventory sizes, comma-separated")
    parser.add_argument("--forks", type=int, default=10, help="hosts at the same time, both tools")
    parser.add_argument("--servers", type=int, default=4, help="sshd servers the hosts are spread over")
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool and size; the median is shown")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if not realsshd.available():
        sys.exit("needs root, /usr/sbin/sshd and unshare")
    if not os.access(SSH, os.X_OK):
        sys.exit(f"{SSH} (the OpenSSH client Ansible uses) is missing")
    ansible_version = ensure_ansible()

    root = Path(tempfile.mkdtemp(prefix="mailcfg-fleet-"))
    servers: list[realsshd.Sshd] = []
    try:
        # MaxStartups above the forks: sshd's default 10:30:100 refuses some of the concurrent
        # unauthenticated connections once more than 10 are open on one server.
        max_startups = max(100, 2 * args.forks)
        servers = start_servers(root, args.servers, f"MaxStartups {max_startups}\n")
        kh = known_hosts(servers, root / "known_hosts")
        key = servers[0].client_key
        print(f"{ansible_version}; mailcfg {MAILCFG}; {os.cpu_count()} CPUs; {len(servers)} sshd on 127.0.0.1 "
              f"(ports {', '.join(str(s.port) for s in servers)}; MaxStartups {max_startups}); "
              f"forks {args.forks}; sizes {sizes}; repeat {args.repeat}", flush=True)

        warm = min(sizes)  # unreported: page cache, first sshd logins
        inv = root / "inventory-warm.yml"
        names = write_inventory(inv, warm, servers)
        for tool in TOOLS:
            run = checked(tool, servers, root / f"warm-{tool}", inv, names, args.forks, kh, key)
            print(f"warm-up {tool} ({warm} hosts): {f'FAILED: {run.error}' if run.error else f'{run.wall:.2f} s'}",
                  flush=True)

        results: dict[tuple[str, int], Run] = {}
        drops = 0
        for n in sizes:
            inv = root / f"inventory-{n}.yml"
            names = write_inventory(inv, n, servers)
            runs: dict[str, list[Run]] = {tool: [] for tool in TOOLS}
            for r in range(args.repeat):
                for tool in TOOLS if r % 2 == 0 else reversed(TOOLS):  # alternate who goes first
                    run = checked(tool, servers, root / f"run-{tool}-{n}", inv, names, args.forks, kh, key)
                    drops += run.extra["drops"]
                    runs[tool].append(run)
                    print(f"  {tool} {n} hosts: {f'FAILED: {run.error}' if run.error else f'{run.wall:.2f} s'}",
                          flush=True)
            for tool, done in runs.items():
                failed = [x for x in done if x.error]
                good = sorted((x for x in done if not x.error), key=lambda x: x.wall)
                # the median of the good runs; failed ones are counted beside it, never timed
                results[tool, n] = good[(len(good) - 1) // 2] if good else failed[0]
                results[tool, n].extra["failed"] = len(failed)
                if len(good) > 1:
                    results[tool, n].extra["spread"] = (good[0].wall, good[-1].wall)

        print()
        print(f"{'tool':<8} {'hosts':>6} {'forks':>6} {'hosts/forks':>11} {'wall s':>8} {'hosts/s':>8} "
              f"{'peak MiB':>9} {'peak PSS':>9} {'max1 MiB':>9} {'cpu s':>7} {'procs':>6} {'busy':>6} {'rest s':>7}")
        for n in sizes:
            for tool in TOOLS:
                print(row(results[tool, n]))
        print()
        for n in sizes:
            m, a = results["mailcfg", n], results["ansible", n]
            if m.error or a.error:
                print(f"{n:>4} hosts: no ratio (every run of a tool failed)")
                continue
            spread = "".join(f"; {x.tool} {x.extra['spread'][0]:.2f}-{x.extra['spread'][1]:.2f} s"
                             for x in (m, a) if "spread" in x.extra)
            print(f"{n:>4} hosts: ansible/mailcfg wall {a.wall / m.wall:.2f}x, "
                  f"peak RSS {a.peak_rss / m.peak_rss:.2f}x, "
                  f"peak PSS {a.peak_pss / m.peak_pss:.2f}x, cpu {a.cpu / m.cpu:.2f}x; "
                  f"s per round of {args.forks}: mailcfg {m.wall / -(-n // args.forks):.2f}, "
                  f"ansible {a.wall / -(-n // args.forks):.2f}{spread}"
                  + ("; some runs FAILED, see above" if m.extra.get("failed") or a.extra.get("failed") else ""))
        print()
        print("peak MiB / peak PSS: summed over the command's process tree (PSS counts shared pages once); "
              "max1: largest single process (ru_maxrss); procs: most processes in the tree at once.")
        print("cpu s: user+system time of the tree. busy: the whole machine's CPU use during the run; rest s: the "
              "machine's CPU time outside the tree then: the remote side (sshd, sh, postconf) on the same CPUs, "
              "and anything else that ran.")
        print(f"mailcfg collects and lints; ansible only collects. sshd MaxStartups log lines: {drops}.")
    finally:
        stop_all(servers, root)


def stop_all(servers, root: Path) -> None:
    """Stop every test sshd (one failing to stop does not keep the others running), then drop the hosts' files."""
    for srv in servers:
        try:
            srv.stop()
        except Exception as exc:  # keep stopping the others
            print(f"stopping sshd on port {srv.port}: {exc}", file=sys.stderr)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
