"""How to reach a host: directly, through ssh_config's ProxyJump hosts, or through its ProxyCommand.

ProxyJump `a,b` connects to `a` (itself reached as its own ssh_config says), opens a tunnel from
`a` to `b` and from `b` to the host, as `ssh -J` does; every hop's host key is checked like the
host's. Each jump name is resolved through ~/.ssh/config (HostName, User, Port, IdentityFile).
ProxyCommand runs locally through `sh -c 'exec ...'`, as OpenSSH runs it, after its tokens (%h, %p,
%r, %n, %%) are replaced, each value shell-quoted: a host name never becomes shell syntax
(OpenSSH CVE-2023-51385). A host whose `refused` is set is never contacted.
"""

from __future__ import annotations

import dataclasses
import getpass
import re
import shlex
from typing import TYPE_CHECKING

from mailcfg.asciidigits import digits
from mailcfg.errors import MailcfgError
from mailcfg.remote import is_ssh_target
from mailcfg.remote.hosts import HostSpec
from mailcfg.remote.knownhosts import KnownHosts
from mailcfg.remote.sshtarget import SshError, SshOptions

if TYPE_CHECKING:
    from mailcfg.remote.ssh import Connection

MAX_DEPTH = 8  # jump hosts behind jump hosts: deeper than this is taken for a loop


def connect(spec: HostSpec, options: SshOptions, known: KnownHosts | None = None,
            depth: int = 0) -> Connection:
    """An open connection to `spec`; an `SshError` naming `spec` when it, or a hop on the way, fails."""
    # paramiko loads when a host is connected to, not with the modules that name hosts (start-up)
    from mailcfg.remote import sshconfig
    from mailcfg.remote.ssh import Connection, load_known_hosts
    from mailcfg.remote.sshlib import paramiko

    if spec.refused:
        raise MailcfgError(f"{spec.name}: {spec.refused}")
    spec = sshconfig.complete(spec)
    known = known if known is not None else load_known_hosts(options)  # read once for every hop
    opened: list[Connection] = []
    try:
        sock = None
        if spec.proxy_command:
            command = proxy_command(spec)
            try:
                # `exec`, as OpenSSH does: closing the connection then stops the command itself, not just sh
                sock = paramiko.ProxyCommand("sh -c " + shlex.quote("exec " + command))
            except (paramiko.SSHException, OSError) as exc:
                raise SshError(spec.target, f"unreachable: ProxyCommand failed to start: {exc}") from None
        elif spec.proxy_jump:
            if depth >= MAX_DEPTH:
                raise SshError(spec.target, f"ProxyJump goes deeper than {MAX_DEPTH} hops (a loop in ssh_config?)")
            hops = jump_hosts(spec.proxy_jump)
            opened.append(connect(hops[0], options, known, depth + 1))
            for nxt in map(sshconfig.complete, hops[1:]):
                opened.append(Connection(nxt.target, nxt.ssh_options(options), known,
                                         sock=opened[-1].tunnel(nxt.target)))
            sock = opened[-1].tunnel(spec.target)
        conn = Connection(spec.target, spec.ssh_options(options), known, sock=sock)
    except Exception as exc:
        for c in reversed(opened):
            c.close()
        if not isinstance(exc, SshError) or exc.target == str(spec.target):
            raise
        raise SshError(spec.target, f"via jump host {exc.target}: {exc.reason}") from None
    conn.via = opened
    return conn


def proxy_command(spec: HostSpec) -> str:
    """`spec.proxy_command` with its tokens replaced, each value shell-quoted."""
    values = {"h": spec.hostname, "p": str(spec.port), "r": spec.user or getpass.getuser(),
              "n": spec.alias or spec.hostname}

    def token(match: re.Match) -> str:
        letter = match.group(1)
        if letter == "%":
            return "%"
        if letter not in values:
            raise MailcfgError(f"{spec.name}: ProxyCommand {spec.proxy_command!r}: unknown token %{letter} "
                               f"(known: %h %p %r %n %%)")
        return shlex.quote(values[letter])

    return re.sub(r"%(.?)", token, spec.proxy_command, flags=re.S)


def jump_hosts(text: str) -> list[HostSpec]:
    """ProxyJump's comma-separated `[user@]host[:port]` or `ssh://` hops, each through ssh_config."""
    from mailcfg.remote import sshconfig

    hops = []
    for word in (w.strip() for w in text.split(",")):
        if is_ssh_target(word):
            hops.append(HostSpec.from_url(word))
            continue
        user, at, rest = word.rpartition("@")
        host, port = rest, None
        if rest.startswith("["):
            host, _, tail = rest[1:].partition("]")
            port = tail[1:] if tail.startswith(":") else None
        elif rest.count(":") == 1:
            host, port = rest.split(":")
        if not host or (port is not None and not digits(port)):
            raise MailcfgError(f"ProxyJump {text!r}: {word!r} is not [user@]host[:port]")
        spec = sshconfig.resolve(f"{user}{at}{host}")
        hops.append(dataclasses.replace(spec, port=int(port)) if port else spec)
    return hops
