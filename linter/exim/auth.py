"""Exim's authenticators as a server sees them: which ones serve, and what their names are.

An authenticator serves only when its driver's server option is set (the driver's init function
sets `server` then); the others are client-side, for sending to a smarthost, and AUTH is never
advertised for them. The tls driver is not an SMTP mechanism at all.
"""

from __future__ import annotations

from mailcfg.exim.parse import Driver, Parsed

# driver -> the option that makes an instance a server; None: every instance serves
SERVER_OPTION: dict[str, str | None] = {
    "plaintext": "server_condition", "gsasl": "server_condition", "external": "server_condition",
    "cram_md5": "server_secret", "dovecot": "server_socket", "spa": "server_password",
    "cyrus_sasl": None, "heimdal_gssapi": None,
}
# Mechanisms a client that has a password can use (the probe's login): what MUAs and the tests speak.
PASSWORD_MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5")


def is_server(driver: Driver) -> bool:
    if driver.driver not in SERVER_OPTION:
        return False
    option = SERVER_OPTION[driver.driver]
    return option is None or bool(driver.get(option))


def public_name(driver: Driver) -> str:
    return (driver.get("public_name") or driver.name).upper()


def servers(parsed: Parsed) -> list[Driver]:
    return [d for d in parsed.of_kind("authenticator") if is_server(d)]
