"""Run a real Postfix (Dovecot as its SASL backend) on a configuration and record its SMTP answers.

Each `PostfixInstance` lives in its own network and mount namespace (`unshare --net --mount`):
only a loopback interface exists there, so master.cf keeps its stock service names and ports
(`smtp inet`, `submission inet`) and nothing is reachable from the real host's network. Inside
the namespace, /etc/postfix is a copy of the snapshot's etc/postfix, so a table path such as
`cidr:/etc/postfix/client_access` means the same file to Postfix and to mailcfg. The instance's
queue, data and log directories are bind-mounted over /var/spool/postfix, /var/lib/postfix and
/var/log, and a private tmpfs on /run holds Postfix's meta files and the shared Dovecot's auth
socket, so every path in a snapshot's main.cf is the same whichever instance runs it.

The probe client runs inside the namespace (`nsenter -n`, this file run as a script), once per
configuration: it impersonates each probe's client with XCLIENT, authenticates for real
(`AUTH PLAIN`, Dovecot accepts any user with the password "secret") and records the first
answer that is not a success. An smtpd that dies before its greeting (the "specify at least one
working instance" or "no SASL authentication mechanisms" fatal) is found in the maillog and
recorded as an error at the startup stage. Failures of the harness itself raise `HarnessError`
(with master's children, the listening sockets and the log's tail); they are never reported as a
decision of the configuration under test.

A new configuration is applied with SIGHUP to master (`postfix reload` itself spends ~2 s in
postfix-script), after which the harness waits until every old child has exited; the files are
backdated first, because a Postfix daemon that finds its main.cf or a table changed within the
last second sleeps and reads it again (~1.8 s per daemon). After a configuration whose smtpd died,
master throttles that service and a reload does not lift it, so the next one starts master afresh
(killing its process group and `postfix start`: ~0.2 s).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Paths as seen inside an instance's namespace: the same for every instance and every run.
SASL_PATH = "/run/mailcfg/dovecot/auth"
META_DIR = "/run/mailcfg/meta"
MAILLOG = "/var/log/postfix.log"
CHECK_PORT = 10025  # harness-only smtpd on the namespace's loopback: proves which generation runs
GENERATION_PARAM = "mailcfg_harness_generation"
SASL_PASSWORD = "secret"
PORTS = {"smtp": 25, "submission": 587, "smtps": 465}
META_FILES = ("postfix-files", "postfix-files.d", "dynamicmaps.cf", "dynamicmaps.cf.d", "postfix-script",
              "post-install")
TOOLS = ("postfix", "postconf", "dovecot", "unshare", "nsenter", "ip", "openssl")
HARNESS_BEGIN = "# --- mailcfg test harness (tests/realpostfix.py): how the harness runs Postfix ---"
HARNESS_END = "# --- end of mailcfg test harness settings ---"

GREETING_TIMEOUT = 6.0  # no greeting and no fatal error logged by then: a harness problem (HarnessError)
# A service whose smtpd already died before its greeting in this batch (same configuration, so every session
# dies the same way: the fatal comes before XCLIENT, it cannot depend on the probe) gets only this long to
# greet; master has throttled it by then, so no new fatal would be logged to wait for.
DEAD_SERVICE_WAIT = 0.1
COMMAND_TIMEOUT = 15.0


class HarnessError(RuntimeError):
    """The harness could not run or probe Postfix: says nothing about the configuration."""


@dataclass
class Observed:
    """What the real Postfix answered to one probe."""

    action: str  # accept | reject | defer | error
    stage: str  # startup | connect | helo | mail | rcpt
    code: int | None  # SMTP reply code; None when there was no reply (smtpd died)
    reply: str  # the reply line, or what the log said when smtpd died
    transcript: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The reply after the code: '5.7.1 <x@foreign.example>: Relay access denied'."""
        return self.reply[4:] if self.code is not None else self.reply

    def to_json(self) -> dict:
        return asdict(self)


def which(name: str) -> str | None:
    return shutil.which(name) or next((p for d in ("/usr/sbin", "/sbin", "/usr/bin")
                                       if os.access(p := f"{d}/{name}", os.X_OK)), None)


def require_tools() -> None:
    missing = [t for t in TOOLS if which(t) is None]
    if missing:
        raise HarnessError(f"missing programs for the real-Postfix harness: {', '.join(missing)} "
                           f"(install postfix, dovecot-core, util-linux, iproute2 and openssl; see scripts/setup.sh)")
    if os.geteuid() != 0:
        raise HarnessError("the real-Postfix harness must run as root (namespaces, Postfix, Dovecot)")


def postfix_version() -> str:
    with tempfile.TemporaryDirectory() as empty:
        Path(empty, "main.cf").write_text("")
        out = subprocess.run([which("postconf") or "postconf", "-c", empty, "-d", "mail_version"],
                             capture_output=True, text=True, check=False)
    m = re.search(r"mail_version = (\S+)", out.stdout)
    if not m:
        raise HarnessError(f"cannot read the Postfix version: {out.stderr.strip()}")
    return m.group(1)


def namespace_facts() -> dict:
    """facts.json for a snapshot run in an instance's namespace: the real hostname, only lo."""
    return {"hostname": socket.gethostname(),
            "addresses": [{"interface": "lo", "address": "127.0.0.1", "prefix": 8},
                          {"interface": "lo", "address": "::1", "prefix": 128}],
            "systems": {"postfix": {"version": postfix_version()}}}


