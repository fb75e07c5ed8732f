"""SMTP AUTH on Postfix smtpd services: submission without AUTH, AUTH in clear text, anonymous SASL."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from mailcfg.edits import Edit, render
from mailcfg.findings import Finding, Severity
from mailcfg.fix import SAFE, UNSAFE, Fix
from mailcfg.postfix.config import PostfixConfig
from mailcfg.postfix.edit import RELOAD, holder, override_lines, set_for
from mailcfg.postfix.effective import ParameterView
from mailcfg.postfix.engine import decide_on
from mailcfg.postfix.listedit import list_value, with_item_before
from mailcfg.postfix.mastercf import Override
from mailcfg.postfix.probes import user_probe
from mailcfg.postfix.restrictions import lists_and_classes
from mailcfg.postfix.services import describe, is_submission, main_view, view_of, views, where
from mailcfg.postfix.tls import auth_needs_tls, has_certificate, offers_tls, tls_mode
from mailcfg.postfix.tokens import split_list
from mailcfg.postfix.whatif import WhatIf
from mailcfg.rule import Rule
from mailcfg.rules.postfix_relay import first_refusal

SUBMISSION_NO_AUTH = Rule(
    "postfix-submission-no-auth", "Submission service where clients cannot authenticate",
    Severity.ERROR, ("auth",), "postfix")
AUTH_WITHOUT_TLS = Rule(
    "postfix-auth-without-tls", "SMTP AUTH offered over an unencrypted session",
    Severity.ERROR, ("auth", "tls"), "postfix")
SASL_ANONYMOUS = Rule(
    "postfix-sasl-anonymous", "Anonymous SASL mechanisms are not excluded",
    Severity.WARNING, ("auth",), "postfix")


@SUBMISSION_NO_AUTH.checker
def check_submission(config: PostfixConfig) -> Iterator[Finding]:
    services = views(config)
    if "submission" in (config.snapshot.facts.roles or ()) and services and not _auth_anywhere(config):
        service, view = services[0]
        yield SUBMISSION_NO_AUTH.finding(
            "the host's role is submission, but no smtpd service offers SMTP AUTH and there is no "
            "submission service: users cannot log in to send mail (add submission on port 587 with "
            "-o smtpd_sasl_auth_enable=yes)", where(view, "smtpd_sasl_auth_enable"), service=service.name)
    for service, view in services:
        if not is_submission(service):
            continue
        if not view.yes("smtpd_sasl_auth_enable"):
            why = "" if has_certificate(view) or not _clear_text(view) else (
                "; no automatic fix: no TLS certificate is configured, and AUTH without TLS would send "
                "passwords in clear text (configure smtpd_tls_chain_files first)")
            yield SUBMISSION_NO_AUTH.finding(
                f"{describe(service)} is a submission service but smtpd_sasl_auth_enable is "
                f"{view.get('smtpd_sasl_auth_enable') or 'empty'}: mail clients cannot log in, so their "
                f"mail to other domains gets \"Relay access denied\" (add -o smtpd_sasl_auth_enable=yes){why}",
                where(view, "smtpd_sasl_auth_enable"), service=service.name)
        elif auth_needs_tls(view) and tls_mode(view) != "none" and not has_certificate(view):
            yield SUBMISSION_NO_AUTH.finding(
                f"{describe(service)} offers AUTH only inside TLS, but no server certificate is "
                f"configured, so TLS never starts and clients can never authenticate",
                where(view, "smtpd_tls_cert_file", "smtpd_tls_chain_files"), service=service.name)
        elif auth_needs_tls(view) and tls_mode(view) == "none":
            yield SUBMISSION_NO_AUTH.finding(
                f"{describe(service)} has smtpd_tls_auth_only = yes but TLS is off "
                f"(smtpd_tls_security_level = none): AUTH is never offered",
                where(view, "smtpd_tls_auth_only"), service=service.name)


@AUTH_WITHOUT_TLS.checker
def check_auth_without_tls(config: PostfixConfig) -> Iterator[Finding]:
    for service, view in views(config):
        if service.loopback_only or not view.yes("smtpd_sasl_auth_enable") or not _clear_text(view):
            continue
        yield AUTH_WITHOUT_TLS.finding(
            f"{describe(service)} offers SMTP AUTH before STARTTLS (TLS is "
            f"{'optional' if tls_mode(view) == 'may' else 'off'}): passwords can cross the network in clear "
            f"text; set smtpd_tls_auth_only = yes",
            _auth_only_or_enable(view), service=service.name)


def _clear_text(view: ParameterView) -> bool:
    """AUTH, where enabled, would be offered before TLS with mechanisms that send the password."""
    options = {o.lower() for o in view.items("smtpd_sasl_security_options")}
    return not auth_needs_tls(view) and "noplaintext" not in options


def _auth_only_or_enable(view):
    """A service's own `-o smtpd_tls_auth_only=no` is the setting to point at; else where AUTH is enabled."""
    if isinstance(view.origin("smtpd_tls_auth_only"), Override):
        return view.location("smtpd_tls_auth_only")
    return where(view, "smtpd_sasl_auth_enable")


