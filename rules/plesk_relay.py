"""Plesk's relay mode and its authorization types: who may send mail through the server."""

from __future__ import annotations

from collections.abc import Iterator

from mailcfg.findings import Finding, Location, Severity
from mailcfg.plesk import layout
from mailcfg.plesk.config import PleskConfig
from mailcfg.plesk.fixes import SET_RELAY, SUBMISSION, auth_fix, note, submission_fix
from mailcfg.rule import Rule

RELAY_OPEN = Rule("plesk-relay-open", "Plesk's mail relay mode is open: anyone may send mail through the server",
                  Severity.ERROR, ("relay",), "plesk")
SMTP_AUTH_DISABLED = Rule(
    "plesk-smtp-auth-disabled",
    "Plesk does not let users relay after SMTP AUTH: they get 554 5.7.1 Relay access denied",
    Severity.ERROR, ("auth", "deliverability"), "plesk")
POP_BEFORE_SMTP = Rule(
    "plesk-pop-before-smtp", "Plesk relays for any client at an address that recently logged in to POP3",
    Severity.WARNING, ("relay", "auth"), "plesk")
SUBMISSION_DISABLED = Rule(
    "plesk-submission-disabled", "Plesk's message submission (port 587) is off", Severity.WARNING,
    ("auth", "deliverability"), "plesk")


def _at(config: PleskConfig, *params: str) -> Location:
    """Where the first of `params` that has a row is, else the settings file."""
    assert config.settings is not None
    found = (config.settings.location(p) for p in params)
    return next((at for at in found if at is not None), Location(layout.SETTINGS))


@RELAY_OPEN.checker
def check_open(config: PleskConfig) -> Iterator[Finding]:
    if config.settings is not None and config.settings.relay == "open":
        yield RELAY_OPEN.finding(
            "Plesk's relay mode is open (relay = open): every host on the Internet may send mail through this "
            "server to any domain, so it will be used to send spam and land on block lists"
            + note(config, SET_RELAY),
            _at(config, "relay"))


@SMTP_AUTH_DISABLED.checker
def check_smtp_auth(config: PleskConfig) -> Iterator[Finding]:
    settings = config.settings
    if settings is None:
        return
    if settings.relay == "closed":
        yield SMTP_AUTH_DISABLED.finding(
            "Plesk's relay mode is closed (relay = closed): only the white list may send mail to other domains; "
            "your users, logged in or not, get 554 5.7.1 Relay access denied" + note(config, SET_RELAY),
            _at(config, "relay"))
    elif settings.relay == "auth" and not settings.smtp_auth:
        other = " (only a recent POP3 login lets them)" if settings.pop_auth else ""
        yield SMTP_AUTH_DISABLED.finding(
            f"Plesk requires authorization to relay but SMTP AUTH is off ({settings.why('disable_smtp_auth')}): "
            f"users who log in with their mail client get 554 5.7.1 Relay access denied{other}"
            + note(config, SET_RELAY), _at(config, "disable_smtp_auth", "relay"))


@POP_BEFORE_SMTP.checker
def check_pop(config: PleskConfig) -> Iterator[Finding]:
    settings = config.settings
    if settings is None or not settings.pop_auth:
        return
    minutes = settings.poplock_minutes
    window = f"for {minutes} minutes" if minutes is not None else "for the POP lock time"
    yield POP_BEFORE_SMTP.finding(
        f"POP3 authorization (POP-before-SMTP) is on ({settings.why('disable_pop_auth')}): after a POP3 login, "
        f"anyone at the same address (a NAT, a mobile network, a shared Wi-Fi) may relay without a password "
        f"{window}" + note(config, SET_RELAY), _at(config, "disable_pop_auth", "relay"))


@SUBMISSION_DISABLED.checker
def check_submission(config: PleskConfig) -> Iterator[Finding]:
    settings = config.settings
    if settings is None or settings.submission:
        return
    yield SUBMISSION_DISABLED.finding(
        f"Plesk's message submission is off ({settings.why('message_submission')}): mail clients must send on "
        "port 25, which many networks block, or on 465" + note(config, SUBMISSION),
        _at(config, "message_submission"))


RELAY_OPEN.fixer(auth_fix)
SMTP_AUTH_DISABLED.fixer(auth_fix)
POP_BEFORE_SMTP.fixer(auth_fix)
SUBMISSION_DISABLED.fixer(submission_fix)