def available_map_types() -> set[str]:
    with tempfile.TemporaryDirectory() as empty:
        Path(empty, "main.cf").write_text("")
        out = subprocess.run([which("postconf") or "postconf", "-c", empty, "-m"], capture_output=True, text=True,
                             check=False)
    return set(out.stdout.split())


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for smtpd (made once per run)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "harness-cert.pem", directory / "harness-key.pem"
    if not cert.exists():
        out = subprocess.run([which("openssl") or "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                              "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=mx.example.com", "-days", "3650",
                              "-keyout", str(key), "-out", str(cert)], capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise HarnessError(f"openssl could not make a test certificate: {out.stderr.strip()}")
    return cert, key


def harness_settings(main_cf_text: str) -> str:
    """The main.cf lines the harness needs; they go at the end of the snapshot's main.cf."""
    lines = [HARNESS_BEGIN,
             f"maillog_file = {MAILLOG}",
             f"meta_directory = {META_DIR}",
             # both: smtpd takes an IPv6 client address in XCLIENT only when it speaks IPv6
             "inet_protocols = ipv4, ipv6",
             "smtpd_authorized_xclient_hosts = 127.0.0.1",
             "smtpd_sasl_type = dovecot",
             f"smtpd_sasl_path = {SASL_PATH}"]
    if not re.search(r"^myhostname\s*=", main_cf_text, re.M):
        lines.append("myhostname = mx.example.com")
    lines.append(HARNESS_END)
    return "\n".join(lines) + "\n"


def finish_snapshot(root: Path) -> None:
    """Append the harness settings to ROOT/etc/postfix/main.cf (replacing an earlier harness block)."""
    main_cf = root / "etc" / "postfix" / "main.cf"
    text = main_cf.read_text() if main_cf.exists() else ""
    text = re.sub(re.escape(HARNESS_BEGIN) + r".*?" + re.escape(HARNESS_END) + r"\n?", "", text, flags=re.S)
    if text and not text.endswith("\n"):
        text += "\n"
    main_cf.write_text(text + harness_settings(text))
    # smtpd checks local recipients against the host's passwd (local_recipient_maps); the namespace
    # shares this machine's, so the snapshot holds a copy, as `mailcfg fetch` collects it
    (root / "etc").mkdir(parents=True, exist_ok=True)
    shutil.copyfile("/etc/passwd", root / "etc" / "passwd")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def _children(pid: int) -> set[int]:
    kids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if fields[1] == str(pid) and fields[0] != "Z":
                kids.add(int(entry))
    return kids


def _wait(predicate, timeout: float, step: float = 0.005) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it is still there after 5 s."""
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _die_with_parent() -> None:
    """In a child before exec: get SIGTERM when the process that started it dies (PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)


class Dovecot:
    """An auth-only Dovecot: any user, password "secret", socket mode 0666 at an absolute path."""

    def __init__(self, workdir: Path | None = None):
        # Its own directory under /tmp by default: Dovecot's unprivileged processes must reach it, and a
        # pytest tmp_path sits under a 0700 directory. Postfix sees it bind-mounted at /run/mailcfg/dovecot.
        self.own_dir = workdir is None
        self.dir = workdir or Path(tempfile.mkdtemp(prefix="mailcfg-dovecot-"))
        self.conf = self.dir / "dovecot.conf"
        self.socket = self.dir / "auth"
        self.log = self.dir / "dovecot.log"
        self.started = False

    def start(self) -> Dovecot:
        require_tools()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)
        self.conf.write_text(f"""\
protocols =
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.log}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {{
  driver = static
  args = password={SASL_PASSWORD}
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home=/tmp
}}
service auth {{
  unix_listener {self.socket} {{
    mode = 0666
  }}
}}
""")
        # In the foreground (-F), as our child: it dies with us (PR_SET_PDEATHSIG) if the tests are killed.
        errors = (self.dir / "dovecot.start").open("w+")
        self.proc = subprocess.Popen([which("dovecot") or "dovecot", "-F", "-c", str(self.conf)],
                                     stdin=subprocess.DEVNULL, stdout=errors, stderr=errors,
                                     preexec_fn=_die_with_parent)
        self.started = True
        if not _wait(lambda: self.socket.exists() or self.proc.poll() is not None, 5):
            self.stop()
            raise HarnessError(f"dovecot started but {self.socket} did not appear: {self._log_tail()}")
        if self.proc.poll() is not None:
            errors.seek(0)
            self.started = False
            raise HarnessError(f"dovecot did not start (exit {self.proc.returncode}): {errors.read().strip()} "
                               f"{self._log_tail()}")
        return self

    def _log_tail(self) -> str:
        return self.log.read_text()[-2000:] if self.log.exists() else ""

    def stop(self) -> None:
        if not self.started:
            return
        _stop(self.proc)
        self.started = False
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# The holder: a shell in new network and mount namespaces that sets up the private paths, then sleeps.
HOLDER = r"""
set -e
ip link set lo up
# Per network namespace, default 10: with maillog_file every daemon logs through postlogd's datagram socket, and
# postlogd logs its own warnings (say, "overriding earlier entry" for a duplicate in main.cf) to that same socket;
# a burst fills the queue and postlogd and every smtpd block in sendto() for good. The host keeps its value.
echo 1024 > /proc/sys/net/unix/max_dgram_qlen
mount -t tmpfs -o mode=755 mailcfg /run
mkdir -p /run/mailcfg/meta /run/mailcfg/dovecot
for f in {meta}; do if [ -e "/etc/postfix/$f" ]; then cp -a "/etc/postfix/$f" /run/mailcfg/meta/; fi; done
mount --bind "$2" /run/mailcfg/dovecot
mount --bind "$1/spool" /var/spool/postfix
mount --bind "$1/lib" /var/lib/postfix
mount --bind "$1/log" /var/log
mount --bind "$1/conf" /etc/postfix
cleanup() {
    set +e
    pid=$(tr -d ' ' < /var/spool/postfix/pid/master.pid 2>/dev/null)
    [ -n "$pid" ] && kill -9 "-$pid" 2>/dev/null
    kill "$sleeper" 2>/dev/null
    exit 0
}
trap cleanup TERM INT HUP
sleep infinity &
sleeper=$!
echo "ready $$"
wait
""".replace("{meta}", " ".join(META_FILES))

