"""mynetworks: the clients Postfix trusts to relay without authenticating."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from mailcfg.asciidigits import digits
from mailcfg.edits import Edit
from mailcfg.findings import Finding, Severity
from mailcfg.fix import UNSAFE, Fix
from mailcfg.postfix.config import PostfixConfig
from mailcfg.postfix.edit import RELOAD, holder, set_for
from mailcfg.postfix.listedit import list_value, with_item_before
from mailcfg.postfix.mynetworks import network
from mailcfg.postfix.restrictions import lists_and_classes, parse
from mailcfg.postfix.services import describe, view_of, views
from mailcfg.postfix.tokens import split
from mailcfg.rule import Rule
from mailcfg.trust import judge

MYNETWORKS_TOO_WIDE = Rule(
    "postfix-mynetworks-too-wide", "mynetworks trusts public address space or a very wide range",
    Severity.ERROR, ("relay",), "postfix")

def _listed(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """The network a mynetworks word trusts (not a `!` exclusion, a host name or a table)."""
    if text.startswith("!") or ("/" not in text and not digits(text.replace(".", ""))):
        return None
    return network(text)


def _networks(value: str) -> Iterator[tuple[int, ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    for tok in split(value):
        net = _listed(tok.text)
        if net is not None:
            yield tok.start, net


@MYNETWORKS_TOO_WIDE.checker
def check(config: PostfixConfig) -> Iterator[Finding]:
    seen = set()
    for service, view in views(config):
        if not _trusts_mynetworks(view):
            continue
        origin = view.origin("mynetworks")
        value = view.get("mynetworks")
        for offset, net in _networks(value):
            verdict = judge(net)
            if verdict is None:
                continue
            severity, why = verdict
            if origin is not None:
                raw = origin.value
                # the word's place in the value as written (one search per word only when $names changed it)
                at = offset if raw == value else raw.find(value[offset:offset + 100].split()[0].rstrip(","))
                location = origin.at(at) if at >= 0 else origin.location
                how = f"mynetworks lists {net}"
            else:
                location = view.location("mynetworks_style") or service.location
                style = view.get("mynetworks_style")
                how = f"mynetworks is not set, and mynetworks_style = {style} computes {net}"
            key = (location, str(net))
            if key in seen:
                continue
            seen.add(key)
            yield MYNETWORKS_TOO_WIDE.finding(
                f"{how}: {why} may relay through {describe(service)} without authenticating "
                f"(permit_mynetworks)", location, service=service.name, severity=severity)


def _trusts_mynetworks(view) -> bool:
    """permit_mynetworks appears in a relay-control list or restriction class of this service."""
    for name in lists_and_classes(view, ("smtpd_relay_restrictions", "smtpd_recipient_restrictions")):
        if any(item.name == "permit_mynetworks" for item in parse(view, name)):
            return True
    return False




LOOPBACK = ["127.0.0.0/8", "[::ffff:127.0.0.0]/104", "[::1]/128"]


@MYNETWORKS_TOO_WIDE.fixer
def fix(config: PostfixConfig, finding: Finding) -> Fix | None:
    """The ranges judged too wide removed from mynetworks, the rest kept (loopback when nothing is
    left); a computed mynetworks narrowed with mynetworks_style = host. Unsafe: clients in the
    removed ranges must authenticate from now on."""
    # the same for every finding of the service: worked out once (a long mynetworks has many findings)
    return config.remember(("mynetworks-too-wide-fix", finding.service), lambda: _fix(config, finding.service))


def _fix(config: PostfixConfig, service: str | None) -> Fix | None:
    view = view_of(config, service)
    if view is None:
        return None
    name, origin, value = holder(view, "mynetworks")
    if origin is None:
        if view.get("mynetworks_style").strip().lower() == "host":
            return None
        return Fix(MYNETWORKS_TOO_WIDE.id, UNSAFE, "mynetworks_style = host: only this host's own addresses are "
                   "trusted", (set_for(view, "mynetworks_style", ["host"]),), RELOAD)
    kept, dropped = [], []
    for tok in split(value):
        net = _listed(tok.text)
        (dropped if net is not None and judge(net) is not None else kept).append(tok.text)
    if not dropped:
        return None
    if not any(_listed(w) for w in kept):
        kept = LOOPBACK + kept
    edits = [set_for(view, "mynetworks", kept), *_sasl_beside_mynetworks(config)]
    return Fix(MYNETWORKS_TOO_WIDE.id, UNSAFE, f"{name}: {', '.join(dropped)} no longer trusted to relay (clients "
               f"there must authenticate)", tuple(dict.fromkeys(edits)), RELOAD)


def _sasl_beside_mynetworks(config: PostfixConfig) -> list[Edit]:
    """Where a service offers AUTH and a list trusts mynetworks before logged-in clients (or not
    them at all), the clients who must authenticate from now on would gain nothing by it:
    permit_sasl_authenticated goes right after permit_mynetworks."""
    edits = []
    for _service, view in views(config):
        if not view.yes("smtpd_sasl_auth_enable"):
            continue
        for name in lists_and_classes(view):
            lv = list_value(view, name)
            names = [i.name for i in lv.items]
            if "permit_mynetworks" in names:
                words = with_item_before(lv.items, "permit_sasl_authenticated", names.index("permit_mynetworks") + 1)
                if words is not None:
                    edits.append(lv.set(words))
    return edits
