"""One SSH connection to one host (paramiko), with host keys checked against known_hosts.

Host keys come from the user's and the system's known_hosts files (OpenSSH's defaults, or the
host's UserKnownHostsFile / GlobalKnownHostsFile) plus an optional extra file, looked up under
the host's HostKeyAlias when it has one, and its RevokedHostKeys (`mailcfg.remote.knownhosts`). A
host with no known key is refused unless `accept_new` is set (the key is then appended to the
extra file, or to the first user file, as OpenSSH's `StrictHostKeyChecking accept-new` does); a
host whose key differs from a known one - same type or another type - or is `@revoked` is always
refused. paramiko cannot verify OpenSSH host certificates (it takes a certificate's key without
checking the CA's signature), so a host that only an `@cert-authority` line vouches for is
refused, saying so.

Authentication uses the given key file, the ssh-agent and the default ~/.ssh/id_* keys; an
encrypted key's passphrase comes from MAILCFG_SSH_PASSPHRASE or, on a terminal, one prompt before
the run. Nothing secret is ever put in a message.

Every failure to reach, verify, log in or run is an `SshError` (exit code 3, "could not be
reached or fetched"), whose message is one line naming the host.
"""

from __future__ import annotations

import base64
import functools
import getpass
import hashlib
import logging
import os
import selectors
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mailcfg.errors import MailcfgError
from mailcfg.remote import watchdog
from mailcfg.remote.knownhosts import KnownHosts, Trust, recordable
from mailcfg.remote.sshlib import paramiko
from mailcfg.remote.sshtarget import PASSPHRASE_ENV, HostKeyError, SshError, SshOptions, SshTarget

MAX_OUTPUT = 512 * 1024 * 1024


def fingerprint(key: paramiko.PKey) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class _Transport(paramiko.Transport):
    """paramiko's transport asking for AES-GCM first: an AEAD cipher, so no MAC is computed and compared
    in Python for every packet (a fleet's controller spends its CPU there); paramiko's other ciphers
    follow in its own order for servers without it. Key exchange and host key types are paramiko's
    (curve25519 and ed25519 first)."""

    _preferred_ciphers = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
                          *(c for c in paramiko.Transport._preferred_ciphers if "-gcm@" not in c))

    # While a connection waits for the server, paramiko's thread wakes every 0.1 s (its default) to look
    # whether the connection was closed: a fleet's controller spent a tenth of its CPU on those wake-ups.
    # Closing still ends the thread: its socket is closed, and the next wake-up (at most this long) sees it.
    # paramiko's banner and handshake time limits are looked at on those wake-ups: they may now pass up to
    # a second late.
    _active_check_timeout = 1.0

    # paramiko escapes each debug message the server sends (OpenSSH sends one at every key login) byte by
    # byte in Python, and sends each of its dozens of log lines per connection through its own dispatch,
    # before its logger looks at the level: the level is asked first here.
    def _log(self, level, msg, *args):
        if self.logger.isEnabledFor(level):
            super()._log(level, msg, *args)

    def _parse_debug(self, m):
        if self.logger.isEnabledFor(logging.DEBUG):
            super()._parse_debug(m)