CHECK_SERVICE = (f"127.0.0.1:{CHECK_PORT} inet n - n - - smtpd\n"
                 f"  -o smtpd_banner=mailcfg-harness-gen-${GENERATION_PARAM}\n"
                 "  -o syslog_name=postfix/harness-check\n")


class PostfixInstance:
    """A real Postfix in its own namespaces, reconfigured for each snapshot with `apply()`."""

    def __init__(self, workdir: Path, dovecot: Dovecot, name: str = "pf", mode: str = "reload"):
        if mode not in ("restart", "reload"):
            raise ValueError(f"mode must be restart or reload, not {mode!r}")
        self.mode = mode  # reload: SIGHUP (~15 ms); restart: kill master's process group and start (~0.2 s)
        self.dir = workdir
        self.dovecot = dovecot
        self.name = name
        self.holder: subprocess.Popen | None = None
        self.generation = 0
        self.needs_restart = False
        self.timings: dict[str, list[float]] = {"reload": [], "restart": [], "probe": []}
        self.applied: Path | None = None
        self.master_error: str | None = None  # why master did not start for the applied configuration

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self) -> PostfixInstance:
        require_tools()
        if not self.dovecot.started:
            raise HarnessError("start Dovecot before Postfix (it is the SASL backend)")
        for sub in ("conf", "spool", "lib", "log"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)
        shutil.chown(self.dir / "lib", "postfix")  # data_directory: master fails unless postfix owns it
        self.holder = subprocess.Popen(
            [which("unshare") or "unshare", "--net", "--mount", "--propagation", "private",
             "sh", "-c", HOLDER, "holder", str(self.dir), str(self.dovecot.dir)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=_die_with_parent)  # if the tests die, the holder kills master's process group (trap)
        assert self.holder.stdout is not None
        line = self.holder.stdout.readline()
        if not line.startswith("ready "):
            err = self.holder.stderr.read() if self.holder.stderr else ""
            self.holder.kill()
            raise HarnessError(f"could not set up the namespace for Postfix: {line.strip()} {err.strip()}")
        self.pid = int(line.split()[1])
        # A known-good configuration first: if Postfix does not run with it, the harness is at fault.
        baseline = self.dir / "baseline"
        write_baseline(baseline)
        self.apply(baseline)
        if self.master_error:
            raise HarnessError(f"Postfix does not start even with the harness's baseline configuration: "
                               f"{self.master_error}")
        return self

    def stop(self) -> None:
        self._kill_master()
        if self.holder is None:
            return
        # held open while we look: a freed namespace's inode number could be another test's new one
        try:
            held = os.open(f"/proc/{self.holder.pid}/ns/net", os.O_RDONLY)
        except OSError:
            held = None
        _stop(self.holder)  # its trap kills master's group and its sleep
        self.holder = None
        if held is None:
            return
        try:  # anything still in the instance's private network namespace was started by it
            netns = os.fstat(held).st_ino
            for entry in os.listdir("/proc"):
                if entry.isdigit():
                    with contextlib.suppress(OSError):
                        if os.stat(f"/proc/{entry}/ns/net").st_ino == netns:
                            os.kill(int(entry), signal.SIGKILL)
        finally:
            os.close(held)

    def __enter__(self) -> PostfixInstance:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def nsenter(self, *args: str, mount: bool = True, **kwargs) -> subprocess.CompletedProcess:
        ns = ["-n", "-m"] if mount else ["-n"]
        return subprocess.run([which("nsenter") or "nsenter", "-t", str(self.pid), *ns, *args], check=False,
                              **kwargs)

    def diagnose(self) -> str:
        """Master, its children, the listening sockets and the log's tail: for a HarnessError."""
        pid = self.master_pid()
        lines = [f"instance {self.name} ({self.dir}), generation {self.generation}, master pid {pid}"]
        for child in sorted(_children(pid)) if pid else []:
            with contextlib.suppress(OSError):
                state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
                wchan = Path(f"/proc/{child}/wchan").read_text()
                syscall = Path(f"/proc/{child}/syscall").read_text().split()[0]
                lines.append(f"  child {child} [{state} {wchan} syscall {syscall}]: "
                             + Path(f"/proc/{child}/cmdline").read_text().replace("\0", " "))
        if self.holder is not None:
            ss = self.nsenter("ss", "-ltn", mount=False, capture_output=True, text=True)
            lines.append(ss.stdout.strip())
        if self.log_path.exists():
            lines += self.log_path.read_text(errors="replace").splitlines()[-15:]
        return "\n".join(lines)

    @property
    def log_path(self) -> Path:
        return self.dir / "log" / "postfix.log"

    def master_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.dir / "spool" / "pid" / "master.pid").read_text().split()[0])
            return pid if _alive(pid) else None
        return None

    def _kill_master(self) -> None:
        pid = self.master_pid()
        if pid is None:
            return
        members = [pid, *_children(pid)]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # master is a session leader; its children share its group
        if not _wait(lambda: not any(_alive(p) for p in members), 10):
            raise HarnessError(f"Postfix processes {members} did not die")

    def _start_master(self) -> None:
        t0 = time.monotonic()
        self._kill_master()
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with (self.dir / "postfix.start").open("w+") as output:  # a file: daemons may keep a pipe open
            out = self.nsenter("postfix", "start", stdin=subprocess.DEVNULL, stdout=output, stderr=output)
            output.seek(0)
            said = output.read()
        self.timings["restart"].append(time.monotonic() - t0)
        if out.returncode != 0 or self.master_pid() is None:
            _wait(lambda: self.master_pid() is not None, 1)
        if self.master_pid() is None:
            log = self.log_path.read_text(errors="replace")[offset:] if self.log_path.exists() else ""
            fatal = _first_fatal(log) or said.strip() or "postfix start failed"
            self.master_error = fatal
        self.needs_restart = False

    def _reload(self) -> None:
        pid = self.master_pid()
        assert pid is not None
        t0 = time.monotonic()
        old = _children(pid)
        os.kill(pid, signal.SIGHUP)
        # Master re-reads main.cf and master.cf at once; the old children (smtpd, trivial-rewrite, proxymap, ...)
        # exit soon after, and until then an old idle smtpd could still accept a connection with the old
        # settings: wait until every old child is gone (a few ms once the files are backdated, see apply()).
        if not _wait(lambda: not (old & _children(pid)), 5):
            self.needs_restart = True
            self._start_master()
            return
        self.timings["reload"].append(time.monotonic() - t0)

    # --- configurations --------------------------------------------------------------------------
    def apply(self, root: Path, restart: bool = False) -> None:
        """Make the snapshot at ROOT the running configuration (reload, or restart when needed)."""
        src = root / "etc" / "postfix"
        if not (src / "main.cf").is_file() or not (src / "master.cf").is_file():
            raise HarnessError(f"{src}: the harness needs main.cf and master.cf")
        self.generation += 1
        self.applied = root
        self.master_error = None
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        if restart or self.mode == "restart" or self.needs_restart or self.master_pid() is None:
            self._kill_master()
            stale = self._install(src)
            self._start_master()
        else:
            stale = self._install(src)
            self._reload()
            if self.master_pid() is None:  # master itself died on the new files
                self._start_master()
            elif self._trouble_since(offset):
                # An smtpd that master spawned while the files were being replaced died (a mix of old and new
                # files, or the new configuration's own fatal error): master now throttles that service, and a
                # reload does not lift that. Start afresh.
                self._start_master()
        for path in stale:
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()

    def _install(self, src: Path) -> list[Path]:
        """Copy the snapshot's files over the instance's /etc/postfix, main.cf last, each one replaced in a
        single rename (a daemon starting meanwhile never finds main.cf missing); returns the stale files."""
        conf = self.dir / "conf"
        # Postfix re-reads a configuration or table file that changed within the last second or so, after
        # sleeping (it might have been read half-written): every daemon would start ~1.8 s later. Backdate.
        past = time.time() - 60
        wanted: set[Path] = set()

        def put(rel: Path, data: bytes, mode: int) -> None:
            target = conf / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.mailcfg-new")
            tmp.write_bytes(data)
            tmp.chmod(mode)
            os.utime(tmp, (past, past))
            os.replace(tmp, target)
            wanted.update([target, *target.relative_to(conf).parents])

        for path in sorted(src.rglob("*")):
            rel = path.relative_to(src)
            if path.is_file() and rel.as_posix() not in ("main.cf", "master.cf"):
                put(rel, path.read_bytes(), path.stat().st_mode & 0o7777)
        put(Path("master.cf"), (src / "master.cf").read_bytes() + b"\n" + CHECK_SERVICE.encode(), 0o644)
        put(Path("main.cf"), (src / "main.cf").read_bytes() + f"\n{GENERATION_PARAM} = {self.generation}\n".encode(),
            0o644)
        wanted = {conf / p if not p.is_absolute() else p for p in wanted}
        return sorted((p for p in conf.rglob("*") if p not in wanted), key=lambda p: -len(p.parts))

    def _trouble_since(self, offset: int) -> bool:
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(offset)
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            return False
        return bool(re.search(r"fatal:|panic:|throttling", text))

    def probe(self, probes: list, timeout: float = 600) -> list[Observed]:
        """Run every probe against the applied configuration; one client process for the whole list."""
        if self.master_error:
            self.needs_restart = True
            return [Observed("error", "startup", None, f"master: {self.master_error}") for _ in probes]
        t0 = time.monotonic()
        request = {"log": str(self.log_path), "generation": self.generation, "check_port": CHECK_PORT,
                   "probes": [_probe_request(p) for p in probes]}
        out = self.nsenter(sys.executable, os.path.abspath(__file__), "client", mount=False,
                           input=json.dumps(request), capture_output=True, text=True, timeout=timeout)
        self.timings["probe"].append(time.monotonic() - t0)
        if out.returncode != 0:
            raise HarnessError(f"probe client failed (exit {out.returncode}): {out.stderr.strip()[-3000:]}")
        answer = json.loads(out.stdout)
        if answer.get("harness_error"):
            raise HarnessError(f"{self.applied}: {answer['harness_error']}\n{self.diagnose()}")
        check = answer["check"]
        if check["state"] == "hung":
            raise HarnessError(f"{self.applied}: the harness's own smtpd (port {CHECK_PORT}) did not answer: "
                               f"{check['greeting']}\n{self.diagnose()}")
        if check["state"] == "stale":
            raise HarnessError(f"{self.applied}: after applying generation {self.generation} the harness smtpd still "
                               f"answers {check['greeting']!r}: the new configuration is not in force")
        results = [Observed(**r) for r in answer["results"]]
        if check["state"] == "dead" or any(r.code is None for r in results):
            self.needs_restart = True  # master throttles a dying smtpd; start the next config afresh
        return results