@SASL_ANONYMOUS.checker
def check_anonymous(config: PostfixConfig) -> Iterator[Finding]:
    for service, view in views(config):
        if not view.yes("smtpd_sasl_auth_enable"):
            continue
        name = _allows_anonymous(view)
        if name is not None:
            yield SASL_ANONYMOUS.finding(
                f"{describe(service)}: {name} = {view.get(name) or '(empty)'} does not exclude "
                f"anonymous mechanisms, so smtpd may offer ANONYMOUS logins (add noanonymous)",
                where(view, name, "smtpd_sasl_security_options"), service=service.name)


def _allows_anonymous(view: ParameterView) -> str | None:
    """The security options in force that lack noanonymous (AUTH is never offered before TLS where
    TLS is required, so then only the TLS options count)."""
    for name in ("smtpd_sasl_security_options", "smtpd_sasl_tls_security_options"):
        if name == "smtpd_sasl_security_options" and auth_needs_tls(view):
            continue
        if "noanonymous" not in {o.lower() for o in view.items(name)}:
            return name
    return None


@SUBMISSION_NO_AUTH.fixer
def fix_submission(config: PostfixConfig, finding: Finding) -> Fix | None:
    """SASL turned on for the submission service; with no submission at all on a host whose role is
    submission, the standard submission (587) and submissions (465) services added."""
    view = view_of(config, finding.service)
    service = view.service if view is not None else None
    if view is None or service is None:
        return None
    if is_submission(service) and not view.yes("smtpd_sasl_auth_enable"):
        settings = _submission_settings(config, view)
        return None if settings is None else Fix(
            SUBMISSION_NO_AUTH.id, SAFE, f"{describe(service)}: {', '.join(f'-o {n}={v}' for n, v in settings)}",
            tuple(override_lines(config.master, service, settings)), RELOAD)
    if is_submission(service) or _auth_anywhere(config):
        return None  # AUTH only inside a TLS that never starts: a certificate is needed, which no fix can invent
    main = main_view(config)
    if not has_certificate(main):
        return None
    chroot, backend = service.chroot, _sasl_backend(config)
    relay_list = "smtpd_relay_restrictions" if config.version >= (2, 10) else "smtpd_recipient_restrictions"
    after = max(s.line.last_line for s in config.master.services)
    text = partial(render, "postfix/submission_services.j2", chroot=chroot, backend=backend, relay_list=relay_list)
    return Fix(SUBMISSION_NO_AUTH.id, SAFE, "master.cf: add the submission (587) and submissions (465) services with "
               "SMTP AUTH", (Edit(config.master.source.path, after + 1, after, text),), RELOAD)