class _Policy(paramiko.MissingHostKeyPolicy):
    """Called by paramiko when known_hosts has no key of the offered type for this host."""

    def __init__(self, target: SshTarget, trust: Trust, options: SshOptions, known: KnownHosts):
        self.target, self.trust, self.options, self.known = target, trust, options, known

    def missing_host_key(self, client, hostname, key):
        trust, name = self.trust, self.trust.name
        if (revoked := _revoked(self.target, trust, key)) is not None:
            raise revoked
        if trust.trusts(key):  # one of several keys of its type (which paramiko cannot hold)
            return
        if trust.keys:  # known under other keys only: a changed key as far as we can tell
            old = ", ".join(f"{t} {fingerprint(k)}" for t, keys in trust.keys.items() for k in keys)
            raise HostKeyError(self.target, _changed(key, old, name))
        if trust.authorities:
            raise HostKeyError(self.target, f"{name} is trusted only through @cert-authority "
                               f"({trust.authorities[0].where}), and mailcfg (paramiko) cannot verify OpenSSH "
                               f"host certificates; refused (add the host's own key to known_hosts to use it)")
        if not self.options.accept_new:
            raise HostKeyError(self.target, f"unknown host key {key.get_name()} {fingerprint(key)} for {name}; "
                               f"refused (add it to known_hosts, or pass --accept-new-host-keys)")
        if self.options.known_hosts is None and not self.options.user_known_hosts:
            raise HostKeyError(self.target, f"unknown host key {key.get_name()} {fingerprint(key)} for {name}; "
                               f"refused (UserKnownHostsFile is none: nowhere to record it)")
        if not recordable(name):  # a HostKeyAlias such as `*` or `a,b` would trust the key for other hosts
            raise HostKeyError(self.target, f"unknown host key {key.get_name()} {fingerprint(key)} for {name!r}, "
                               f"which is not a name known_hosts can record (HostKeyAlias?); refused")
        save_to = self.options.known_hosts or self.options.user_known_hosts[0]
        self.known.remember(save_to, name, key)
        print(f"mailcfg: {self.target}: new host key {key.get_name()} {fingerprint(key)} accepted and added to "
              f"{save_to}", file=sys.stderr)


def _revoked(target: SshTarget, trust: Trust, key: paramiko.PKey) -> HostKeyError | None:
    entry = trust.revocation(key)
    if entry is None:
        return None
    return HostKeyError(target, f"host key {key.get_name()} {fingerprint(key)} of {trust.name} is REVOKED "
                        f"({entry.where}); refused")


def _changed(offered: paramiko.PKey, known: str, name: str) -> str:
    return (f"host key CHANGED: the server offers {offered.get_name()} {fingerprint(offered)} but known_hosts has "
            f"{known} for {name}; refused (if the change is expected, remove the old entry: ssh-keygen -R '{name}')")


def encrypted(path: Path) -> bool:
    """Whether the private key file at `path` needs a passphrase (False if it cannot be read)."""
    try:
        paramiko.PKey.from_path(path)
    except paramiko.PasswordRequiredException:
        return True
    except TypeError as exc:  # how cryptography says it of OpenSSH-format keys
        return "password" in str(exc)
    except Exception:  # unreadable or not a key: the connection reports it
        return False
    return False


@functools.lru_cache(maxsize=16)
def _identity(path: Path, passphrase: str | None) -> paramiko.PKey | None:
    """The --identity key (with its -cert.pub, if any), read once for all of a run's connections: paramiko
    would read the file again for each, trying every key type. None when it cannot be read: paramiko's own
    attempt then says why."""
    try:
        return paramiko.PKey.from_path(path, passphrase)
    except Exception:
        return None


def default_keys() -> list[Path]:
    """The key files paramiko tries by itself (look_for_keys)."""
    ssh = Path(os.path.expanduser("~/.ssh"))
    return [ssh / f"id_{kind}" for kind in ("rsa", "ecdsa", "ed25519") if (ssh / f"id_{kind}").is_file()]


def load_known_hosts(options: SshOptions) -> KnownHosts:
    """The run's known_hosts files (shared by its connections); the default ones and --known-hosts
    are read now, so that an unreadable one is reported once, before any host is contacted."""
    known = KnownHosts(options.known_hosts)
    for path in (options.known_hosts, *options.user_known_hosts, *options.global_known_hosts):
        if path is not None:
            known.entries(path)
    return known


