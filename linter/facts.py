"""Facts about a host (.mailcfg-host/facts.json), checked key by key: a snapshot may come from anyone.

Every key is optional; a key of the wrong type is refused with one line naming the file and the key,
never guessed around. Keys this version does not know are ignored (newer fetches may add some).
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailcfg.errors import MailcfgError
from mailcfg.roles import ROLES
from mailcfg.source import read_text


@dataclass(frozen=True)
class Interface:
    """One address of the host, with its prefix length."""

    address: str
    prefix: int
    name: str = ""

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_interface(f"{self.address}/{self.prefix}").network


@dataclass
class Facts:
    """What the snapshot says of the host itself (.mailcfg-host/facts.json)."""

    hostname: str | None = None
    interfaces: list[Interface] | None = None  # None: not collected
    versions: dict[str, str] = field(default_factory=dict)  # system -> version text
    collected: str | None = None
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (host path, reason) the fetch could not read
    roles: list[str] | None = None  # what the host is for (mailcfg.roles); None: not said
    asked: frozenset[str] | None = None  # host paths a fetch asked for, there or not; None: not recorded
    redacted: list[tuple[str, int, str]] = field(default_factory=list)  # (path, line, setting) a fetch redacted

    @property
    def redacted_paths(self) -> frozenset[str]:
        """Files whose inline credentials the fetch replaced: never written back to the host."""
        return frozenset(path for path, _line, _setting in self.redacted)


def read_facts(real: Path, shown: str) -> Facts:
    """The facts in file `real`, which messages call `shown`."""
    try:
        data = json.loads(read_text(real))
    except json.JSONDecodeError as exc:
        raise MailcfgError(f"{shown}, line {exc.lineno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise MailcfgError(f"{shown}: JSON nested too deeply") from None
    except MailcfgError as exc:
        raise MailcfgError(f"{shown}: {str(exc).split(': ', 1)[-1]}") from None
    if not isinstance(data, dict):
        raise MailcfgError(f"{shown}: expected a JSON object")
    return _Checker(shown, data).facts()


@dataclass
class _Checker:
    """Checks facts.json's values as it is read, naming the file in an error."""

    shown: str
    data: dict[str, Any]

    def bad(self, key: str, what: str) -> MailcfgError:
        return MailcfgError(f"{self.shown}: \"{key}\" must be {what}")

    def text(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, str):
            raise self.bad(key, "a string")
        return value

    def items(self, key: str, what: str) -> list[dict[str, Any]] | None:
        value = self.data.get(key)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, dict) for v in value)):
            raise self.bad(key, f"a list of objects ({what})")
        return value

    def facts(self) -> Facts:
        return Facts(self.text("hostname"), self.interfaces(), self.versions(), self.text("collected"),
                     self.unreadable(), self.roles(), self.asked(), self.redacted())

    def interfaces(self) -> list[Interface] | None:
        items = self.items("addresses", '"address", "prefix", "interface"')
        if items is None:
            return None
        interfaces = []
        for item in items:
            address, prefix, name = item.get("address"), item.get("prefix"), item.get("interface", "")
            try:
                if not isinstance(address, str) or type(prefix) is not int or not isinstance(name, str):
                    raise TypeError
                iface = Interface(address, prefix, name)
                iface.network  # noqa: B018 - validates address and prefix
            except (TypeError, ValueError):
                raise self.bad("addresses", "a list of {\"address\": IP, \"prefix\": length, \"interface\": "
                               "name}") from None
            interfaces.append(iface)
        return interfaces

    def versions(self) -> dict[str, str]:
        systems = self.data.get("systems")
        systems = {} if systems is None else systems
        if not isinstance(systems, dict) or not all(
                isinstance(info, dict) and isinstance(info.get("version", ""), str) for info in systems.values()):
            raise self.bad("systems", "an object of {\"version\": text} objects")
        return {name: info["version"] for name, info in systems.items() if info.get("version")}

    def unreadable(self) -> list[tuple[str, str]]:
        items = self.items("unreadable", '"path", "reason"') or []
        if not all(isinstance(u.get("path"), str) and isinstance(u.get("reason", ""), str) for u in items):
            raise self.bad("unreadable", "a list of {\"path\": text, \"reason\": text}")
        return [(u["path"], u.get("reason", "")) for u in items if u["path"]]

    def redacted(self) -> list[tuple[str, int, str]]:
        items = self.items("redacted", '"path", "line", "setting"') or []
        if not all(isinstance(r.get("path"), str) and type(r.get("line")) is int and isinstance(r.get("setting"), str)
                   for r in items):
            raise self.bad("redacted", "a list of {\"path\": text, \"line\": number, \"setting\": text}")
        return [(r["path"], r["line"], r["setting"]) for r in items]

    def asked(self) -> frozenset[str] | None:
        paths = self.data.get("asked")
        if paths is not None and (not isinstance(paths, list) or not all(isinstance(p, str) for p in paths)):
            raise self.bad("asked", "a list of host paths")
        return frozenset(paths) if paths is not None else None

    def roles(self) -> list[str] | None:
        roles = self.data.get("roles")
        if roles is not None and (not isinstance(roles, list) or any(r not in ROLES for r in roles)):
            raise self.bad("roles", f"a list of {', '.join(ROLES)}")
        return roles
