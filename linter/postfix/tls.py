"""How one smtpd service does TLS: wrapper mode, mandatory, opportunistic or none, and its certificate."""

from __future__ import annotations

from mailcfg.postfix.effective import ParameterView

MANDATORY_LEVELS = ("encrypt", "fingerprint", "verify", "secure")  # smtpd maps the last three to encrypt
CERT_PARAMETERS = ("smtpd_tls_cert_file", "smtpd_tls_eccert_file", "smtpd_tls_dcert_file",
                   "smtpd_tls_chain_files")


def tls_mode(view: ParameterView) -> str:
    """wrapper, encrypt, may or none, as smtpd decides it (the level wins over legacy use/enforce).
    Kept per view: every decision asks."""
    mode = view.memo.get("tls mode")
    if mode is None:
        mode = view.memo["tls mode"] = _tls_mode(view)
    return mode


def _tls_mode(view: ParameterView) -> str:
    if view.yes("smtpd_tls_wrappermode"):
        return "wrapper"
    level = view.get("smtpd_tls_security_level").strip().lower()
    if level:
        return "encrypt" if level in MANDATORY_LEVELS else "may" if level == "may" else "none"
    if view.yes("smtpd_enforce_tls"):
        return "encrypt"
    return "may" if view.yes("smtpd_use_tls") else "none"


def mode_parameter(view: ParameterView) -> str:
    """The parameter that decided tls_mode, for pointing at it."""
    if view.yes("smtpd_tls_wrappermode"):
        return "smtpd_tls_wrappermode"
    if view.get("smtpd_tls_security_level").strip():
        return "smtpd_tls_security_level"
    return "smtpd_enforce_tls" if view.yes("smtpd_enforce_tls") else "smtpd_use_tls"


def has_certificate(view: ParameterView) -> bool:
    """A certificate is configured, or cert-less TLS was chosen with `smtpd_tls_cert_file = none`."""
    return any(view.get(name).strip() for name in CERT_PARAMETERS)


def offers_tls(view: ParameterView) -> bool:
    """STARTTLS (or wrapper-mode TLS) works on this service: TLS on, and a certificate to do it with."""
    return tls_mode(view) != "none" and has_certificate(view)


def auth_needs_tls(view: ParameterView) -> bool:
    """smtpd offers AUTH only inside TLS (wrapper mode and `encrypt` force smtpd_tls_auth_only)."""
    return tls_mode(view) in ("wrapper", "encrypt") or view.yes("smtpd_tls_auth_only")