def _probe_request(probe) -> dict:
    data = asdict(probe)
    if data["port"] is None:
        service = (data["service"] or "smtp").rpartition(":")[2]
        if service.isdigit():
            data["port"] = int(service)
        elif service in PORTS:
            data["port"] = PORTS[service]
        else:
            raise HarnessError(f"probe names service {data['service']!r}: give its port")
    # TLS from the first byte: the smtps service, or any service on its port (submissions, "465 inet" entries)
    data["wrapper"] = data["service"] == "smtps" or data["port"] == PORTS["smtps"]
    if data["wrapper"] and not data["tls"]:
        raise HarnessError(f"probe on the wrapper-mode port {data['port']} must have tls=True")
    return data


def _first_fatal(log: str) -> str | None:
    m = re.search(r"(?:fatal|panic): (.*)", log)
    return m.group(1).strip() if m else None


BASELINE_MAIN = """\
compatibility_level = 3.6
myhostname = mx.example.com
mydestination = $myhostname, localhost
alias_maps =
local_recipient_maps =
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
"""


def write_baseline(root: Path) -> Path:
    """The harness's own known-good configuration: port 25 and a SASL submission service."""
    etc = root / "etc" / "postfix"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "main.cf").write_text(BASELINE_MAIN)
    (etc / "master.cf").write_text(master_cf([
        "smtp      inet  n       -       n       -       -       smtpd",
        "submission inet n       -       n       -       -       smtpd\n"
        "  -o syslog_name=postfix/submission\n  -o smtpd_sasl_auth_enable=yes"]))
    finish_snapshot(root)
    return root


