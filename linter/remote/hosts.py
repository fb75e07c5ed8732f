"""One record for an SSH host, however the user named it (DESIGN.md, "SSH").

A host reaches mailcfg in three ways: `ssh://user@host:port`, a bare name resolved through
~/.ssh/config (`mailcfg.remote.sshconfig`), or an entry of an Ansible-style inventory
(`mailcfg.remote.inventory`). All three give a `HostSpec`; `HostSpec.target` is the
`SshTarget` that `mailcfg.remote.ssh.Connection` connects to, and `HostSpec.ssh_options()`
carries the host's own key file into the `SshOptions`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mailcfg.errors import MailcfgError
from mailcfg.remote.sshtarget import SshOptions, SshTarget, parse_target

# The fields ssh_config may set (HostName aside).
CONFIGURABLE = frozenset({"port", "user", "identity", "proxy_jump", "proxy_command", "host_key_alias",
                          "user_known_hosts", "global_known_hosts", "revoked_host_keys"})


@dataclass(frozen=True)
class HostSpec:
    """Where and how to reach one host.

    `name` is what the user or the inventory calls the host (reports name it so); `hostname`
    is what is connected to. `proxy_jump` / `proxy_command` come from ssh_config or from the
    inventory's ssh arguments; paramiko follows neither by itself: `mailcfg.remote.route` does.
    `proxy_command` keeps its %-tokens, which route expands with each value shell-quoted.
    `refused` says why the host must not be contacted at all (an ssh option of the inventory that
    mailcfg cannot honour, a name that is no host name). `vars` holds the host's `mailcfg_*`
    inventory variables (empty for the other two kinds).
    """

    name: str
    hostname: str
    port: int = 22
    user: str | None = None
    identity: Path | None = None
    proxy_jump: str | None = None
    proxy_command: str | None = None
    become: bool | None = None  # None: as the command line says
    host_key_alias: str | None = None
    user_known_hosts: tuple[Path, ...] | None = None  # None: OpenSSH's default files
    global_known_hosts: tuple[Path, ...] | None = None
    revoked_host_keys: Path | None = None
    refused: str | None = None
    alias: str | None = field(default=None, compare=False)  # the host as ssh was given it (%n); None: hostname
    # Settings its source left open, which ssh_config fills at connection time as ssh would
    # (`mailcfg.remote.sshconfig.complete`); its HostName applies whenever this is not empty.
    unset: frozenset[str] = field(default=frozenset(), compare=False)
    vars: dict[str, Any] = field(default_factory=dict, hash=False)

    @classmethod
    def from_url(cls, text: str) -> HostSpec:
        """`ssh://[user@]host[:port]`; a bad URL or a name that is no host or user name raises `MailcfgError`."""
        target = parse_target(text)
        problem = name_problem(target.host, target.user)
        if problem is not None:
            raise MailcfgError(f"{text!r}: {problem}")
        given = {name for name, value in (("port", urlsplit(text).port), ("user", target.user)) if value}
        return dataclasses.replace(cls.from_target(target), unset=CONFIGURABLE - given)

    @classmethod
    def from_target(cls, target: SshTarget) -> HostSpec:
        return cls(name=str(target), hostname=target.host, port=target.port, user=target.user)

    @property
    def target(self) -> SshTarget:
        return SshTarget(self.hostname, self.port, self.user)

    def ssh_options(self, base: SshOptions) -> SshOptions:
        """`base` with this host's key file, become setting and known_hosts settings, where it has
        them (as in Ansible, the host's own settings win over the command line's)."""
        own = {"identity": self.identity, "become": self.become, "host_key_alias": self.host_key_alias,
               "user_known_hosts": self.user_known_hosts, "global_known_hosts": self.global_known_hosts,
               "revoked_host_keys": self.revoked_host_keys}
        changes = {k: v for k, v in own.items() if v is not None}
        return dataclasses.replace(base, **changes) if changes else base

    def __str__(self) -> str:
        return self.name


# What may be a host name or a login name. A name reaches ProxyCommand's %h/%n/%r tokens, a shell
# command line (OpenSSH CVE-2023-51385), so names outside these are refused before any expansion,
# as OpenSSH 9.6 refuses shell metacharacters; what is substituted is quoted besides.
_HOSTNAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})")
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,255}\$?")


def valid_hostname(text: str) -> bool:
    """A DNS-style name (letters, digits, `_`, `-`, dots) or an IP address literal."""
    if _HOSTNAME.fullmatch(text):
        return True
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def valid_user(text: str) -> bool:
    """A login name: letters, digits, `_`, `.`, `-`, `@` (not first), optionally ending in `$`."""
    return _USER.fullmatch(text) is not None


def name_problem(host: str, user: str | None = None) -> str | None:
    """Why `host` / `user` cannot be used (one phrase), or None."""
    if not valid_hostname(host):
        return f"{host!r} is not a valid host name or IP address"
    if user is not None and not valid_user(user):
        return f"{user!r} is not a valid user name"
    return None
