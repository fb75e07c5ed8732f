"""Run the real Exim 4.96 (Debian's build, unpacked into .exim/root by scripts/setup.sh) on a configuration.

Debian cannot install exim4 beside postfix, so the packages are unpacked into a private root and the
binary runs from there with LD_LIBRARY_PATH (it needs libidn12). Everything goes through
`exim4 -C CONFIG -bh CLIENT`: a fake SMTP session on stdin/stdout that runs the configuration's ACLs,
authenticators and (for verify = ...) routers, and delivers nothing. What makes it answer like a daemon:

* stdin and stdout are one end of a socketpair, so the harness talks to Exim a command at a time,
  and STARTTLS works for real: Exim does the TLS handshake on that socket (with a self-signed
  certificate of its own making when the configuration names none), so `encrypted = *` and
  `server_advertise_condition = ${if def:tls_in_cipher}` can be tested.
* `-oMi ADDRESS.PORT` sets the interface the session arrived on; without it $received_port is -1.
  Every session gets it, port 25 unless the probe says otherwise.
* `-tls-on-connect` makes a session start with the TLS handshake (-bh ignores tls_on_connect_ports).
* Each session runs in a network namespace of its own (`unshare --net`): no DNS server is reachable,
  so every DNS lookup fails at once with a temporary error, whatever this machine's resolver knows.

-bh writes an IPv6 client address in full (2001:0db8:0000:...: exim.c canonicalizes it with host_nmtoa), where
the daemon writes it compressed (inet_ntop); anything that compares its text ($sender_host_address in a
message, verify = helo with the client's IPv6 literal) differs from the daemon's, which the engine models.

A verified client host name cannot be simulated: -oMs gives a name, but Exim then forward-checks it in
DNS and, without DNS, treats the client as nameless. Probes with client_name are refused (ValueError).

Timing: a session costs 6-10 ms (process start), each command well under 1 ms, a STARTTLS 35 ms with a
named certificate and 200-400 ms without. After QUIT, and after a `drop`, Exim waits up to 200 ms for the
client to hang up before it flushes its reply: the harness half-closes the socket right after QUIT.

Exim must run as root here: as anyone else, -C drops privilege. The configuration file must be owned by
root and not writable by others, or Exim refuses it ("wrong owner, group, or mode").
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import fcntl
import hashlib
import hmac
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mailcfg.exim.address import argument
from mailcfg.transaction import Probe

REPO = Path(__file__).resolve().parent.parent
EXIM_ROOT = REPO / ".exim" / "root"
EXIM = EXIM_ROOT / "usr" / "sbin" / "exim4"
LIBDIR = EXIM_ROOT / "usr" / "lib" / "x86_64-linux-gnu"
GENERATOR = EXIM_ROOT / "usr" / "sbin" / "update-exim4.conf"

PASSWORD = "secret"  # every AUTH sends this; test configurations accept it (see PLAIN_SERVER)
# The server's own addresses: the interface a session "arrived on" (-oMi). Documentation ranges.
SERVER_V4 = "192.0.2.2"
SERVER_V6 = "2001:db8::2"
PORTS = {"smtp": 25, "submission": 587, "smtps": 465, "submissions": 465}
# Without its own network namespace, a host_lookup = * config (Debian's) sometimes waited 5 s for this sandbox's
# resolver, and answers depended on what that resolver knew. Inside one, DNS lookups give TRY_AGAIN at once.
NO_NETWORK = ["unshare", "--net"]
MAX_SHARED = 5  # transactions in one session (real_answers)
TIMEOUT = 10.0  # a reply that takes longer is a harness problem: nothing here waits on the network

# A plaintext server authenticator that accepts any user with PASSWORD (Exim's PLAIN: $auth2 user, $auth3 password).
PLAIN_SERVER = (
    "  driver = plaintext\n"
    "  public_name = PLAIN\n"
    "  server_prompts = :\n"
    "  server_condition = ${if eq{$auth3}{" + PASSWORD + "}}\n"
    "  server_set_id = $auth2\n"
)


class EximError(RuntimeError):
    """The harness could not run Exim, or Exim refused the configuration file itself."""


def available() -> str | None:
    """Why the real Exim cannot run here, or None."""
    if not EXIM.exists():
        return f"no Exim binary at {EXIM} (run scripts/setup.sh)"
    if os.geteuid() != 0:
        return "the real-Exim harness must run as root (-C drops privilege otherwise)"
    return None


def _env() -> dict[str, str]:
    # Exim purges its environment anyway (keep_environment); it only needs to find libidn.so.12.
    return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LD_LIBRARY_PATH": str(LIBDIR)}


def _macro_args(macros: Mapping[str, str] | None) -> list[str]:
    # -DNAME=VALUE overrides the file's own definition of NAME (no "already defined" error).
    return [f"-D{name}={value}" for name, value in (macros or {}).items()]


def secure(path: Path) -> Path:
    """Make PATH acceptable to Exim as a -C file: owned by root, mode 0644."""
    os.chown(path, 0, 0)
    path.chmod(0o644)
    return path


def write_config(path: Path, text: str) -> Path:
    """Write a configuration file Exim will accept with -C."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return secure(path)