# Internal services of the stock master.cf, chroot column "n" so no chroot needs building.
INTERNAL_SERVICES = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
        -o syslog_name=postfix/$service_name
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def master_cf(smtpd_entries: list[str]) -> str:
    """A master.cf: the given smtpd entries, then the stock internal services."""
    head = ("# Postfix master process configuration file (generated for mailcfg's differential tests).\n"
            "# service type  private unpriv  chroot  wakeup  maxproc command + args\n")
    return head + "\n".join(smtpd_entries) + "\n" + INTERNAL_SERVICES


def available() -> str | None:
    """Why the harness cannot run here, or None."""
    try:
        require_tools()
    except HarnessError as exc:
        return str(exc)
    return None


# ------------------------------------------------------------------------------------------------
# The probe client. Runs inside the namespace: `nsenter -t PID -n python3 realpostfix.py client`,
# reads {"log", "generation", "check_port", "probes"} on stdin and writes JSON on stdout.
# ------------------------------------------------------------------------------------------------

class _Dropped(Exception):
    pass


class _Session:
    def __init__(self, port: int, timeout: float):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=2)
        self.sock.settimeout(timeout)
        self.file = self.sock.makefile("rb")
        self.transcript: list[str] = []

    def reply(self, timeout: float | None = None) -> tuple[int, str, list[str]]:
        if timeout is not None:
            self.sock.settimeout(timeout)
        lines = []
        while True:
            raw = self.file.readline()
            if not raw:
                raise _Dropped("connection closed by the server")
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(line)
            self.transcript.append("S: " + line)
            if len(line) < 4 or line[3] != "-":
                break
        last = lines[-1]
        if not last[:3].isdigit():
            raise _Dropped(f"malformed reply {last!r}")
        return int(last[:3]), last, lines

    def command(self, text: str) -> tuple[int, str, list[str]]:
        self.transcript.append("C: " + text)
        try:
            self.sock.sendall(text.encode("utf-8") + b"\r\n")
        except OSError as exc:
            raise _Dropped(f"connection lost: {exc}") from exc
        return self.reply(COMMAND_TIMEOUT)

    def starttls(self) -> None:
        self.sock = _tls_context().wrap_socket(self.sock, server_hostname="mx.example.com")
        self.file = self.sock.makefile("rb")

    def wrap(self, log: _Log, end: float) -> _NoGreeting | None:
        """TLS from the start (smtpd_tls_wrappermode): handshake, watching the log for smtpd dying."""
        raw = self.sock
        raw.setblocking(False)
        tls = _tls_context().wrap_socket(raw, server_hostname="mx.example.com", do_handshake_on_connect=False)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                select.select([tls], [], [], 0.1)
            except ssl.SSLWantWriteError:
                select.select([], [tls], [], 0.1)
            except (ssl.SSLError, OSError) as exc:
                fatal = log.fatal_since_mark()
                return _fatal(fatal) if fatal else _NoGreeting(f"TLS handshake failed: {exc}")
            if fatal := log.fatal_since_mark():
                return _fatal(fatal)
            if time.monotonic() > end:
                return _NoGreeting("no TLS handshake (wrapper mode) and no fatal error logged")
        tls.setblocking(True)
        self.sock = tls
        self.file = tls.makefile("rb")
        self.transcript.append("(TLS wrapper mode)")
        return None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def _xtext(value: str) -> str:
    return "".join(c if 33 <= ord(c) <= 126 and c not in "+=" else "".join(f"+{b:02X}" for b in c.encode())
                   for c in value)


