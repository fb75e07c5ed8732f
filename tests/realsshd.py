"""Debian's real sshd on a loopback port, serving a host the test prepares.

The sshd runs in its own mount namespace (`unshare --mount`) where test directories are
bind-mounted over the host paths (/etc/postfix, and for test users /etc/passwd, /etc/shadow,
/etc/group, /etc/sudoers), so the remote side reads real absolute paths, the real `postconf`
answers for that configuration, and `sudo` decides with the test's sudoers. Nothing outside the
namespace changes. Used by tests/test_ssh.py and bench/fleet_vs_ansible.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FIRST_UID = 47000


def available() -> bool:
    return os.access(SSHD, os.X_OK) and bool(shutil.which("unshare")) and os.geteuid() == 0


def served_conf(base: Path, example: str = "open-relay") -> Path:
    """An example's etc/postfix (with this machine's stock master.cf where it has none), to serve as /etc/postfix."""
    conf = base / "etc-postfix"
    shutil.copytree(EXAMPLES / example / "etc" / "postfix", conf)
    stock = Path("/etc/postfix/master.cf")
    if not (conf / "master.cf").exists():
        (conf / "master.cf").write_text(stock.read_text() if stock.is_file() else "smtp inet n - y - - smtpd\n")
    return conf


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path, passphrase: str = "") -> str:
    """A new ed25519 key pair at `path`; returns the public key's base64 part."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().split()[1]


class Sshd:
    """One sshd. `postfix_conf` is served as /etc/postfix, and each of `mounts` (host path ->
    test directory) over its host path; `users` maps extra login names to a sudoers line (or None
    for no sudo rights); root can always log in with the client key."""

    def __init__(self, base: Path, postfix_conf: Path, users: dict[str, str | None] | None = None,
                 sshd_options: str = "", mounts: dict[str, Path] | None = None, host_ca: Path | None = None):
        self.base, self.port, self.conf = base, free_port(), postfix_conf
        # Users other than root read their authorized_keys themselves: it must be world-readable.
        self.public = Path(tempfile.mkdtemp(prefix="mailcfg-sshd-", dir="/tmp"))
        os.chmod(self.public, 0o755)
        self.host_key = keygen(base / "host_ed25519")
        if host_ca is not None:  # the host key signed by this CA key, offered as a host certificate too
            subprocess.run(["ssh-keygen", "-q", "-s", str(host_ca), "-I", "mailcfg-test", "-h", "-n", "127.0.0.1",
                            str(base / "host_ed25519.pub")], check=True, capture_output=True)
            sshd_options += f"HostCertificate {base / 'host_ed25519-cert.pub'}\n"
        self.client_key = base / "client_ed25519"
        keygen(self.client_key)
        keys = self.public / "authorized_keys"
        keys.write_text(self.client_key.with_suffix(".pub").read_text())
        os.chmod(keys, 0o644)
        binds = [(postfix_conf, "/etc/postfix"), *((src, dst) for dst, src in (mounts or {}).items())]
        if users:
            binds += self._accounts(users)
        config = base / "sshd_config"
        config.write_text(f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {base / 'host_ed25519'}\n"
                          f"PidFile {base / 'sshd.pid'}\nPermitRootLogin prohibit-password\n"
                          f"PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                          f"AuthorizedKeysFile {keys}\nStrictModes no\nUsePAM no\n{sshd_options}")
        Path("/run/sshd").mkdir(exist_ok=True)
        mounts = " && ".join([*self._mount_points([Path(dst) for _, dst in binds]),
                              *(f'mount --bind "${{{i * 2 + 1}}}" "${{{i * 2 + 2}}}"' for i in range(len(binds)))])
        args = [str(a) for pair in binds for a in pair]
        n = len(args)
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             f'{mounts} && exec "${{{n + 1}}}" -D -e -f "${{{n + 2}}}"', "sh", *args, SSHD, str(config)],
            stdout=subprocess.DEVNULL, stderr=open(base / "sshd.log", "wb"))  # noqa: SIM115
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"sshd did not start: {(base / 'sshd.log').read_text()}") from None
                time.sleep(0.05)

    def _mount_points(self, targets: list[Path]) -> list[str]:
        """sh that makes the missing mount points (/etc/exim4 on a machine without Exim) inside the
        namespace only: an overlay over the nearest existing directory, where they are created."""
        commands, done = [], set()
        for target in targets:
            if target.exists():
                continue
            parent = target.parent
            while not parent.exists():
                parent = parent.parent
            if parent not in done:
                done.add(parent)
                layer = self.base / f"overlay{len(done)}"
                (layer / "upper").mkdir(parents=True)
                (layer / "work").mkdir()
                commands.append(f"mount -t overlay overlay -o lowerdir={parent},upperdir={layer / 'upper'},"
                                f"workdir={layer / 'work'} {parent}")
            commands.append(f"mkdir -p {target}")
        return commands

    def _accounts(self, users: dict[str, str | None]) -> list[tuple[Path, str]]:
        """Copies of the account files with the test users added, to bind over the real ones."""
        files = {name: (Path("/etc") / name).read_text() for name in ("passwd", "shadow", "group")}
        sudoers = "Defaults env_reset\nDefaults secure_path=\"/usr/sbin:/usr/bin:/sbin:/bin\"\n"
        for i, (name, rule) in enumerate(users.items()):
            uid = FIRST_UID + i
            files["passwd"] += f"{name}:x:{uid}:{uid}:mailcfg test:{self.public}:/bin/sh\n"
            files["shadow"] += f"{name}:*:19000:0:99999:7:::\n"  # no password, not locked
            files["group"] += f"{name}:x:{uid}:\n"
            if rule is not None:
                sudoers += f"{name} {rule}\n"
        binds = []
        for name, text in [*files.items(), ("sudoers", sudoers)]:
            copy = self.base / f"etc-{name}"
            copy.write_text(text)
            os.chmod(copy, 0o440 if name == "sudoers" else 0o640 if name == "shadow" else 0o644)
            binds.append((copy, f"/etc/{name}"))
        return binds

    def url(self, user: str = "root") -> str:
        return f"ssh://{user}@127.0.0.1:{self.port}"

    def known_hosts_line(self, key: str | None = None, key_type: str = "ssh-ed25519") -> str:
        return f"[127.0.0.1]:{self.port} {key_type} {key or self.host_key}\n"

    def known_hosts(self, path: Path, key: str | None = None, key_type: str = "ssh-ed25519") -> Path:
        path.write_text(self.known_hosts_line(key, key_type))
        return path

    def _sessions(self) -> list[int]:
        """The sshd processes serving connections now (the listener's sshd children and theirs), not what they run."""
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            try:
                children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
            except OSError:
                continue
            for child in children:
                try:
                    if Path(f"/proc/{child}/comm").read_text().strip() == "sshd":
                        found.append(child)
                        todo.append(child)
                except OSError:
                    pass
        return found

    def drop_sessions(self) -> int:
        """Kill every open connection's sshd (SIGKILL): each client sees its connection drop. Returns how many."""
        sessions = self._sessions()
        for pid in sessions:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(sessions)

    def pause(self) -> None:
        """Stop the listener (SIGSTOP): new connections get no banner, as from a host that went away."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        self.resume()
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.public, ignore_errors=True)
