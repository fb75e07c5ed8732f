"""A service's parameters as they would be with some values changed: for a fix to ask the decision
engine, before it writes anything, what its change would do to a given client."""

from __future__ import annotations

import dataclasses

from mailcfg.findings import Location
from mailcfg.postfix.effective import ParameterView
from mailcfg.postfix.engine import decide_on
from mailcfg.postfix.maincf import Parameter
from mailcfg.postfix.mastercf import Override
from mailcfg.postfix.mynetworks import network
from mailcfg.postfix.probe import Probe, literal_helo
from mailcfg.postfix.probes import VICTIM, user_probe
from mailcfg.postfix.restrictions import lists_and_classes, parse
from mailcfg.postfix.tables import parse_ref


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


def answers(view: ParameterView, probes: list[Probe]) -> dict[Probe, str]:
    """What the service answers each probe now (accept, reject, defer, error)."""
    return {p: decide_on(view, p).action for p in probes}


def differences(view: ParameterView, values: dict[str, str], now: dict[Probe, str]) -> list[tuple[Probe, str]]:
    """(probe, its answer now) for the probes of `now` whose answer `values` would change."""
    changed = WhatIf(view, values)
    return [(p, action) for p, action in now.items() if decide_on(changed, p).action != action]
