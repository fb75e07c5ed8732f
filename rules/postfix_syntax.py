"""Lines Postfix rejects or reads differently from how they look."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from mailcfg.findings import Finding, Location, Severity
from mailcfg.postfix.config import PostfixConfig
from mailcfg.postfix.maincf import Problem
from mailcfg.postfix.restrictions import lists_and_classes, parse
from mailcfg.postfix.services import main_view, views
from mailcfg.postfix.tables import parse_ref
from mailcfg.postfix.tokens import split
from mailcfg.postfix.version import show
from mailcfg.rule import Rule

SYNTAX = Rule("postfix-syntax", "Line that Postfix rejects or reads differently from how it looks",
              Severity.ERROR, ("syntax",), "postfix")

# Host/network lists where an unbracketed IPv6 address is read as a `type:table` lookup.
HOST_LISTS = ("mynetworks", "smtpd_authorized_xclient_hosts", "smtpd_authorized_xforward_hosts",
              "permit_mx_backup_networks", "smtpd_sasl_exceptions_networks", "debug_peer_list",
              "smtpd_client_event_limit_exceptions", "smtpd_authorized_verp_clients",
              "qmqpd_authorized_clients", "smtpd_log_access_permit_actions")
CONFIG_ERROR = "Postfix answers \"451 4.3.5 Server configuration error\" to every request that reaches it"


@SYNTAX.checker
def check(config: PostfixConfig) -> Iterator[Finding]:
    for problem in (*config.main.problems, *config.master.problems):
        yield _from_problem(problem)
    for table in config.tables():
        for problem in table.problems:
            yield _from_problem(problem)
    yield from _value_problems(config)
    yield from _restriction_problems(config)


def _from_problem(problem: Problem) -> Finding:
    return SYNTAX.finding(problem.message, problem.location,
                          severity=None if problem.fatal else Severity.WARNING)


def _value_problems(config: PostfixConfig) -> Iterator[Finding]:
    settings = [*config.main.entries, *(o for s in config.master.services for o in s.overrides)]
    for setting in settings:
        for tok in split(setting.value):
            if tok.unbalanced:
                yield SYNTAX.finding(
                    f"unbalanced {tok.unbalanced!r} in {setting.name}: "
                    + ("the rest of the value becomes one item" if tok.unbalanced == "{" else
                       "a '}' without '{' is kept as an ordinary character"), setting.at(tok.start))
            if tok.text.startswith("#"):
                yield SYNTAX.finding(
                    f"'#' in the middle of {setting.name} is not a comment: Postfix reads "
                    f"{setting.value[tok.start:]!r} as part of the value (put comments on their own line)",
                    setting.at(tok.start))
                break
        if setting.name in HOST_LISTS:
            yield from _unbracketed_ipv6(setting)


def _unbracketed_ipv6(setting) -> Iterator[Finding]:
    for tok in split(setting.value):
        text = tok.text.lstrip("!")
        if ":" not in text or text.startswith("[") or parse_ref(text) is not None:
            continue
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            continue
        fixed = "[" + text.split("/")[0] + "]" + ("/" + text.split("/")[1] if "/" in text else "")
        yield SYNTAX.finding(
            f"IPv6 {text!r} in {setting.name} must be written {fixed}: unbracketed, Postfix reads it as a "
            f"lookup table of type {text.split(':')[0]!r} and lookups that reach it fail",
            setting.at(tok.start))


def _restriction_problems(config: PostfixConfig) -> Iterator[Finding]:
    seen: set[tuple[Location | None, str]] = set()
    service_views = [(None, main_view(config))] + [(s, v) for s, v in views(config)]
    for service, view in service_views:
        for name in lists_and_classes(view):
            for item in parse(view, name):
                key = (item.location, item.text)
                if key in seen or item.location is None:
                    continue
                message = _item_problem(item, name, config)
                if message:
                    seen.add(key)
                    yield SYNTAX.finding(message, item.location, service=service.name if service else None)


def _item_problem(item, list_name: str, config: PostfixConfig) -> str | None:
    if item.kind == "unknown":
        return f"unknown smtpd restriction {item.text!r} in {list_name}: {CONFIG_ERROR}"
    if item.missing_argument:
        return f"{item.text} in {list_name} needs an argument after it: {CONFIG_ERROR}"
    info = item.restriction
    if info is not None and info.removed is not None and config.version >= info.removed:
        return (f"{item.text} was removed in Postfix {show(info.removed)}: {CONFIG_ERROR}")
    if info is not None and info.since is not None and config.version < info.since:
        return f"{item.text} needs Postfix {show(info.since)} or later: {CONFIG_ERROR}"
    return None
