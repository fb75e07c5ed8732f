"""How dangerous it is to trust a network to relay: the judgement mynetworks and Exim's
relay_from_hosts share (thresholds documented on postfix-mynetworks-too-wide's page)."""

from __future__ import annotations

import ipaddress

from mailcfg.findings import Severity

# Documented thresholds (see the rule's doc page): public space is never trusted in blocks
# wider than PUBLIC_MAX; any range wider than ANY_MAX (private ones included) is a warning.
PUBLIC_MAX = {4: 24, 6: 48}
ANY_MAX = {4: 16, 6: 32}
# Address space that is not reachable from the Internet. Documentation ranges (192.0.2.0/24, ...)
# count as public here: in examples they stand for public addresses.
NON_PUBLIC = [ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "::1/128", "fc00::/7", "fe80::/10", "::ffff:127.0.0.0/104")]


# each as (version, prefix length, network bits): subnet_of in integer arithmetic, as lists can be long
_NON_PUBLIC_BITS = [(n.version, n.prefixlen, int(n.network_address) >> (n.max_prefixlen - n.prefixlen))
                    for n in NON_PUBLIC]


def _non_public(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    value = int(net.network_address)
    return any(net.version == version and net.prefixlen >= prefix and value >> (net.max_prefixlen - prefix) == bits
               for version, prefix, bits in _NON_PUBLIC_BITS)


def judge(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[Severity, str] | None:
    """Why trusting `net` is dangerous, or None."""
    v = net.version
    private = _non_public(net)
    if net.prefixlen == 0:
        return Severity.ERROR, "the whole Internet"
    if not private and net.prefixlen < PUBLIC_MAX[v]:
        return Severity.ERROR, f"{_size(net)} of public address space"
    if not private and net.prefixlen < net.max_prefixlen:
        return Severity.WARNING, f"{_size(net)} of public address space"
    if private and net.prefixlen < ANY_MAX[v] and not net.is_loopback:
        return Severity.WARNING, f"{_size(net)} — every host on those private networks, " \
            "including anything behind NAT or a container proxy"
    return None


def _size(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    if net.version == 4:
        return f"{net.num_addresses:,} addresses"
    return f"a /{net.prefixlen} block"
