"""Which networks of a long list hold an address, without scanning the list.

cidr tables and mynetworks-style lists are first-match lists that can hold hundreds of
thousands of networks; smtpd asks them once per client. The index files each network under its
prefix length, so one lookup costs one dict probe per prefix length in use, and it answers with
list positions so the caller keeps the list's first-match order.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from mailcfg.ipaddr import Address

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class NetIndex:
    """Networks by prefix length: the first that holds an address, found without trying each."""

    # (IP version, prefix length) -> network bits -> positions of the networks there, ascending
    _by_prefix: dict[tuple[int, int], dict[int, list[int]]] = field(default_factory=dict)

    def add(self, position: int, net: Network) -> None:
        """Positions must be added in ascending order."""
        bits = int(net.network_address) >> (net.max_prefixlen - net.prefixlen)
        self._by_prefix.setdefault((net.version, net.prefixlen), {}).setdefault(bits, []).append(position)

    def holding(self, addr: Address) -> list[int]:
        """The positions of every network that contains `addr`, ascending."""
        value, width = int(addr), addr.max_prefixlen
        found: list[int] = []
        for (version, prefix), nets in self._by_prefix.items():
            if version == addr.version:
                found += nets.get(value >> (width - prefix), ())
        return sorted(found)

    def first(self, addr: Address) -> int | None:
        """The position of the first network that contains `addr` (each prefix length's first: asked for every
        new client, without collecting and sorting them all)."""
        value, width, version = int(addr), addr.max_prefixlen, addr.version
        first = None
        for (net_version, prefix), nets in self._by_prefix.items():
            if net_version == version:
                found = nets.get(value >> (width - prefix))
                if found is not None and (first is None or found[0] < first):
                    first = found[0]
        return first
