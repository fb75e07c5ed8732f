"""IP addresses as text is parsed into them, once per text: the same clients come back probe after probe,
in list after list (Postfix's host lists and cidr tables, a policy's probes)."""

from __future__ import annotations

import functools
import ipaddress
import socket

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=4096)
def address(text: str) -> Address | None:
    """The IP address `text` is, or None."""
    try:  # a dotted quad read in C: ipaddress reads it in Python at several times the cost, and a policy
        return ipaddress.IPv4Address(socket.inet_pton(socket.AF_INET, text))  # or search brings new clients
    except (OSError, ValueError):  # inet_pton takes the dotted quads ipaddress takes, no other text
        pass
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
