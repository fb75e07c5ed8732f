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
    # A dotted quad is read in C first: ipaddress reads one in Python at three times the cost, and a long
    # policy or the relay search brings new clients. inet_pton takes the dotted quads ipaddress takes, no
    # other text (tests/test_ipaddr.py).
    try:
        return ipaddress.IPv4Address(socket.inet_pton(socket.AF_INET, text))
    except (OSError, ValueError):
        pass
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