class Connection:
    """An open, verified, authenticated SSH connection; over `sock` (a tunnel through a jump host,
    or a proxy command) when given. Connections in `via` are closed with this one."""

    def __init__(self, target: SshTarget, options: SshOptions, known: KnownHosts | None = None, sock=None):
        self.target, self.options, self.sock = target, options, sock
        self.via: list[Connection] = []
        known = known if known is not None else load_known_hosts(options)
        self.client = paramiko.SSHClient()
        try:
            self.trust = known.trust(options.host_key_alias or target.known_hosts_name, options.user_known_hosts,
                                     options.global_known_hosts, options.revoked_host_keys)
        except MailcfgError:
            self.close()
            raise
        # The client checks the plain keys trusted for this host, under the name it looks up (which
        # also makes it ask the server for that key type first); our policy sees only a key type it
        # does not know. Copying just these keeps a connection's cost independent of known_hosts' size.
        if all(len(keys) == 1 for keys in self.trust.keys.values()):
            for key_type, [key] in self.trust.keys.items():
                self.client.get_host_keys().add(target.known_hosts_name, key_type, key)
        self.client.set_missing_host_key_policy(_Policy(target, self.trust, options, known))
        self._connect()

    def _connect(self) -> None:
        t, o = self.target, self.options
        if o.identity is not None and not o.identity.is_file():
            self.close()
            raise MailcfgError(f"{o.identity}: identity file not found")
        passphrase = o.passphrase or os.environ.get(PASSPHRASE_ENV) or None
        key = _identity(o.identity, passphrase) if o.identity is not None else None
        try:
            self.client.connect(
                t.host, port=t.port, username=t.user or getpass.getuser(), pkey=key,
                key_filename=str(o.identity) if o.identity and key is None else None, passphrase=passphrase,
                timeout=o.timeout, banner_timeout=o.timeout, auth_timeout=o.timeout,
                allow_agent=True, look_for_keys=True, sock=self.sock, transport_factory=_Transport)
        except Exception as exc:
            self.close()
            if isinstance(exc, HostKeyError):
                raise
            failure = self._failure(exc)
            if failure is None:
                raise
            raise failure from None

    def _failure(self, exc: Exception) -> SshError | None:
        """The one-line reason for what `connect` raised (None: not a connection failure, a bug)."""
        t, o = self.target, self.options
        at = f"{t.host} port {t.port}"
        if isinstance(exc, paramiko.BadHostKeyException):
            return _revoked(t, self.trust, exc.key) or \
                HostKeyError(t, _changed(exc.key, f"{exc.expected_key.get_name()} {fingerprint(exc.expected_key)}",
                                         self.trust.name))
        if isinstance(exc, paramiko.PasswordRequiredException):
            return SshError(t, f"the key file is encrypted: set {PASSPHRASE_ENV} or use ssh-agent")
        if isinstance(exc, paramiko.AuthenticationException):
            return SshError(t, f"authentication failed as {t.user or getpass.getuser()} "
                            f"(tried {'the --identity key, ' if o.identity else ''}ssh-agent and ~/.ssh keys)")
        if isinstance(exc, TimeoutError):
            return SshError(t, f"unreachable: connection to {at} timed out after {o.timeout:g}s")
        if isinstance(exc, socket.gaierror):
            return SshError(t, f"unreachable: cannot resolve {t.host}: {exc.strerror}")
        if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
            reasons = {os.strerror(e.errno) if e.errno else str(e) for e in exc.errors.values()}
            return SshError(t, f"unreachable: {'; '.join(sorted(reasons)).lower()} ({at})")
        if isinstance(exc, paramiko.SSHException | EOFError):
            return SshError(t, f"unreachable: SSH with {at} failed: {one_line(exc)}")
        if isinstance(exc, OSError):
            return SshError(t, f"unreachable: {(exc.strerror or str(exc)).lower()} ({at})")
        return None

    def run(self, command: str, stdin: bytes = b"") -> tuple[int, bytes, bytes]:
        """Run `command`, feed it `stdin`, and return (exit code, stdout, stderr) within the command timeout."""
        with self.shell(command) as sh:
            sh.send(stdin, last=True)
            return sh.read()

    @contextmanager
    def shell(self, command: str) -> Iterator[Shell]:
        """`command` (a shell reading its script from standard input), for scripts sent one after another
        on one channel: each answer can decide the next script without a channel (and a remote shell) each."""
        sh = Shell(self, command)
        try:
            yield sh
        finally:
            sh.close()

    @contextmanager
    def failing(self) -> Iterator[None]:
        """The SSH library's errors in the block as this host's SshError."""
        try:
            yield
        except TimeoutError:
            raise self._timed_out() from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise SshError(self.target, f"unreachable: running the remote command failed: {one_line(exc)}") \
                from None

    def _timed_out(self) -> SshError:
        return SshError(self.target, f"unreachable: the remote command timed out after "
                        f"{self.options.command_timeout:g}s")

    def tunnel(self, to: SshTarget):
        """A channel from this host to `to`'s SSH port (as `ssh -J` uses): the next hop's socket."""
        transport = self.client.get_transport()
        try:
            if transport is None or not transport.is_active():
                raise paramiko.SSHException("the connection was closed")
            return transport.open_channel("direct-tcpip", (to.host, to.port), ("127.0.0.1", 0),
                                          timeout=self.options.timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise SshError(to, f"unreachable: jump host {self.target} could not connect to {to.host} port "
                           f"{to.port}: {one_line(exc)}") from None

    def close(self) -> None:
        self.client.close()
        if self.sock is not None:
            self.sock.close()
        for hop in reversed(self.via):
            hop.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Shell:
    """A remote shell reading its script from a channel: `send` a script, `read` what it printed.

    After each script but the last, the shell prints a line of the controller's on both of its outputs
    (random for each script: no file a script prints can hold it), and `read` returns what came before
    it. A new shell prints such a line first, awaited only for the connect timeout: where none comes (a
    login that forces another command, reading its input to the end; a shell slow to start), the
    command is told its input has ended, and either the script runs and ends (the next one gets a shell
    of its own) or what the command said is reported, instead of waiting for a line that never comes."""

    def __init__(self, conn: Connection, command: str) -> None:
        self.conn, self.command = conn, command
        self.chan = None
        self.waiting: selectors.BaseSelector | None = None
        self.ready: bytes | None = None  # the line a new shell prints first, until it has been seen
        self.marker: bytes | None = None
        self.deadline = 0.0
        self.out, self.err = bytearray(), bytearray()  # received and not yet returned
        self.spent = True  # no shell that reads more: the next script opens one

    def _open(self) -> None:
        self.close()
        transport = self.conn.client.get_transport()
        if transport is None or not transport.is_active():
            raise SshError(self.conn.target, "unreachable: the connection was closed")
        with self.conn.failing():
            self.chan = transport.open_session(timeout=self.conn.options.timeout)
            # Waits on the channel's event pipe (readable once output or its end arrives), never polls:
            # a fleet's controller would otherwise spend CPU on every waiting host all the while.
            self.waiting = selectors.DefaultSelector()
            self.waiting.register(self.chan.fileno(), selectors.EVENT_READ)
            self._exec()
        self.out.clear()
        self.err.clear()
        self.spent = False
        self.ready = _line()

    def _exec(self) -> None:
        """Ask the server to run the command. paramiko waits for the server's answer without a timeout, so a
        server that never gives one would hold this worker for good: the channel is closed (which ends the
        wait) when the step's time limit has passed, and the host reported unreachable even if the answer
        came just then (the channel is gone either way)."""
        limit, chan, fired = self.conn.options.command_timeout, self.chan, threading.Event()

        def give_up() -> None:  # on the watchdog's thread, which must not wait: closing may (paramiko's send)
            fired.set()
            threading.Thread(target=chan.close, name="mailcfg-give-up", daemon=True).start()

        alarm = watchdog.after(limit, give_up)
        try:
            chan.exec_command(self.command)
        except paramiko.SSHException:
            if not fired.is_set():
                raise
        finally:
            alarm.cancel()  # a give_up already under way has set `fired` once this returns
        if fired.is_set():
            raise SshError(self.conn.target, f"unreachable: the server did not answer the request to run a command "
                           f"within {limit:g}s")

    def close(self) -> None:
        if self.waiting is not None:
            self.waiting.close()
        if self.chan is not None:
            self.chan.close()
        self.chan = self.waiting = None

    def send(self, script: bytes, last: bool) -> None:
        if self.spent:
            self._open()
        self.deadline = time.monotonic() + self.conn.options.command_timeout
        self.marker = None if last else _line()
        if last:
            self.ready = None  # nothing to wait for: the input ends with this script
        head = _print(self.ready, stderr=False) if self.ready is not None else b""
        with self.conn.failing():
            try:
                self.chan.settimeout(max(0.1, self.deadline - time.monotonic()))
                self.chan.sendall(head + script + (b"" if last else _print(self.marker)))
                if last:
                    self.chan.shutdown_write()
                    self.spent = True
            except OSError as exc:
                if isinstance(exc, TimeoutError) or not (self.chan.closed or self.chan.eof_received):
                    raise
                # the command has ended without reading (`sudo -n` refusing): `read` returns what it said

    def read(self) -> tuple[int | None, bytes, bytes]:
        """(exit code, stdout, stderr) of the last script sent, within the command timeout: up to its line
        (the exit code then None), or to the end of the output."""
        with self.conn.failing():
            ready, self.ready = (_framed(self.ready) if self.ready is not None else None), None
            if ready is not None:
                options = self.conn.options
                if self._until(ready, None, time.monotonic() + min(options.timeout, options.command_timeout)) \
                        == "time":
                    self.chan.shutdown_write()  # the script runs to its end, or the command gets the end of its input
                    self.spent = True
                    self.deadline = time.monotonic() + options.command_timeout
            end = _framed(self.marker) if self.marker is not None else None
            got = self._until(end, end, self.deadline)
            if got == "time":
                raise self.conn._timed_out()
            if ready is not None and ready in self.out:  # what came before it is the login's, not the script's
                del self.out[:self.out.find(ready) + len(ready)]
            if got == "found":
                out, err = self._take(self.out, self.out.find(end)), self._take(self.err, self.err.find(end))
                del self.out[:len(end)], self.err[:len(end)]
                return None, out, err
            self.spent = True
            # ended: sshd may send exit-status after the end of the output
            if not self.chan.status_event.wait(max(0.0, self.deadline - time.monotonic())):
                raise self.conn._timed_out()
            out, err = bytes(self.out), bytes(self.err)
            self.out.clear()
            self.err.clear()
            return self.chan.recv_exit_status(), out, err

    def _until(self, on_out: bytes | None, on_err: bytes | None, deadline: float) -> str:
        """Receive until stdout holds `on_out` (and stderr `on_err`, unless None), or with `on_out` None until
        the output ends: "found", "ended" (the output ended first) or "time"."""
        chan = self.chan
        looked = [0, 0]  # how far each buffer has been searched: each byte is looked at about once
        while True:
            while chan.recv_ready():
                self.out += chan.recv(65536)
            while chan.recv_stderr_ready():
                self.err += chan.recv_stderr(65536)
            if len(self.out) > MAX_OUTPUT:
                raise SshError(self.conn.target, f"the remote command printed more than {MAX_OUTPUT} bytes")
            if on_out is not None and self._holds(0, on_out, looked) and (on_err is None or
                                                                          self._holds(1, on_err, looked)):
                return "found"
            if (chan.eof_received or chan.closed) and not chan.recv_ready() and not chan.recv_stderr_ready():
                return "ended"
            if not self.waiting.select(deadline - time.monotonic()):
                return "time"

    def _holds(self, which: int, text: bytes, looked: list[int]) -> bool:
        """Whether stdout (0) or stderr (1) holds `text`, searching only what arrived since the last look
        (-1 in `looked`: found already; the buffers only grow while waiting)."""
        if looked[which] < 0:
            return True
        buffer = self.out if which == 0 else self.err
        if buffer.find(text, max(0, looked[which] - len(text) + 1)) >= 0:
            looked[which] = -1
            return True
        looked[which] = len(buffer)
        return False

    @staticmethod
    def _take(buffer: bytearray, count: int) -> bytes:
        """The first `count` bytes received in `buffer`, taken out."""
        taken = bytes(buffer[:count])
        del buffer[:count]
        return taken


def _line() -> bytes:
    return f"MAILCFG_{os.urandom(16).hex()}".encode()


def _print(line: bytes, stderr: bool = True) -> bytes:
    """sh printing `line` after a newline on its standard output (and on its standard error)."""
    command = b"printf '\\n%s\\n' '" + line + b"'"
    return command + (b"; " + command + b" >&2" if stderr else b"") + b"\n"


def _framed(line: bytes) -> bytes:
    return b"\n" + line + b"\n"


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
