"""A host list reads the client's address as ipaddress does, whichever way it reads a dotted quad."""

from __future__ import annotations

import ipaddress
import random

from mailcfg.exim import match


def _as_ipaddress_reads(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    return addr.ipv4_mapped if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped else addr


def test_addresses_read_as_ipaddress_reads_them():
    rng = random.Random(7)
    texts = ["1.2.3.4", "01.2.3.4", "1.2.3.04", "1.2.3", "1.2.3.4.5", "1..2.3", "", " 1.2.3.4", "1.2.3.4 ",
             "1.2.3.4\n", "1.2.3.4\0", "\udcff", "1.2.3.256", "255.255.255.255", "0.0.0.0", "0x1.2.3.4",
             "१.2.3.4", "1.2.3.4%eth0", "::ffff:192.0.2.1", "2001:db8::1", "::1", "[1.2.3.4]"]
    texts += ["".join(rng.choice("0123456789.") for _ in range(rng.randrange(1, 17))) for _ in range(20000)]
    texts += [".".join(str(rng.randrange(300)) for _ in range(4)) for _ in range(2000)]
    for text in texts:
        match._address.cache_clear()
        found = match._address(text)
        assert found == _as_ipaddress_reads(text) and type(found) is type(_as_ipaddress_reads(text)), repr(text)
