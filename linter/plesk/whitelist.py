"""Plesk's relay white list: networks that relay without authorization ([V] Plesk help, KB 114143) and
skip Plesk's limits on outgoing mail ([V] Plesk Onyx guide, "Protection from Outbound Spam")."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from mailcfg.errors import MailcfgError
from mailcfg.findings import Location
from mailcfg.plesk.rows import Row

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Entry:
    """One network of Plesk's relay whitelist."""

    text: str  # as Plesk shows it: address/prefix
    network: Network
    location: Location


def entries(rows: list[Row]) -> list[Entry]:
    """One entry per `address<TAB>prefix` row (also `address/prefix` alone, and rows of smtp_poplocks with
    their lock time, where those with one are POP-before-SMTP locks, not the white list [I]); a row that
    names no network is bad input."""
    found = []
    for row in rows:
        address, prefix, lock_time = (c.strip() for c in row.cells)
        if lock_time and lock_time.upper() != "NULL":
            continue
        text = f"{address}/{prefix}" if prefix else address  # a bare address is one host
        try:
            net = ipaddress.ip_network(text, strict=False)  # Plesk shows 127.0.0.1/8 for 127.0.0.0/8
        except ValueError:
            where = row.location
            raise MailcfgError(f"{where.file}, line {where.line}: {text!r} is no network") from None
        found.append(Entry(text, net, row.location))
    return found
