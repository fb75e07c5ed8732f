"""Where and how to reach a host over SSH, and how reaching it fails: what naming a host needs,
without paramiko (imported only by `mailcfg.remote.ssh`, which connects).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from mailcfg.errors import MailcfgError
from mailcfg.remote.knownhosts import GLOBAL_FILES, USER_FILES, expand

PASSPHRASE_ENV = "MAILCFG_SSH_PASSPHRASE"


class SshError(MailcfgError):
    """The host could not be reached, verified, logged into or run: exit code 3.

    str() is "TARGET: REASON"; `reason` alone is what a lint result's "error" says.
    """

    exit_code = 3

    def __init__(self, target: SshTarget | str, reason: str):
        super().__init__(f"{target}: {reason}")
        self.target, self.reason = str(target), reason


class HostKeyError(SshError):
    """The host's key is unknown (and not accepted) or changed."""


@dataclass(frozen=True)
class SshTarget:
    """Where to connect: host, port and user."""

    host: str
    port: int = 22
    user: str | None = None

    @property
    def known_hosts_name(self) -> str:
        """How known_hosts names this host: `host` on port 22, `[host]:port` otherwise."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ssh://{user}{host}" + (f":{self.port}" if self.port != 22 else "")


@dataclass(frozen=True)
class SshOptions:
    """How to connect and check a host: known hosts, keys, time limits, sudo."""

    known_hosts: Path | None = None  # checked besides ~/.ssh/known_hosts
    accept_new: bool = False
    identity: Path | None = None
    timeout: float = 10.0  # connect, banner and authentication
    command_timeout: float = 120.0
    become: bool = False  # run the remote side through `sudo -n`
    passphrase: str | None = field(default=None, repr=False)  # of encrypted key files; never shown
    host_key_alias: str | None = None  # the name known_hosts knows the host by (ssh_config HostKeyAlias)
    user_known_hosts: tuple[Path, ...] = expand(USER_FILES)  # UserKnownHostsFile
    global_known_hosts: tuple[Path, ...] = expand(GLOBAL_FILES)  # GlobalKnownHostsFile
    revoked_host_keys: Path | None = None  # RevokedHostKeys


def parse_target(text: str) -> SshTarget:
    """`ssh://[user@]host[:port]` (IPv6 in brackets)."""
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme != "ssh" or not parts.hostname or port == -1 or parts.path not in ("", "/") \
            or parts.query or parts.fragment or parts.password is not None:
        raise MailcfgError(f"{text}: not an SSH target (expected ssh://[user@]host[:port])")
    return SshTarget(parts.hostname, port or 22, unquote(parts.username) if parts.username else None)
