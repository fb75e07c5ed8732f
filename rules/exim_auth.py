"""SMTP AUTH on Exim: whether users can log in where they submit mail, and only under TLS."""

from __future__ import annotations

from collections.abc import Iterator

from mailcfg.exim.auth import public_name, servers
from mailcfg.exim.config import EximConfig
from mailcfg.exim.edit import add_driver_option, exim_fix
from mailcfg.exim.engine import offered, start_tls
from mailcfg.exim.probes import OUTSIDE_HELO, listening_ports
from mailcfg.exim.services import service_name, service_port
from mailcfg.exim.session import Session
from mailcfg.findings import Finding, Location, Severity
from mailcfg.fix import UNSAFE, Fix
from mailcfg.outsiders import OUTSIDE_V4, VICTIM
from mailcfg.roles import expects
from mailcfg.rule import Rule
from mailcfg.transaction import Probe

AUTH_MISSING = Rule("exim-auth-missing", "A host meant for submission offers no SMTP AUTH", Severity.ERROR,
                    ("auth",), "exim")
AUTH_WITHOUT_TLS = Rule("exim-auth-without-tls", "Passwords can be sent without TLS", Severity.WARNING,
                        ("auth", "tls"), "exim")

SUBMISSION_PORTS = (587, 465)
PLAINTEXT_MECHANISMS = ("PLAIN", "LOGIN")


def advertised(config: EximConfig, port: int, tls: bool) -> list[str]:
    """The authenticators an outside client is offered on `port`, with or without STARTTLS done; an
    advertisement that depends on something undecidable counts as not offered."""
    session = Session(config, Probe(OUTSIDE_V4[0], VICTIM, "", OUTSIDE_HELO, tls=tls, port=port))
    start_tls(session)
    found = offered(session)
    return [] if session.undecided else [d.name for d in found]


def submission_expected(config: EximConfig) -> str | None:
    """Why this host should accept submission: its role, or a submission port it listens on."""
    roles = config.snapshot.facts.roles
    if roles is not None and "submission" in roles:
        return "the host's role is submission"
    ports = [p for p in listening_ports(config) if p in SUBMISSION_PORTS]
    if ports and expects(roles, "submission"):
        return f"it listens on port {ports[0]}, the submission port"
    return None


@AUTH_MISSING.checker
def check_auth_missing(config: EximConfig) -> Iterator[Finding]:
    if config.error is not None:
        return
    why = submission_expected(config)
    if why is None:
        return
    ports = listening_ports(config)
    if any(advertised(config, port, tls) for port in ports for tls in (False, True)):
        return
    authenticators = config.parsed.read.sections.get("authenticators")
    where = authenticators.location if authenticators else _ports_location(config)
    detail = ("no authenticator is set up as a server (client-side ones, with only client_* options, "
              "do not count)" if not servers(config.parsed) else
              "its server authenticators are never advertised (auth_advertise_hosts or "
              "server_advertise_condition rule them out, or they need a TLS the server does not offer)")
    yield AUTH_MISSING.finding(f"{why}, but users cannot log in: {detail}; their mail gets \"relay not "
                               "permitted\"", where)


def _ports_location(config: EximConfig) -> Location | None:
    setting = config.setting("daemon_smtp_ports") or config.setting("daemon_smtp_port")
    return setting.origin.location if setting else None


@AUTH_WITHOUT_TLS.checker
def check_auth_without_tls(config: EximConfig) -> Iterator[Finding]:
    if config.error is not None:
        return
    tls_ports = config.option("tls_on_connect_ports")
    drivers = {d.name: d for d in servers(config.parsed)}
    reported: set[str] = set()
    for port in listening_ports(config):
        if str(port) in [p.strip() for p in tls_ports.split(":")]:
            continue
        for name in advertised(config, port, tls=False):
            driver = drivers[name]
            if public_name(driver) in PLAINTEXT_MECHANISMS and name not in reported:
                reported.add(name)
                yield AUTH_WITHOUT_TLS.finding(
                    f"{name} offers {public_name(driver)} on port {port} before STARTTLS: the password "
                    "crosses the network in clear text (set server_advertise_condition = "
                    "${if def:tls_in_cipher})", driver.origin.location, service=service_name(port))


@AUTH_WITHOUT_TLS.fixer
def fix_auth_without_tls(config: EximConfig, finding: Finding) -> Fix | None:
    """Advertise the authenticator only under TLS, when the same clients are offered STARTTLS."""
    port = service_port(finding.service) or 25
    driver = next((d for d in servers(config.parsed) if d.origin.location == finding.location), None)
    if driver is None or driver.get("server_advertise_condition") is not None:
        return None
    session = Session(config, Probe(OUTSIDE_V4[0], VICTIM, "", OUTSIDE_HELO, tls=True, port=port))
    start_tls(session)
    if not session.tls or session.undecided:
        return None  # without STARTTLS the users could not log in at all
    edit = add_driver_option(config, driver, "server_advertise_condition", "${if def:tls_in_cipher}")
    if edit is None:
        return None
    return exim_fix(config, AUTH_WITHOUT_TLS.id, UNSAFE, f"advertise {driver.name} only after STARTTLS", (edit,))