def _classify(code: int, line: str, stage: str) -> tuple[str, str]:
    if 200 <= code < 300:
        return "accept", stage
    if code == 451 and line[4:].startswith("4.3.5"):
        return "error", stage
    return ("defer" if 400 <= code < 500 else "reject"), stage


class _Log:
    def __init__(self, path: str):
        self.path = path
        self.offset = self._size()

    def _size(self) -> int:
        try:
            return os.path.getsize(self.path)
        except OSError:
            return 0

    def mark(self) -> None:
        self.offset = self._size()

    def since_mark(self) -> str:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def fatal_since_mark(self) -> str | None:
        return _first_fatal(self.since_mark())


class _HarnessProblem(Exception):
    pass


def _tls_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class _NoGreeting(str):
    """Why smtpd gave no greeting; .fatal tells whether smtpd logged a fatal error (else: a harness problem?)."""

    fatal = False


def _fatal(text: str) -> _NoGreeting:
    why = _NoGreeting(text)
    why.fatal = True
    return why


def _greet(port: int, log: _Log, wait: float, wrapper: bool = False) -> tuple[_Session | None, _NoGreeting | None]:
    """A session with its 220 greeting, or None and why smtpd gave none."""
    log.mark()
    try:
        session = _Session(port, 0.1)
    except OSError as exc:
        return None, _NoGreeting(f"cannot connect to port {port}: {exc}")
    end = time.monotonic() + wait
    if wrapper and (why := session.wrap(log, end)):
        session.close()
        return None, why
    while True:
        # Wait with select(): a read that times out leaves the socket's file object unusable.
        pending = isinstance(session.sock, ssl.SSLSocket) and session.sock.pending()
        if pending or select.select([session.sock], [], [], 0.1)[0]:
            try:
                session.reply(COMMAND_TIMEOUT)
                return session, None
            except (_Dropped, OSError) as exc:
                session.close()
                fatal = log.fatal_since_mark()
                return None, _fatal(fatal) if fatal else _NoGreeting(f"no greeting: {exc}")
        fatal = log.fatal_since_mark()
        if fatal:
            session.close()
            return None, _fatal(fatal)
        if time.monotonic() > end:
            session.close()
            return None, _NoGreeting(f"no greeting within {wait:.1f}s and no fatal error logged "
                                     f"(log since the connection: {log.since_mark()[-300:]!r})")


