"""Where the Postfix configuration disagrees with what Plesk's settings make of it.

Plesk writes main.cf and master.cf from its settings and writes them again on updates and on
`plesk repair mail` ([V-3p] plesk-postfix.md §1.1(d), [V] §4.1 of plesk.md), so a disagreement is a
hand edit that will be lost, or settings Plesk never applied. What is compared, with its tag:
- relay mode auth with SMTP AUTH on: smtpd on port 25 offers AUTH (smtpd_sasl_auth_enable = yes) and
  permits logged-in clients (permit_sasl_authenticated) before refusing relaying ([V-3p] Plesk's
  main.cf in that mode, plesk-postfix.md §1.2);
- the white list and mynetworks hold the same networks ([I, fairly strong] Plesk writes the white list
  into mynetworks, §1.3); loopback is left out of the comparison, as how Plesk writes it is [NF], and a
  mynetworks that is not set (Postfix computes one) or names a table is not compared (plesk-undecided
  says so where the white list holds more than loopback);
- message submission on: an smtpd listens on port 587 ([V] the GUI's "through the port 587").
The open and closed modes' Postfix shapes are [NF]: they are not compared.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from mailcfg.findings import Location
from mailcfg.plesk import layout
from mailcfg.plesk.config import PleskConfig
from mailcfg.plesk.postfixside import Smtpd
from mailcfg.plesk.whitelist import Network

RELAY_LISTS = ("smtpd_relay_restrictions", "smtpd_recipient_restrictions")


@dataclass(frozen=True)
class Drift:
    """A setting on which Plesk's panel and the Postfix configuration disagree."""

    plesk: str  # what Plesk's settings say, with where
    postfix: str  # what the Postfix configuration does, with where
    location: Location  # the Postfix side where it is set, else Plesk's


def _where(location: Location | None) -> str:
    if location is None or location.file is None:
        return "Postfix's default"
    return f"{location.file}:{location.line}" if location.line else location.file


def drifts(config: PleskConfig) -> list[Drift]:
    settings, postfix = config.settings, config.postfix
    if settings is None or postfix is None:
        return []
    found: list[Drift] = []
    smtp = postfix.smtpd_on_port(25)
    if smtp is not None and settings.smtp_auth:
        found += _auth(config, smtp)
    if smtp is not None and config.whitelist is not None:
        found += _networks(config, smtp)
    if settings.submission and postfix.smtpd_on_port(587) is None:
        at = settings.location("message_submission") or Location(layout.SETTINGS)
        found.append(Drift(f"message submission on ({_where(at)})",
                           "no smtpd service on port 587 in master.cf", at))
    return found


def _auth(config: PleskConfig, smtp: Smtpd) -> list[Drift]:
    assert config.settings is not None
    at = config.settings.location("relay") or Location(layout.SETTINGS)
    plesk = f"relay mode auth with SMTP AUTH on ({_where(at)})"
    found = []
    if not smtp.enabled("smtpd_sasl_auth_enable"):
        where = smtp.where("smtpd_sasl_auth_enable")
        found.append(Drift(plesk, f"smtpd_sasl_auth_enable = {smtp.value('smtpd_sasl_auth_enable') or '(empty)'} "
                           f"for service {smtp.name!r} ({_where(where)})", where or at))
    if "permit_sasl_authenticated" not in smtp.restrictions(*RELAY_LISTS):
        where = smtp.where("smtpd_relay_restrictions") or smtp.where("smtpd_recipient_restrictions")
        found.append(Drift(plesk, f"no permit_sasl_authenticated in smtpd_relay_restrictions or "
                           f"smtpd_recipient_restrictions for service {smtp.name!r} ({_where(where)})", where or at))
    return found


def _mynetworks(value: str) -> set[Network] | None:
    """The networks of a mynetworks value; None when it names something else (a host name, a table, a
    file, an exclusion) that cannot be compared offline."""
    nets = set()
    for word in value.replace(",", " ").split():
        text = word.replace("[", "").replace("]", "")
        try:
            nets.add(ipaddress.ip_network(text, strict=False))
        except ValueError:
            return None
    return nets


def uncompared(config: PleskConfig) -> tuple[str, Location] | None:
    """Why a white list holding more than loopback is not compared with mynetworks (and where), if it is not."""
    postfix, white = config.postfix, config.whitelist
    smtp = postfix.smtpd_on_port(25) if postfix is not None and config.settings is not None else None
    if smtp is None or not any(not e.network.is_loopback for e in white or ()):
        return None
    where, value = smtp.where("mynetworks"), smtp.value("mynetworks")
    if where is None:
        return "mynetworks is not set: Postfix computes it from the host's interfaces", Location(layout.WHITELIST)
    if _mynetworks(value) is None:
        return f"mynetworks = {value.strip()} names a table, a host name or an exclusion ({_where(where)})", where
    return None


def _networks(config: PleskConfig, smtp: Smtpd) -> list[Drift]:
    assert config.whitelist is not None
    where = smtp.where("mynetworks")
    value = smtp.value("mynetworks")
    trusted = _mynetworks(value)
    if trusted is None or where is None:  # what Postfix computes when none is set is not Plesk's list
        return []
    listed = {e.network for e in config.whitelist}
    white = {n for n in listed if not n.is_loopback}
    ours = {n for n in trusted if not n.is_loopback}
    if white == ours:
        return []
    shown = ", ".join(sorted(e.text for e in config.whitelist if not e.network.is_loopback)) or "nothing"
    postfix = f"mynetworks = {value.strip() or '(empty)'} ({_where(where)})"
    return [Drift(f"the white list holds {shown} besides loopback ({layout.WHITELIST})", postfix, where)]
