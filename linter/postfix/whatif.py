"""A service's parameters as they would be with some values changed: for a fix to ask the decision
engine, before it writes anything, what its change would do to a given client."""

from __future__ import annotations

import ipaddress

from mailcfg.findings import Location
from mailcfg.postfix.effective import ParameterView
from mailcfg.postfix.engine import decide_on
from mailcfg.postfix.maincf import Parameter
from mailcfg.postfix.mastercf import Override
from mailcfg.postfix.probe import Probe, literal_helo
from mailcfg.postfix.probes import OUTSIDE_V4, VICTIM, user_login
from mailcfg.postfix.tls import has_certificate, tls_mode


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
    """Clients the admin chose to let relay, sending to a foreign domain: one from mynetworks, and a
    logged-in user where the service offers AUTH."""
    probes = []
    for word in view.items("mynetworks"):
        try:
            net = ipaddress.ip_network(word.strip("[]").replace("]/", "/"), strict=False)
        except ValueError:
            continue
        client = str(next(iter(net.hosts()), net.network_address))
        probes.append(Probe(client, VICTIM, "someone@example.net", literal_helo(client),
                            service=view.service.name if view.service else None))
        break
    if view.yes("smtpd_sasl_auth_enable"):
        login, sender = user_login(view)
        probes.append(Probe(OUTSIDE_V4[0], VICTIM, sender, literal_helo(OUTSIDE_V4[0]), sasl_user=login,
                            tls=tls_mode(view) != "none" and has_certificate(view),
                            service=view.service.name if view.service else None))
    return probes


def still_relay(view: ParameterView, values: dict[str, str], probes: list[Probe]) -> list[Probe]:
    """Of `probes` that relay now, those that would not with `values`."""
    changed = WhatIf(view, values)
    return [p for p in probes if decide_on(view, p).action == "accept" and decide_on(changed, p).action != "accept"]
