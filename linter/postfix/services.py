"""Naming smtpd services and pointing at the setting that decides something for one of them."""

from __future__ import annotations

from mailcfg.findings import Location
from mailcfg.postfix.config import PostfixConfig
from mailcfg.postfix.effective import ParameterView
from mailcfg.postfix.mastercf import Service

SUBMISSION_PORTS = (587, 465)


def views(config: PostfixConfig) -> list[tuple[Service, ParameterView]]:
    return [(s, ParameterView(config, s)) for s in config.smtpd_services]


def is_submission(service: Service) -> bool:
    """A mail submission service reachable from other hosts (587 or 465)."""
    return service.type == "inet" and service.port in SUBMISSION_PORTS and not service.loopback_only


def where(view: ParameterView, *names: str) -> Location:
    """The first of `names` that is set for this service (a `-o` or main.cf), else the service line."""
    for name in names:
        location = view.location(name)
        if location is not None:
            return location
    assert view.service is not None
    return view.service.location


def describe(service: Service) -> str:
    port = service.port
    return f"service {service.name!r}" + (f" (port {port})" if port and str(port) != service.name else "")