def _submission_settings(config: PostfixConfig, view: ParameterView) -> list[tuple[str, str]] | None:
    """The `-o` settings that make a submission service one users can log in to and send through,
    in one fix: AUTH, only inside TLS and never anonymous (a fix must not cause postfix-auth-without-tls
    or postfix-sasl-anonymous), and, where the
    service's list would refuse a logged-in user, permit_sasl_authenticated before what refuses
    them. None when it cannot be done: no certificate for TLS, or the user still refused."""
    settings = [("smtpd_sasl_auth_enable", "yes"), *_sasl_backend(config)]
    if _clear_text(view):
        if not has_certificate(view):
            return None
        settings.append(("smtpd_tls_security_level", "encrypt") if tls_mode(view) == "none"
                        else ("smtpd_tls_auth_only", "yes"))
    changed = WhatIf(view, dict(settings))
    anonymous = _allows_anonymous(changed)
    if anonymous is not None:  # nor postfix-sasl-anonymous
        settings.append((anonymous, ",".join([*changed.items(anonymous), "noanonymous"])))
        changed = WhatIf(view, dict(settings))
    if auth_needs_tls(changed) and not offers_tls(changed):
        return settings  # no user logs in before the certificate postfix-tls-missing-cert asks for is there
    decision = decide_on(changed, user_probe(changed, changed.service.name if changed.service else None))
    step = first_refusal(decision)
    if decision.action == "accept" or decision.undecided:
        return settings
    for name in lists_and_classes(changed) if step is not None else []:
        lv = list_value(changed, name)
        at = next((k for k, item in enumerate(lv.items) if item.text == step.what), None)
        words = with_item_before(lv.items, "permit_sasl_authenticated", at) if at is not None else None
        if words is not None:
            settings.append((lv.name, ",".join(words)))
            changed = WhatIf(view, dict(settings))
            decision = decide_on(changed, user_probe(changed, changed.service.name if changed.service else None))
            return settings if decision.action == "accept" and not decision.undecided else None
    return None


def _auth_anywhere(config: PostfixConfig) -> bool:
    """Some service is for submission or offers AUTH."""
    return any(is_submission(s) or v.yes("smtpd_sasl_auth_enable") for s, v in views(config))


def _sasl_backend(config: PostfixConfig) -> list[tuple[str, str]]:
    """The SASL server settings a new AUTH service needs: none when main.cf already chooses one (it
    inherits it); Dovecot's socket when the snapshot shows Dovecot; else Postfix's default (Cyrus)."""
    if config.main.get("smtpd_sasl_type") is not None or config.snapshot.resolve("/etc/dovecot/dovecot.conf") is None:
        return []
    return [("smtpd_sasl_type", "dovecot"), ("smtpd_sasl_path", "private/auth")]


@AUTH_WITHOUT_TLS.fixer
def fix_auth_without_tls(config: PostfixConfig, finding: Finding) -> Fix | None:
    """smtpd_tls_auth_only = yes where the service takes it from; only where STARTTLS works."""
    view = view_of(config, finding.service)
    if view is None or not offers_tls(view):
        return None
    return Fix(AUTH_WITHOUT_TLS.id, UNSAFE, "smtpd_tls_auth_only = yes: AUTH only after STARTTLS (mail clients that "
               "log in without TLS stop working)", (set_for(view, "smtpd_tls_auth_only", ["yes"]),),
               RELOAD)


@SASL_ANONYMOUS.fixer
def fix_anonymous(config: PostfixConfig, finding: Finding) -> Fix | None:
    """noanonymous added to the security options that lack it, keeping the others."""
    view = view_of(config, finding.service)
    name = _allows_anonymous(view) if view is not None else None
    if view is None or name is None:
        return None
    held, _origin, value = holder(view, name)
    words = [*split_list(value), "noanonymous"]
    return Fix(SASL_ANONYMOUS.id, SAFE, f"{held} = {', '.join(words)}", (set_for(view, name, words),), RELOAD)
