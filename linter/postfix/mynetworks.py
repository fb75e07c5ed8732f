"""The default mynetworks: computed from mynetworks_style and the host's interface addresses."""

from __future__ import annotations

import ipaddress

from mailcfg.snapshot import Interface

LOOPBACK = [Interface("127.0.0.1", 8, "lo"), Interface("::1", 128, "lo")]


def network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """`10.0.0.0/8`, `[2001:db8::]/32` or a single address as a network; None for anything else."""
    try:
        return ipaddress.ip_network(text.replace("[", "").replace("]", ""), strict=False)
    except ValueError:
        return None


def compute(style: str, interfaces: list[Interface]) -> str:
    """The list Postfix builds (mynetworks.c): host, subnet or class networks, duplicates dropped."""
    networks: list[str] = []
    for iface in interfaces:
        addr = ipaddress.ip_address(iface.address)
        if style == "host":
            net = ipaddress.ip_network(f"{addr}/{addr.max_prefixlen}")
        elif style == "class" and addr.version == 4:
            first = int(addr) >> 24
            bits = 8 if first < 128 else 16 if first < 192 else 24 if first < 224 else 4
            net = ipaddress.ip_network(f"{addr}/{bits}", strict=False)
        else:  # subnet, and class for IPv6
            net = ipaddress.ip_network(f"{addr}/{iface.prefix}", strict=False)
        text = f"{net.network_address}/{net.prefixlen}" if net.version == 4 else \
            f"[{net.network_address}]/{net.prefixlen}"
        if text not in networks:
            networks.append(text)
    return " ".join(networks)
