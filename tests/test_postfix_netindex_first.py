"""NetIndex.first finds the first network holding an address without collecting them all: it must give
the first position holding() gives (every network holding the address, sorted)."""

from __future__ import annotations

import ipaddress
import random

from mailcfg.ipaddr import address
from mailcfg.postfix.netindex import NetIndex


def _random_address(rng: random.Random) -> int | ipaddress.IPv6Address:
    """Mostly IPv4 in three /8s (so that networks overlap), some IPv6 in 2001:db8::/32."""
    if rng.random() < 0.8:
        return rng.choice([10, 192, 203]) << 24 | rng.getrandbits(24)
    return ipaddress.IPv6Address(0x20010DB8 << 96 | rng.getrandbits(96))


def test_first_is_the_first_of_every_network_holding_the_address():
    rng = random.Random(7)
    for _ in range(50):
        index = NetIndex()
        for position in range(rng.randrange(1, 40)):
            start = _random_address(rng)
            prefix = rng.randrange(8, 33) if isinstance(start, int) else rng.randrange(16, 129)
            index.add(position, ipaddress.ip_network((start, prefix), strict=False))
        for _ in range(100):
            addr = address(str(ipaddress.ip_address(_random_address(rng))))
            held = index.holding(addr)
            assert index.first(addr) == (held[0] if held else None)