def _run_probe(p: dict, log: _Log, dead: dict[int, str]) -> dict:
    port = p["port"]
    wait = DEAD_SERVICE_WAIT if port in dead else GREETING_TIMEOUT
    session, why = _greet(port, log, wait, p["wrapper"])
    if session is None and port not in dead and not (why and why.fatal):
        raise _HarnessProblem(f"port {port}: {why}")
    if session is None:
        dead.setdefault(port, why or "no greeting")  # later probes of this service wait less, cite the first cause
        return asdict(Observed("error", "startup", None, dead[port]))
    stage = "connect"
    try:
        line = session.transcript[-1][3:]
        code = int(line[:3])
        if code != 220:
            action, _ = _classify(code, line, stage)
            return asdict(Observed(action, stage, code, line, session.transcript))
        code, line, lines = session.command("EHLO harness.invalid")
        if code != 250:
            raise _HarnessProblem(f"EHLO from the harness refused: {line}")
        caps = {x[4:].split()[0].upper() for x in lines if len(x) > 4}
        if p["tls"] and not p["wrapper"]:
            if "STARTTLS" not in caps:
                raise _HarnessProblem("probe wants TLS but the service does not offer STARTTLS")
            code, line, _ = session.command("STARTTLS")
            if code != 220:
                raise _HarnessProblem(f"STARTTLS refused: {line}")
            session.starttls()
            code, line, lines = session.command("EHLO harness.invalid")
            if code != 250:
                raise _HarnessProblem(f"EHLO after STARTTLS refused: {line}")
            caps = {x[4:].split()[0].upper() for x in lines if len(x) > 4}
        if "XCLIENT" not in caps:
            raise _HarnessProblem("XCLIENT is not offered to the harness (smtpd_authorized_xclient_hosts)")
        attrs = [f"NAME={_xtext(p['client_name']) if p['client_name'] else '[UNAVAILABLE]'}",
                 f"ADDR={'IPV6:' + p['client'] if ':' in p['client'] else p['client']}"]
        if p["helo"]:
            attrs.insert(0, f"HELO={_xtext(p['helo'])}")
        code, line, _ = session.command("XCLIENT " + " ".join(attrs))
        if code != 220:
            raise _HarnessProblem(f"XCLIENT refused: {line}")
        if p["helo"] is not None:
            stage = "helo"
            code, line, lines = session.command(f"EHLO {p['helo']}")
            if code != 250:
                action, _ = _classify(code, line, stage)
                return asdict(Observed(action, stage, code, line, session.transcript))
            caps = {x[4:].split()[0].upper() for x in lines if len(x) > 4}
            auth = next((x[4:].split()[1:] for x in lines if x[4:].upper().startswith("AUTH ")), [])
            if p["sasl_user"] and "AUTH" in caps:
                if "PLAIN" not in [m.upper() for m in auth]:
                    raise _HarnessProblem(f"AUTH offered without PLAIN: {auth}")
                token = base64.b64encode(f"\0{p['sasl_user']}\0{SASL_PASSWORD}".encode()).decode()
                code, line, _ = session.command("AUTH PLAIN " + token)
                if code != 235:
                    raise _HarnessProblem(f"AUTH PLAIN as {p['sasl_user']} failed: {line} (is Dovecot running?)")
        stage = "mail"
        code, line, _ = session.command(f"MAIL FROM:<{p['sender']}>")
        if code != 250:
            action, _ = _classify(code, line, stage)
            return asdict(Observed(action, stage, code, line, session.transcript))
        stage = "rcpt"
        code, line, _ = session.command(f"RCPT TO:<{p['rcpt']}>")
        action, _ = _classify(code, line, stage)
        result = Observed(action, stage, code, line, session.transcript)
        with contextlib.suppress(_Dropped, OSError):
            session.command("RSET")
            session.command("QUIT")
        return asdict(result)
    except (_Dropped, TimeoutError, ssl.SSLError) as exc:
        fatal = log.fatal_since_mark()
        text = f"{exc}" + (f" (log: fatal: {fatal})" if fatal else "")
        return asdict(Observed("error", stage if stage != "connect" else "startup", None, text, session.transcript))
    finally:
        session.close()


def _check_generation(port: int, generation: int, log: _Log) -> dict:
    want = f"mailcfg-harness-gen-{generation}"
    end = time.monotonic() + 3
    greeting = ""
    while time.monotonic() < end:
        session, why = _greet(port, log, 2)
        if session is None:  # dead: smtpd logged a fatal error (the configuration's doing); else hung
            return {"state": "dead" if why and why.fatal else "hung", "greeting": why}
        greeting = session.transcript[-1][3:]
        session.close()
        if want in greeting.split():
            return {"state": "current", "greeting": greeting}
        time.sleep(0.05)
    return {"state": "stale", "greeting": greeting}


def client_main() -> int:
    request = json.load(sys.stdin)
    log = _Log(request["log"])
    answer: dict = {"check": _check_generation(request["check_port"], request["generation"], log), "results": []}
    dead: dict[int, str] = {}
    try:
        for probe in request["probes"]:
            answer["results"].append(_run_probe(probe, log, dead))
    except _HarnessProblem as exc:
        answer["harness_error"] = f"probe {json.dumps(probe)}: {exc}"
    json.dump(answer, sys.stdout)
    return 0


# ------------------------------------------------------------------------------------------------
# A pool of instances sharing one Dovecot, for running many configurations.
# ------------------------------------------------------------------------------------------------

class Harness:
    """Dovecot plus N Postfix instances; `run(items)` probes (root, probes) pairs in parallel."""

    def __init__(self, workdir: Path, instances: int = 2, mode: str = "reload"):
        self.dir = workdir
        self.count = instances
        self.mode = mode
        self.dovecot = Dovecot()
        self.instances: list[PostfixInstance] = []

    def start(self) -> Harness:
        require_tools()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)
        self.dovecot.start()
        try:
            for i in range(self.count):
                self.instances.append(PostfixInstance(self.dir / f"postfix{i}", self.dovecot, f"pf{i}",
                                                      self.mode).start())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for inst in self.instances:
            with contextlib.suppress(Exception):
                inst.stop()
        self.instances = []
        self.dovecot.stop()

    def __enter__(self) -> Harness:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def run(self, items: list[tuple[Path, list]], on_result=None) -> list[list[Observed]]:
        """Apply each snapshot and probe it; the configurations are shared out among the instances."""
        results: list[list[Observed] | None] = [None] * len(items)
        errors: list[BaseException] = []
        lock = threading.Lock()
        todo = iter(range(len(items)))

        def worker(inst: PostfixInstance) -> None:
            while not errors:
                with lock:
                    i = next(todo, None)
                if i is None:
                    return
                root, probes = items[i]
                try:
                    inst.apply(root)
                    results[i] = inst.probe(probes)
                except BaseException as exc:
                    errors.append(exc)
                    return
                if on_result:
                    with lock:
                        on_result(i, results[i])

        threads = [threading.Thread(target=worker, args=(inst,)) for inst in self.instances]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return [r or [] for r in results]

    def timings(self) -> dict[str, list[float]]:
        merged: dict[str, list[float]] = {}
        for inst in self.instances:
            for k, v in inst.timings.items():
                merged.setdefault(k, []).extend(v)
        return merged


