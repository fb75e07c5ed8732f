"""Naming smtpd services and pointing at the setting that decides something for one of them."""

from __future__ import annotations

from mailcfg import ipaddr
from mailcfg.findings import Location
from mailcfg.postfix.config import PostfixConfig
from mailcfg.postfix.effective import ParameterView
from mailcfg.postfix.mastercf import Service

SUBMISSION_PORTS = (587, 465)


def views(config: PostfixConfig) -> list[tuple[Service, ParameterView]]:
    """Each smtpd service with its parameters: one view per service and configuration, so what a view
    has worked out (expanded values, parsed lists, the startup check) serves every rule and fix."""
    return config.remember("views", lambda: [(s, ParameterView(config, s)) for s in config.smtpd_services])


def main_view(config: PostfixConfig) -> ParameterView:
    """main.cf's parameters alone, as postconf shows them (one per configuration)."""
    return config.remember("main-view", lambda: ParameterView(config))


def view_of(config: PostfixConfig, name: str | None) -> ParameterView | None:
    """The parameters of smtpd service `name` (a finding's service); main.cf alone for None."""
    if name is None:
        return main_view(config)
    return next((v for s, v in views(config) if s.name == name), None)


def front_door(config: PostfixConfig, service: Service) -> Service | None:
    """The inet service clients connect to for this smtpd: itself, or the postscreen in front of a
    `pass` smtpd (postscreen hands the connections it lets through to it)."""
    if service.type == "inet":
        return service
    if service.type == "pass":
        return next((s for s in config.master.effective if s.type == "inet" and s.daemon == "postscreen"), None)
    return None


def port(config: PostfixConfig, service: Service) -> int | None:
    door = front_door(config, service)
    return door.port if door else None


def public(service: Service, view: ParameterView) -> bool:
    """An smtpd reachable on some non-loopback address (directly or behind postscreen)."""
    door = front_door(view.config, service)
    if door is None or door.loopback_only:
        return False
    if door.listen_host is not None:
        return True
    listen = [x.lower() for x in view.items("inet_interfaces")]
    return not listen or not all(x in ("loopback-only", "localhost") or _loopback(x) for x in listen)


def _loopback(text: str) -> bool:
    found = ipaddr.address(text.strip("[]"))
    return found is not None and found.is_loopback


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


def describe(service: Service, config: PostfixConfig | None = None) -> str:
    if service.type == "pass" and config is not None and (door := front_door(config, service)) is not None:
        return f"service {service.name!r} (behind postscreen on {door.name})"
    port = service.port
    return f"service {service.name!r}" + (f" (port {port})" if port and str(port) != service.name else "")