def run_exim(args: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    """exim4 ARGS, as it is: no check of the exit code."""
    return subprocess.run([str(EXIM), *args], input=stdin, capture_output=True, text=True, env=_env(),
                          timeout=TIMEOUT, check=False)


@dataclass
class Check:
    """What `exim -bV` said about a configuration file."""

    ok: bool
    returncode: int
    error: str  # Exim's complaint ("Exim configuration error in line 4 of F:\n  main option ... unknown"), or ""


def check_config(config: Path, macros: Mapping[str, str] | None = None) -> Check:
    out = run_exim(["-C", str(config), *_macro_args(macros), "-bV"])
    # stderr also carries a harmless "Warning: purging the environment." on every run
    error = "\n".join(line for line in out.stderr.splitlines()
                      if "purging the environment" not in line and "keep_environment" not in line)
    return Check(out.returncode == 0, out.returncode, error.strip())


def option(config: Path, name: str, macros: Mapping[str, str] | None = None) -> str:
    """A main option's value as Exim reads it (`exim -bP NAME`), "" when unset."""
    out = run_exim(["-C", str(config), *_macro_args(macros), "-n", "-bP", name])
    if out.returncode != 0:
        raise EximError(f"exim -bP {name} failed on {config}: {out.stderr.strip()}")
    return out.stdout.strip()


# ------------------------------------------------------------------------------------------------
# An SMTP session with `exim -bh`, one command at a time.
# ------------------------------------------------------------------------------------------------

@dataclass
class Reply:
    """One SMTP reply: all its lines ("250-..." continuation lines included). No lines: the connection closed."""

    command: str | None  # what the client sent; None for the greeting
    lines: list[str]

    @property
    def code(self) -> int | None:
        return int(self.lines[-1][:3]) if self.lines and self.lines[-1][:3].isdigit() else None

    @property
    def first(self) -> str:
        return self.lines[0] if self.lines else ""

    @property
    def closed(self) -> bool:
        return not self.lines


@dataclass
class Transcript:
    """A whole session: the replies (greeting first), Exim's stderr (`>>>` ACL debugging, LOG: lines), exit code."""

    replies: list[Reply]
    stderr: str
    returncode: int | None

    @property
    def log(self) -> list[str]:
        """What Exim would have logged ("LOG: H=... rejected RCPT <x>: relay not permitted" without "LOG: ")."""
        return [line[5:] for line in self.stderr.splitlines() if line.startswith("LOG: ")]


class Session:
    """`exim4 -C CONFIG -bh CLIENT` speaking over a socketpair; use as a context manager."""

    def __init__(self, config: Path, client: str, port: int = 25, *, tls_on_connect: bool = False,
                 macros: Mapping[str, str] | None = None, timeout: float = TIMEOUT):
        self.replies: list[Reply] = []
        self._transcript: Transcript | None = None
        self.closed = False
        self.tls = False
        interface = SERVER_V6 if ":" in client else SERVER_V4
        ours, theirs = socket.socketpair()
        # a file, not a pipe: a long debug trace cannot block Exim; closed in finish()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        args = [str(EXIM), "-C", str(config), *_macro_args(macros), "-oMi", f"{interface}.{port}"]
        if tls_on_connect:
            args.append("-tls-on-connect")
        try:
            self._proc = subprocess.Popen([*NO_NETWORK, *args, "-bh", client], stdin=theirs, stdout=theirs,
                                          stderr=self._stderr, env=_env())
        finally:
            theirs.close()
        ours.settimeout(timeout)
        self._sock: socket.socket = ours
        self._file = ours.makefile("rb")
        if tls_on_connect:
            self._handshake()
        self.greeting = self._read(None)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()

    def _read(self, command: str | None) -> Reply:
        lines: list[str] = []
        try:
            while True:
                raw = self._file.readline()
                if not raw:
                    self.closed = True
                    break
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                # -bh writes a banner ("**** SMTP testing session as if from host ...") before the greeting
                if not lines and (line.startswith("****") or not line):
                    continue
                lines.append(line)
                if len(line) < 4 or line[3] != "-":
                    break
        except (ConnectionError, ssl.SSLError):
            self.closed = True
        reply = Reply(command, lines)
        self.replies.append(reply)
        return reply

    def command(self, line: str) -> Reply:
        """Send one command and read its whole reply (no lines if Exim had closed the connection)."""
        if line.strip().upper() == "QUIT":
            return self.quit()
        if not self.closed:
            try:
                self._sock.sendall(line.encode() + b"\r\n")
            except (ConnectionError, ssl.SSLError):
                self.closed = True
        if self.closed:
            reply = Reply(line, [])
            self.replies.append(reply)
            return reply
        return self._read(line)

    def quit(self) -> Reply:
        """QUIT, and close our side at once: after its 221 Exim waits up to 200 ms for the client to hang up."""
        if self.closed:
            reply = Reply("QUIT", [])
            self.replies.append(reply)
            return reply
        with contextlib.suppress(OSError):
            self._sock.sendall(b"QUIT\r\n")
            if not self.tls:  # (an SSL socket cannot half-close and still read; Exim flushes TLS output at once)
                self._sock.shutdown(socket.SHUT_WR)
        reply = self._read("QUIT")
        self.closed = True
        return reply

    def _handshake(self) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # Exim's certificate is self-signed; the TLS session is what counts
        self._sock = context.wrap_socket(self._sock, server_hostname="mx.example.com")
        self._file = self._sock.makefile("rb")
        self.tls = True

    def starttls(self) -> Reply:
        """STARTTLS and, on 220, the TLS handshake. Raises ssl.SSLError if the handshake fails."""
        reply = self.command("STARTTLS")
        if reply.code == 220:
            self._handshake()
        return reply

    def finish(self) -> Transcript:
        """QUIT if the session is still open, wait for Exim to exit, and return the transcript (once)."""
        if self._transcript is None:
            if not self.closed:
                self.quit()
            for closable in (self._file, self._sock):  # the socket stays open while its file object is
                with contextlib.suppress(OSError):
                    closable.close()
            try:
                code = self._proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                code = self._proc.wait()
            self._stderr.seek(0)
            stderr = self._stderr.read().decode("utf-8", "replace")
            self._stderr.close()
            self._transcript = Transcript(self.replies, stderr, code)
        return self._transcript


def run_session(config: Path, client: str, commands: Iterable[str], port: int = 25,
                macros: Mapping[str, str] | None = None) -> Transcript:
    """`exim -C CONFIG -bh CLIENT` with these command lines; the replies are grouped per command (greeting first).

    Commands after Exim closed the connection get a reply without lines."""
    with Session(config, client, port, macros=macros) as session:
        for line in commands:
            session.command(line)
        return session.finish()


# ------------------------------------------------------------------------------------------------
# One probe: what a client that connects, says EHLO, maybe logs in, and sends one message is told.
# ------------------------------------------------------------------------------------------------

@dataclass
class Answer:
    """What the real Exim answered to one probe."""

    action: str  # accept (2xx to RCPT) | reject (5xx) | defer (4xx) | error (no reply, or the probe's TLS failed)
    stage: str  # connect | helo | starttls | auth | mail | rcpt: where the answer was given
    reply: str  # the first line of the deciding reply ("550 relay not permitted"), or what went wrong
    lines: list[str] = field(default_factory=list)  # the whole deciding reply
    auth_advertised: bool = False  # the (last) EHLO reply had an AUTH line; after STARTTLS when the probe uses TLS
    auth_mechanisms: list[str] = field(default_factory=list)  # what it offered: ["PLAIN", "CRAM-MD5"]
    auth_ok: bool | None = None  # None: AUTH not tried (no sasl_user, or no EHLO)
    auth_reply: str = ""  # Exim's answer to AUTH: "235 Authentication succeeded", "503 AUTH command used when ..."
    tls: bool = False  # the session was encrypted when MAIL was sent
    transcript: list[str] = field(default_factory=list)  # "C: ..." and "S: ..." lines

    @property
    def code(self) -> int | None:
        return int(self.reply[:3]) if self.reply[:3].isdigit() else None


def _classify(reply: Reply) -> str:
    code = reply.code
    if code is None:
        return "error"
    return {2: "accept", 4: "defer", 5: "reject"}.get(code // 100, "error")


def probe_port(probe: Probe) -> int:
    """The port a probe connects to: its port, else its service's, else 25."""
    if probe.port is not None:
        return probe.port
    return PORTS.get(probe.service or "smtp", 25)


def _transaction(session: Session, probe: Probe) -> tuple[Reply, str]:
    """MAIL and RCPT: the deciding reply and its stage."""
    mail = session.command(f"MAIL FROM:{argument(probe.sender)}")
    if mail.code != 250:
        return mail, "mail"
    return session.command(f"RCPT TO:{argument(probe.rcpt)}"), "rcpt"


class _Client:
    """The client side of one or more probes that share who connects, how, and who logs in."""

    def __init__(self, config: Path, probe: Probe, macros: Mapping[str, str] | None, tls_ports: set[int]):
        if probe.client_name is not None:
            raise ValueError("a verified client name cannot be simulated with exim -bh (its forward check needs DNS)")
        self.probe = probe
        self.port = probe_port(probe)
        self.wrapper = probe.tls and self.port in tls_ports
        self.auth_mechanisms: list[str] = []
        self.auth_ok: bool | None = None
        self.auth_reply = ""
        self.tls = self.wrapper
        self.refusal: Answer | None = None  # the session refused before any transaction could start
        self.transactions = 0
        self.syntax_errors = 0
        self.session: Session | None = None
        if self.port in tls_ports and not probe.tls:  # a daemon would wait for a TLS handshake; -bh would not
            self.refusal = self._answer(Reply(None, []), "connect", "error",
                                        f"port {self.port} is in tls_on_connect_ports: TLS is needed from the start")
            return
        self.session = Session(config, probe.client, self.port, tls_on_connect=self.wrapper, macros=macros)
        self._open()

    def _answer(self, reply: Reply, stage: str, action: str | None = None, text: str | None = None) -> Answer:
        if text is None:
            text = reply.first or "connection closed"
        return Answer(action or _classify(reply), stage, text, list(reply.lines), bool(self.auth_mechanisms),
                      list(self.auth_mechanisms), self.auth_ok, self.auth_reply, self.tls,
                      _lines(self.session.replies) if self.session else [])

    def _open(self) -> None:
        session, probe = self.session, self.probe
        assert session is not None
        if session.greeting.code != 220:
            self.refusal = self._answer(session.greeting, "connect")
            return
        if probe.helo is None:  # the client says no HELO/EHLO (Probe: helo None); so it cannot log in or STARTTLS
            if probe.tls and not self.wrapper:
                self.refusal = self._answer(session.greeting, "starttls", "error", "STARTTLS needs EHLO (helo is None)")
            return
        ehlo = session.command(f"EHLO {probe.helo}")
        if ehlo.code != 250:
            self.refusal = self._answer(ehlo, "helo")
            return
        if probe.tls and not self.wrapper:
            if not any(line[4:].upper().startswith("STARTTLS") for line in ehlo.lines):
                self.refusal = self._answer(ehlo, "starttls", "error", "STARTTLS not offered")
                return
            try:
                reply = session.starttls()
            except (ssl.SSLError, OSError) as exc:
                self.refusal = self._answer(Reply("STARTTLS", []), "starttls", "error", f"TLS handshake failed: {exc}")
                return
            if reply.code != 220:
                self.refusal = self._answer(reply, "starttls", "error")
                return
            self.tls = True
            ehlo = session.command(f"EHLO {probe.helo}")
            if ehlo.code != 250:
                self.refusal = self._answer(ehlo, "helo")
                return
        # "250-AUTH PLAIN CRAM-MD5": the public names of the server authenticators offered, in definition order
        self.auth_mechanisms = next((line[9:].split() for line in ehlo.lines if line[4:9].upper() == "AUTH "), [])
        if probe.sasl_user:
            reply = _login(session, probe.sasl_user, self.auth_mechanisms)
            self.auth_ok = reply.code == 235
            self.auth_reply = reply.first
            if reply.closed or reply.code == 421:  # the session is over
                self.refusal = self._answer(reply, "auth")
            # A refused login (503, 504, 535, 454...) goes on unauthenticated, like a client whose login failed.

    def ask(self, probe: Probe) -> Answer:
        """One transaction (MAIL, RCPT, then RSET so the next one starts clean)."""
        if self.refusal is not None or self.session is None:
            assert self.refusal is not None
            return dataclasses.replace(self.refusal)
        self.transactions += 1
        reply, stage = _transaction(self.session, probe)
        answer = self._answer(reply, stage)
        # Exim counts syntax errors over the session (smtp_max_synprot_errors): the next probe starts afresh
        self.syntax_errors += reply.code in (500, 501)
        if not self.session.closed:
            self.session.command("RSET")
        return answer

    @property
    def usable(self) -> bool:
        return self.refusal is None and self.session is not None and not self.session.closed and not self.syntax_errors

    def close(self) -> Transcript | None:
        return self.session.finish() if self.session else None


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _login(session: Session, user: str, offered: list[str]) -> Reply:
    """Log in as a mail program does: with the first of PLAIN, LOGIN and CRAM-MD5 the server offers (what
    the engine's probes mean by a login), and PASSWORD. With none offered, AUTH PLAIN is sent anyway:
    Exim's answer to that (503) is part of what is tested."""
    mechanism = next((m for m in ("PLAIN", "LOGIN", "CRAM-MD5") if m in (o.upper() for o in offered)), "PLAIN")
    if mechanism == "PLAIN":
        return session.command(f"AUTH PLAIN {_b64(chr(0) + user + chr(0) + PASSWORD)}")
    reply = session.command(f"AUTH {mechanism}")
    if mechanism == "LOGIN":
        for answer in (user, PASSWORD):
            if reply.code != 334:
                return reply
            reply = session.command(_b64(answer))
        return reply
    if reply.code != 334:
        return reply
    challenge = base64.b64decode(reply.first[4:].strip())
    digest = hmac.new(PASSWORD.encode(), challenge, hashlib.md5).hexdigest()
    return session.command(_b64(f"{user} {digest}"))


def _lines(replies: list[Reply]) -> list[str]:
    out: list[str] = []
    for reply in replies:
        if reply.command is not None:
            out.append("C: " + reply.command)
        out.extend("S: " + line for line in reply.lines)
    return out


def tls_on_connect_ports(config: Path, macros: Mapping[str, str] | None = None) -> set[int]:
    value = option(config, "tls_on_connect_ports", macros)
    return {int(p) for p in re.split(r"[\s:]+", value) if p.isdigit()}


def real_answer(config: Path, probe: Probe, macros: Mapping[str, str] | None = None) -> Answer:
    """Ask the real Exim what it answers to PROBE, in a session of its own.

    EHLO probe.helo (none when helo is None: Exim 4.96 then refuses MAIL, hosts_require_helo = *), STARTTLS if
    probe.tls (or TLS on connect, on a port in tls_on_connect_ports), AUTH PLAIN probe.sasl_user/PASSWORD if sasl_user
    (even when AUTH is not advertised; a refused login goes on unauthenticated), MAIL, RCPT, QUIT.
    """
    client = _Client(config, probe, macros, tls_on_connect_ports(config, macros))
    try:
        return client.ask(probe)
    finally:
        client.close()


def _key(probe: Probe) -> tuple:
    """What a session depends on: probes with the same key can share one (a transaction each)."""
    return (probe.client, probe_port(probe), probe.helo, probe.sasl_user, probe.tls, probe.client_name)


def real_answers(config: Path, probes: list[Probe], macros: Mapping[str, str] | None = None,
                 shared: bool = True) -> list[Answer]:
    """real_answer for each probe, in order.

    With shared, probes that differ only in sender and recipient share a session: MAIL, RCPT and RSET for each, at
    most MAX_SHARED of them (Exim drops a session after smtp_accept_max_nonmail = 10 non-mail commands, RSET
    included). A session Exim closed (drop) is started again for the probes left. On the generator's output this
    gave the same answers as a session per probe (4002 probes, seeds 1-5) in 3/4 of the time; it would not for a
    configuration whose answers depend on connection-wide state ($acl_c* variables, ratelimit)."""
    if not shared:
        return [real_answer(config, p, macros) for p in probes]
    ports = tls_on_connect_ports(config, macros)
    answers: dict[int, Answer] = {}
    groups: dict[tuple, list[int]] = {}
    for index, probe in enumerate(probes):
        groups.setdefault(_key(probe), []).append(index)
    for indexes in groups.values():
        client: _Client | None = None
        try:
            for index in indexes:
                if client is None or not client.usable or client.transactions >= MAX_SHARED:
                    if client is not None:
                        client.close()
                    client = _Client(config, probes[index], macros, ports)
                answers[index] = client.ask(probes[index])
        finally:
            if client is not None:
                client.close()
    return [answers[i] for i in range(len(probes))]


# ------------------------------------------------------------------------------------------------
# Debian's configuration generator, run from the unpacked package.
# ------------------------------------------------------------------------------------------------

def debian_generate(confdir: Path, out: Path, mailname: Path | None = None) -> Path:
    """Run Debian's update-exim4.conf on CONFDIR (update-exim4.conf.conf, exim4.conf.template or conf.d/) into OUT.

    The script reads two fixed paths besides CONFDIR: /etc/mailname, and /etc/exim4/exim4.conf.localmacros
    (only to test that it exists; it then reads CONFDIR's). A copy of the script is run with the first pointing
    at MAILNAME (default: CONFDIR/../mailname, a snapshot's etc/mailname) and the second at CONFDIR, so on a
    snapshot it does what it does on the host the snapshot came from. A missing mailname file is what it is on
    a host without /etc/mailname: the script warns and ETC_MAILNAME (qualify_domain) is empty. Nothing is
    written outside OUT and a temporary directory. Raises EximError with the script's output on failure.
    """
    confdir = Path(confdir).resolve()
    mailname = Path(mailname) if mailname is not None else confdir.parent / "mailname"
    script = GENERATOR.read_text()
    for fixed, ours in (("/etc/mailname", str(mailname)),
                        ("/etc/exim4/exim4.conf.localmacros", "${UPEX4C_confdir}/exim4.conf.localmacros")):
        if fixed not in script:
            raise EximError(f"{GENERATOR} no longer mentions {fixed}: check debian_generate")
        script = script.replace(fixed, ours)
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        env = {"PATH": f"{EXIM_ROOT / 'usr' / 'sbin'}:/usr/sbin:/usr/bin:/sbin:/bin", "LD_LIBRARY_PATH": str(LIBDIR),
               "TMPDIR": tmp}
        # bash -c TEXT NAME: $0 is the installed script's name, which it writes into the generated file's header
        run = subprocess.run(["bash", "-c", script, "/usr/sbin/update-exim4.conf", "-d", str(confdir), "-o", str(out)],
                             capture_output=True, text=True, env=env, timeout=60, check=False)
    if run.returncode != 0 or not out.exists():
        raise EximError(f"update-exim4.conf on {confdir} failed ({run.returncode}):\n{run.stderr}{run.stdout}")
    return secure(out)


_CERT_LOCK = threading.Lock()


@dataclass
class Certificate:
    cert: Path
    key: Path
    combined: Path  # both in one file: what tls_certificate alone can name (the key is then read from it too)


def harness_certificate() -> Certificate:
    """A self-signed certificate for mx.example.com, made once in .exim/tls. Readable by all: Exim reads it after
    it has become the Debian-exim user. Also saves time: without a certificate Exim makes a self-signed RSA one
    for every STARTTLS (200-400 ms here; 35 ms with this one)."""
    directory = EXIM_ROOT.parent / "tls"
    found = Certificate(directory / "cert.pem", directory / "key.pem", directory / "combined.pem")
    directory.parent.mkdir(parents=True, exist_ok=True)
    # callers may be threads, and test files run in parallel processes: the first makes it, the others wait
    with _CERT_LOCK, open(directory.parent / "tls.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not all(p.exists() for p in (found.cert, found.key, found.combined)):
            directory.mkdir(parents=True, exist_ok=True)
            made = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                   "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=mx.example.com",
                                   "-days", "36500", "-keyout", str(found.key), "-out", str(found.cert)],
                                  capture_output=True, text=True, check=False)
            if made.returncode != 0:
                raise EximError(f"openssl could not make a test certificate: {made.stderr.strip()}")
            found.combined.write_text(found.cert.read_text() + found.key.read_text())
        for path in (directory, found.cert, found.key, found.combined):
            path.chmod(0o755 if path.is_dir() else 0o644)
    return found


def stock_confdir(target: Path) -> Path:
    """A copy of the package's /etc/exim4 (exim4.conf.template, conf.d/, passwd.client) at TARGET."""
    shutil.copytree(EXIM_ROOT / "etc" / "exim4", target, dirs_exist_ok=True)
    return target
