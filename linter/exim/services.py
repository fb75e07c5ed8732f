"""Exim's services: the ports it listens on, named as master.cf names Postfix's services (services(5):
smtp, submission, submissions, else the number), so reports name both systems' services alike."""

from __future__ import annotations

from mailcfg.asciidigits import digits

SERVICE_PORTS = {"smtp": 25, "submission": 587, "submissions": 465, "smtps": 465, "ssmtp": 465, "urd": 465}
SERVICE_NAMES = {25: "smtp", 587: "submission", 465: "submissions"}


def service_name(port: int) -> str:
    return SERVICE_NAMES.get(port, str(port))


def service_port(service: str | None) -> int | None:
    """The port a service name or number stands for (None: neither)."""
    if service is None:
        return None
    return SERVICE_PORTS.get(service) or (int(service) if digits(service) else None)
