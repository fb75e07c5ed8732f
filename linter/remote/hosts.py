"""One record for an SSH host, however the user named it (DESIGN.md, "SSH").

A host reaches mailcfg in three ways: `ssh://user@host:port`, a bare name resolved through
~/.ssh/config (`mailcfg.remote.sshconfig`), or an entry of an Ansible-style inventory
(`mailcfg.remote.inventory`). All three give a `HostSpec`; `HostSpec.target` is the
`SshTarget` that `mailcfg.remote.ssh.Connection` connects to, and `HostSpec.ssh_options()`
carries the host's own key file into the `SshOptions`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailcfg.remote.ssh import SshOptions, SshTarget, parse_target


@dataclass(frozen=True)
class HostSpec:
    """Where and how to reach one host.

    `name` is what the user or the inventory calls the host (reports name it so); `hostname`
    is what is connected to. `proxy_jump` / `proxy_command` come from ssh_config only: paramiko
    follows neither by itself, so a caller must handle them or refuse the host. `vars` holds
    the host's `mailcfg_*` inventory variables (empty for the other two kinds).
    """

    name: str
    hostname: str
    port: int = 22
    user: str | None = None
    identity: Path | None = None
    proxy_jump: str | None = None
    proxy_command: str | None = None
    become: bool | None = None  # None: as the command line says
    vars: dict[str, Any] = field(default_factory=dict, hash=False)

    @classmethod
    def from_url(cls, text: str) -> HostSpec:
        """`ssh://[user@]host[:port]`; a bad URL raises `MailcfgError`."""
        return cls.from_target(parse_target(text))

    @classmethod
    def from_target(cls, target: SshTarget) -> HostSpec:
        return cls(name=str(target), hostname=target.host, port=target.port, user=target.user)

    @property
    def target(self) -> SshTarget:
        return SshTarget(self.hostname, self.port, self.user)

    def ssh_options(self, base: SshOptions) -> SshOptions:
        """`base` with this host's key file and become setting, where it has them (as in Ansible,
        the host's own settings win over the command line's)."""
        changes: dict[str, Any] = {}
        if self.identity is not None:
            changes["identity"] = self.identity
        if self.become is not None:
            changes["become"] = self.become
        return dataclasses.replace(base, **changes) if changes else base

    def __str__(self) -> str:
        return self.name