# ------------------------------------------------------------------------------------------------
# Comparing the engine's decisions with what Postfix answered.
# ------------------------------------------------------------------------------------------------

def disagreement(real: Observed, predicted) -> str | None:
    """Why the engine's Decision differs from the real answer, or None when they agree.

    Compared: the action and the stage; where Postfix gave a reply, its code and the text after the
    code. When smtpd died (no reply), only action and stage are compared.
    """
    why = []
    if predicted.action != real.action:
        why.append("action")
    if predicted.stage != real.stage:
        why.append("stage")
    if real.code is not None:
        if predicted.code != real.code:
            why.append("code")
        elif (predicted.reply or "")[4:] != real.text:
            why.append("text")
    return ", ".join(why) or None


@dataclass
class Comparison:
    """Every probe of a run, with the real answer and the prediction."""

    rows: list[dict] = field(default_factory=list)

    def add(self, where: str, root: Path, probe, real: Observed, predicted=None, error: str | None = None) -> None:
        if error is not None:
            status, why = "engine-error", error
        elif predicted.undecided:
            status, why = "undecided", "; ".join(predicted.undecided)
        else:
            why = disagreement(real, predicted)
            status = "agree" if why is None else "disagree"
        self.rows.append({"where": where, "root": str(root), "probe": probe, "real": real, "predicted": predicted,
                          "status": status, "why": why})

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r["status"] == status)

    @property
    def compared(self) -> int:
        return self.count("agree") + self.count("disagree") + self.count("engine-error")

    def failures(self) -> list[dict]:
        return [r for r in self.rows if r["status"] in ("disagree", "engine-error")]

    def summary(self) -> str:
        configs = len({r["root"] for r in self.rows})
        agree, compared = self.count("agree"), self.compared
        pct = 100.0 * agree / compared if compared else 100.0
        lines = [f"configurations {configs}, probes {len(self.rows)}, compared {compared}, agree {agree} "
                 f"({pct:.2f}%), disagree {self.count('disagree')}, engine errors {self.count('engine-error')}, "
                 f"undecided (not compared) {self.count('undecided')}"]
        by_stage: dict[str, int] = {}
        for r in self.failures():
            key = f"real {r['real'].action}/{r['real'].stage}"
            if r["predicted"] is not None:
                key += f" vs engine {r['predicted'].action}/{r['predicted'].stage}"
            by_stage[key] = by_stage.get(key, 0) + 1
        for key, n in sorted(by_stage.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {n:5d}  {key}")
        return "\n".join(lines)

    def report(self, limit: int = 40) -> str:
        from mailcfg.transaction import probe_json

        out = [self.summary()]
        failures = self.failures()
        for r in failures[:limit]:
            p = r["predicted"]
            engine = r["why"] if p is None else f"{p.action} {p.stage} {p.reply}"
            out.append(f"- {r['where']} {r['root']}\n    probe  {json.dumps(probe_json(r['probe']))}\n"
                       f"    real   {r['real'].action} {r['real'].stage} {r['real'].reply}\n"
                       f"    engine {engine}   [{r['why']}]")
        if len(failures) > limit:
            out.append(f"... and {len(failures) - limit} more")
        return "\n".join(out)


def run_differential(harness: Harness, workdir: Path, seed: int, count: int, *, first: int = 0,
                     dns: bool = False, progress=None) -> tuple[Comparison, list]:
    """Generate `count` configurations, run their probes on the real Postfix and through decide()."""
    import postfix_generator
    from mailcfg.postfix.config import load_postfix
    from mailcfg.postfix.engine import decide
    from mailcfg.snapshot import load_local

    generated = postfix_generator.generate_batch(workdir, seed, count, first, dns)
    observed = harness.run([(g.root, g.probes) for g in generated], on_result=progress)
    comparison = Comparison()
    for gen, answers in zip(generated, observed, strict=True):
        config = load_postfix(load_local(str(gen.root)))
        for probe, real in zip(gen.probes, answers, strict=True):
            where = f"seed {seed} config {gen.index}"
            try:
                predicted = decide(config, probe)
            except Exception as exc:  # a crash is a disagreement, reported with the rest
                comparison.add(where, gen.root, probe, real, error=f"engine raised {type(exc).__name__}: {exc}")
                continue
            comparison.add(where, gen.root, probe, real, predicted)
    return comparison, generated


if __name__ == "__main__":
    if sys.argv[1:] == ["client"]:
        sys.exit(client_main())
    sys.exit("usage: realpostfix.py client  (reads probes as JSON on stdin; run inside an instance's namespace)")
