"""A bare host name resolved through an OpenSSH client config (~/.ssh/config), with paramiko.

`resolve("mx1")` reads HostName, User, Port, IdentityFile, ProxyJump, ProxyCommand,
HostKeyAlias, UserKnownHostsFile, GlobalKnownHostsFile and RevokedHostKeys as `ssh mx1` would (first obtained value
wins, `Host` patterns and negations as OpenSSH). `user@name` is accepted too, the user overriding
the config's User. A name or user that is not a valid host or login name is refused before any
lookup (OpenSSH 9.6 does the same: such names end up in ProxyCommand's shell command). paramiko
connects neither through ProxyJump nor through ProxyCommand on its own: both are returned on the
`HostSpec` for `mailcfg.remote.route`; ProxyCommand keeps its %-tokens, which route expands quoted.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path
from typing import ClassVar

from mailcfg.errors import MailcfgError
from mailcfg.remote.hosts import CONFIGURABLE, HostSpec, name_problem
from mailcfg.remote.knownhosts import expand
from mailcfg.remote.ssh import one_line
from mailcfg.remote.sshlib import load_invoke, paramiko

DEFAULT_CONFIG = "~/.ssh/config"


def load(path: str | os.PathLike | None = None) -> paramiko.SSHConfig | None:
    """The parsed config; None when `path` is omitted and ~/.ssh/config does not exist."""
    explicit = path is not None
    file = Path(os.path.expanduser(str(path if explicit else DEFAULT_CONFIG)))
    if not explicit and not file.exists():
        return None
    try:
        return _parse(str(file), file.stat().st_mtime_ns)
    except FileNotFoundError:
        raise MailcfgError(f"{file}: ssh config not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MailcfgError(f"{file}: cannot read ssh config: {getattr(exc, 'strerror', None) or exc}") from None
    except Exception as exc:  # paramiko's ConfigParseError and friends
        raise MailcfgError(f"{file}: bad ssh config: {one_line(exc)}") from None


class _Config(paramiko.SSHConfig):
    """paramiko's parser, leaving ProxyCommand's tokens alone: paramiko would substitute the host
    name into the shell command unquoted."""

    TOKENS_BY_CONFIG_KEY: ClassVar[dict[str, list[str]]] = {
        k: v for k, v in paramiko.SSHConfig.TOKENS_BY_CONFIG_KEY.items() if k != "proxycommand"}


@functools.lru_cache(maxsize=8)
def _parse(file: str, _mtime_ns: int) -> paramiko.SSHConfig:
    """Parsed once per file and version: every bare host name and every jump hop asks again."""
    with open(file, encoding="utf-8") as f:
        text = f.read()
    if "exec" in text.lower():  # a `Match exec` runs its command through invoke (mailcfg.remote.sshlib)
        load_invoke()
    return _Config.from_text(text)


def resolve(name: str, config: str | os.PathLike | None = None) -> HostSpec:
    """The `HostSpec` for `name` (`[user@]host`) according to `config` (a path, or None for
    ~/.ssh/config). A name no `Host` block matches gives the name itself on port 22."""
    user, at, host = name.rpartition("@")
    problem = name_problem(host, user if at else None)
    if problem is not None:  # repr: the name may hold anything, newlines and escapes included
        raise MailcfgError(f"{name!r}: not a host name: {problem}")
    parsed = load(config)
    where = str(config or DEFAULT_CONFIG)
    if parsed is None:
        return HostSpec(name=name, hostname=host, user=user or None)
    try:
        entry = parsed.lookup(host)
    except Exception as exc:  # e.g. "Match exec" without the optional `invoke` package
        raise MailcfgError(f"{where}: cannot resolve {host}: {one_line(exc)}") from None
    port_text = str(entry.get("port", "22"))
    try:
        port = int(port_text)
        if not 0 < port < 65536:
            raise ValueError(port_text)
    except ValueError:
        raise MailcfgError(f"{where}: Port {port_text!r} for {host} is not a port number") from None
    return HostSpec(
        name=name,
        hostname=entry.get("hostname") or host,
        port=port,
        user=user or entry.get("user") or None,
        identity=_identity(entry.get("identityfile") or []),
        proxy_jump=_unless_none(entry.get("proxyjump")),
        proxy_command=_unless_none(entry.get("proxycommand")),
        host_key_alias=entry.get("hostkeyalias") or None,
        alias=host,
        user_known_hosts=_files(entry.get("userknownhostsfile")),
        global_known_hosts=_files(entry.get("globalknownhostsfile")),
        revoked_host_keys=_revoked(entry.get("revokedhostkeys")),
    )


def complete(spec: HostSpec, config: str | os.PathLike | None = None) -> HostSpec:
    """`spec` (an ssh:// URL or an inventory host) with what ssh_config says for its host name in the
    settings its source left open, and the config's HostName: what ssh does with a host and
    options given on its command line."""
    if not spec.unset:
        return spec
    found = resolve(spec.hostname, config)
    changes = {name: getattr(found, name) for name in spec.unset & CONFIGURABLE if getattr(found, name) is not None}
    return dataclasses.replace(spec, hostname=found.hostname, alias=spec.alias or spec.hostname, unset=frozenset(),
                               **changes)


def _revoked(value: str | None) -> Path | None:
    return None if value is None or value.strip().lower() == "none" else Path(os.path.expanduser(value.strip()))


def _files(value: str | None) -> tuple[Path, ...] | None:
    """UserKnownHostsFile / GlobalKnownHostsFile: whitespace-separated paths, `none` for none."""
    if value is None:
        return None
    return () if value.strip().lower() == "none" else expand(value.split())


def _identity(files: list[str]) -> Path | None:
    """The first IdentityFile that exists (OpenSSH skips missing ones silently), or None."""
    for text in files:
        path = Path(os.path.expanduser(text))
        if path.is_file():
            return path
    return None


def _unless_none(value: str | None) -> str | None:
    return None if value is None or value.strip().lower() == "none" or not value.strip() else value.strip()

