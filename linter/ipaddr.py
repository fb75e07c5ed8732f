"""IP addresses as text is parsed into them, once per text: the same clients come back probe after probe,
in list after list (Postfix's host lists and cidr tables, a policy's probes)."""

from __future__ import annotations

import functools
import ipaddress

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=4096)
def address(text: str) -> Address | None:
    """The IP address `text` is, or None."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
