"""Effective parameter values for one smtpd service: its `-o` overrides over main.cf over defaults."""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from typing import Any

from mailcfg.findings import Location
from mailcfg.postfix import defaults, known
from mailcfg.postfix.config import PostfixConfig
from mailcfg.postfix.expand import compat_level, expanded
from mailcfg.postfix.maincf import Parameter
from mailcfg.postfix.mastercf import Override, Service
from mailcfg.postfix.mynetworks import LOOPBACK, compute
from mailcfg.postfix.tokens import split_list
from mailcfg.snapshot import Interface

TRUE_WORDS = ("yes", "true", "1")  # mail_conf_bool accepts yes/no (case-insensitive)


class ParameterView:
    """Parameters as one daemon sees them; `service=None` means main.cf alone (postconf)."""

    def __init__(self, config: PostfixConfig, service: Service | None = None) -> None:
        self.config = config
        self.service = service
        self._expanded: dict[str, str] = {}
        self._items: dict[str, list[str]] = {}
        self._origins: dict[str, Override | Parameter | None] = {}
        self._yes: dict[str, bool] = {}
        if type(self) is ParameterView and (service is None or not service.overrides):
            # main.cf's values alone (no `-o`): every such view of the configuration works them out once
            self._expanded, self._items, self._origins, self._yes = config.remember(
                "main.cf values", lambda: (self._expanded, self._items, self._origins, self._yes))
        self._compat: tuple[int, ...] | None = None
        self._listen: list[Interface] | None = None
        # results derived from this view alone (resolved addresses, ...); a name not yet used holds an empty
        # dict, so a memo asked for at every decision is found without making one to throw away
        self.memo: defaultdict[str, Any] = defaultdict(dict)

    def origin(self, name: str) -> Override | Parameter | None:
        """Where the value comes from: a `-o`, a main.cf line, or None for the built-in default."""
        # `self` for not yet known (None is an answer); not try/except KeyError, whose raising on the first
        # ask for each name of each view cost more than it saved on the asks after
        found = self._origins.get(name, self)
        if found is self:  # the first time: asked for again and again by every decision
            override = self.service.override(name) if self.service is not None else None
            found = self._origins[name] = override if override is not None else self.config.main.get(name)
        return found

    def location(self, name: str) -> Location | None:
        origin = self.origin(name)
        if origin is None:
            return None
        return origin.location

    def raw(self, name: str) -> str | None:
        """The unexpanded value, or None when `name` is no parameter this Postfix knows."""
        origin = self.origin(name)
        if origin is not None:
            return origin.value
        computed = self._computed_default(name)
        if computed is not None:
            return computed
        value = defaults.default(name, self.config.version)
        if value is None and (known.is_known(name, self.config.master) or name in self.config.main.last):
            return ""
        return value

    def get(self, name: str) -> str:
        value = self._expanded.get(name)
        if value is None:
            raw = self.raw(name) or ""
            value = self._expanded[name] = expanded(raw, self.raw) if "$" in raw else raw
        return value

    def items(self, name: str) -> list[str]:
        if name not in self._items:
            self._items[name] = split_list(self.get(name))
        return list(self._items[name])

    def yes(self, name: str) -> bool:
        try:
            return self._yes[name]
        except KeyError:
            found = self._yes[name] = self.get(name).strip().lower() in TRUE_WORDS
            return found

    @property
    def compat(self) -> tuple[int, ...]:
        if self._compat is None:  # asked by every decision
            self._compat = compat_level(self.get("compatibility_level"))
        return self._compat

    def _computed_default(self, name: str) -> str | None:
        facts = self.config.snapshot.facts
        if name == "myhostname":
            host = facts.hostname
            if not host:
                self.config.assume("host name unknown: $myhostname stands for 'host.invalid'")
                host = "host.invalid"
            if "." not in host:  # Postfix qualifies a bare host name with $mydomain (check_myhostname)
                domain = self.config.main.get("mydomain")
                host += "." + (self.get("mydomain") if domain is not None and domain.value else "localdomain")
            return host
        if name == "mydomain":
            host = self.get("myhostname")
            return host.split(".", 1)[1] if "." in host else "localdomain"
        if name == "mynetworks":
            return self._computed_mynetworks()
        return None

    def _computed_mynetworks(self) -> str:
        return compute(self.get("mynetworks_style").strip(), self.listen_addresses())

    def listen_addresses(self) -> list[Interface]:
        """The host's own addresses as Postfix sees them: inet_interfaces within inet_protocols."""
        if self._listen is None:  # asked for every address literal
            self._listen = self._listen_addresses()
        return list(self._listen)

    def _listen_addresses(self) -> list[Interface]:
        protocols = {p.lower() for p in split_list(self.get("inet_protocols"))}
        versions = {4, 6} if "all" in protocols else {v for v, p in ((4, "ipv4"), (6, "ipv6")) if p in protocols}
        chosen = [i for i in self._listen_interfaces() if ipaddress.ip_address(i.address).version in versions]
        # Postfix lists IPv4 addresses before IPv6 ones (inet_addr_list order by protocol).
        chosen.sort(key=lambda i: ipaddress.ip_address(i.address).version)
        return chosen

    def _listen_interfaces(self) -> list[Interface]:
        """The addresses inet_interfaces names, with their netmasks where the facts have them."""
        known = self.config.snapshot.facts.interfaces
        listen = [x.lower() for x in split_list(self.get("inet_interfaces"))]
        if listen == ["all"]:
            if known is None:
                self.config.assume("interface addresses unknown: the host's own addresses (computed "
                                   "mynetworks, [address] literals) are taken as loopback only")
                return LOOPBACK
            return known
        if listen == ["loopback-only"]:
            return LOOPBACK
        pool = (known or []) + LOOPBACK
        hosts = self._etc_hosts()
        result: list[Interface] = []
        for item in listen:
            try:
                addresses = [str(ipaddress.ip_address(item.strip("[]")))]
            except ValueError:
                addresses = hosts.get(item) or (["127.0.0.1", "::1"] if item == "localhost" else [])
            for addr in addresses:
                match = next((i for i in pool if i.address == addr), None)
                result.append(match or Interface(addr, ipaddress.ip_address(addr).max_prefixlen))
        return result

    def _etc_hosts(self) -> dict[str, list[str]]:
        """Names from the snapshot's /etc/hosts (how inet_interfaces host names resolve there), read once."""
        return self.config.remember("etc-hosts", self._read_etc_hosts)

    def _read_etc_hosts(self) -> dict[str, list[str]]:
        path = self.config.snapshot.resolve("/etc/hosts")
        names: dict[str, list[str]] = {}
        if path is None:
            return names
        for line in path.read_text(errors="replace").splitlines():
            fields = line.split("#", 1)[0].split()
            for name in fields[1:]:
                names.setdefault(name.lower(), []).append(fields[0])
        return names
