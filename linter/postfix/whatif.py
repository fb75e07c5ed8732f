"""A service's parameters as they would be with some values changed: for a fix to ask the decision
engine, before it writes anything, what its change would do to a given client."""

from __future__ import annotations

import dataclasses

from mailcfg.findings import Location
from mailcfg.outsiders import FOREIGN
from mailcfg.postfix.effective import ParameterView
from mailcfg.postfix.engine import decide_on
from mailcfg.postfix.maincf import Parameter
from mailcfg.postfix.mastercf import Override
from mailcfg.postfix.mynetworks import network
from mailcfg.postfix.probes import OUTSIDE_SENDER, OUTSIDE_V4, VICTIM, access_keys, final_domains, user_probe
from mailcfg.postfix.restrictions import IMPLICIT_ACCESS, lists_and_classes, parse
from mailcfg.postfix.tables import parse_ref
from mailcfg.postfix.tls import offers_tls
from mailcfg.transaction import Probe, literal_helo


class WhatIf(ParameterView):
    """`view` with `values` (parameter -> unexpanded value) in place of what the files say."""

    def __init__(self, view: ParameterView, values: dict[str, str]) -> None:
        super().__init__(view.config, view.service)
        self.values = values

    def origin(self, name: str) -> Override | Parameter | None:
        if name in self.values:
            return Override(name, self.values[name], Location(), Location())
        return super().origin(name)


def trusted_clients(view: ParameterView) -> list[Probe]:
    """Clients the admin chose to trust - one per mynetworks entry (up to 8), each address a client
    table singles out inside mynetworks, and a logged-in user where the service offers AUTH - each
    sending to a foreign domain and to the host's postmaster."""
    service = view.service.name if view.service else None
    words = []
    for word in view.items("mynetworks"):  # a table in mynetworks lists networks too
        ref = parse_ref(word)
        words += [e.key for e in view.config.table(ref).entries] if ref is not None else [word]
    nets = [n for n in map(network, words) if n is not None]
    # one client per mynetworks entry, and each one a client table singles out inside mynetworks
    addresses = [str(next(iter(n.hosts()), n.network_address)) for n in nets[:8]]
    for name in lists_and_classes(view):
        for item in parse(view, name):
            if item.table is not None and item.name in ("check_client_access", "check_client_a_access"):
                for entry in view.config.table(item.table).entries:
                    key = network(entry.key)
                    if key is not None and any(key.version == n.version and key.subnet_of(n) for n in nets):
                        addresses.append(str(next(iter(key.hosts()), key.network_address)))
    clients = [Probe(a, VICTIM, "someone@example.net", literal_helo(a), service=service)
               for a in dict.fromkeys(addresses)]
    if view.yes("smtpd_sasl_auth_enable"):
        clients.append(user_probe(view, service))
    local = f"postmaster@{view.get('myhostname')}"
    return clients + [dataclasses.replace(p, rcpt=local) for p in clients]


def named_identities(view: ParameterView) -> list[tuple[str, Probe]]:
    """(who, probe) for each identity the access tables of the service's lists name - a HELO name,
    a sender, a client address or name, a recipient - as a client on the internet that sends with
    it to a foreign domain (or to the recipient the table names)."""
    service = view.service.name if view.service else None
    base = Probe(OUTSIDE_V4[0], VICTIM, OUTSIDE_SENDER, literal_helo(OUTSIDE_V4[0]), tls=offers_tls(view),
                 service=service)
    domain = next(iter(final_domains(view)), "example.com")
    named = [(f"HELO {k}", dataclasses.replace(base, helo=k.lstrip(".")))
             for k in access_keys(view, "check_helo_access")]
    for key in access_keys(view, "check_sender_access"):
        sender = key + domain if key.endswith("@") else key if "@" in key else "" if key == "<>" else \
            f"someone@{key.lstrip('.')}"
        named.append((f"sender <{sender}>", dataclasses.replace(base, sender=sender)))
    for key in _client_keys(view):
        net = network(key)
        if net is not None:
            address = str(next(iter(net.hosts()), net.network_address))
            named.append((f"client {key}", dataclasses.replace(base, client=address, helo=literal_helo(address))))
        elif "." in key:
            name = key.lstrip(".")
            named.append((f"client {key}", dataclasses.replace(base, client_name=name, helo=name)))
    for key in access_keys(view, "check_recipient_access"):
        rcpt = key + FOREIGN if key.endswith("@") else key if "@" in key else f"someone@{key.lstrip('.')}"
        named.append((f"recipient <{rcpt}>", dataclasses.replace(base, rcpt=rcpt)))
    first: dict[Probe, str] = {}
    for who, probe in named:
        first.setdefault(probe, who)
    return [(who, probe) for probe, who in first.items()]


def _client_keys(view: ParameterView) -> list[str]:
    """Keys of the client access tables (cidr ones too) in the service's lists."""
    keys = []
    for name in lists_and_classes(view):
        for item in parse(view, name):
            table = item.table
            client = item.name == "check_client_access" or (
                item.kind == "table" and IMPLICIT_ACCESS.get(name) == "check_client_access")
            if table is not None and client:
                keys += [e.key for e in view.config.table(table).entries if e.key not in ("if", "endif")]
    return keys


def losers(view: ParameterView, values: dict[str, str]) -> list[str]:
    """The named identities (`named_identities`) that relay now and would not with `values`."""
    named = dict((p, who) for who, p in named_identities(view))
    now = {p: a for p, a in answers(view, list(named)).items() if a == "accept"}
    return [named[p] for p, _was in differences(view, values, now)]


def answers(view: ParameterView, probes: list[Probe]) -> dict[Probe, str]:
    """What the service answers each probe now (accept, reject, defer, error)."""
    return {p: decide_on(view, p).action for p in probes}


def differences(view: ParameterView, values: dict[str, str], now: dict[Probe, str]) -> list[tuple[Probe, str]]:
    """(probe, its answer now) for the probes of `now` whose answer `values` would change."""
    changed = WhatIf(view, values)
    return [(p, action) for p, action in now.items() if decide_on(changed, p).action != action]
