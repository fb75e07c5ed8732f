"""TLS on Postfix smtpd services."""

from __future__ import annotations

from collections.abc import Iterator

from mailcfg.findings import Finding, Severity
from mailcfg.postfix.config import PostfixConfig
from mailcfg.postfix.services import describe, views, where
from mailcfg.postfix.tls import has_certificate, mode_parameter, tls_mode
from mailcfg.rule import Rule

TLS_MISSING_CERT = Rule(
    "postfix-tls-missing-cert", "TLS is enabled but no certificate and key are configured",
    Severity.ERROR, ("tls",), "postfix")

CONSEQUENCE = {
    "wrapper": "every connection is dropped (\"Wrapper-mode request dropped\")",
    "encrypt": "STARTTLS fails with \"454 4.7.0 TLS not available due to local problem\" and, since TLS "
               "is mandatory, no mail is accepted",
    "may": "STARTTLS fails with \"454 4.7.0 TLS not available due to local problem\" and mail "
           "travels unencrypted",
}


@TLS_MISSING_CERT.checker
def check(config: PostfixConfig) -> Iterator[Finding]:
    for service, view in views(config):
        mode = tls_mode(view)
        if mode == "none" or has_certificate(view):
            continue
        yield TLS_MISSING_CERT.finding(
            f"{describe(service)} has TLS {'wrapper mode' if mode == 'wrapper' else mode} on but "
            f"smtpd_tls_cert_file, smtpd_tls_eccert_file and smtpd_tls_chain_files are all empty: "
            f"{CONSEQUENCE[mode]}",
            where(view, mode_parameter(view)), service=service.name)
