"""Lines Postfix rejects or reads differently from how they look."""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Iterator

from mailcfg.findings import Finding, Location, Severity
from mailcfg.fix import SAFE, Fix
from mailcfg.postfix.config import PostfixConfig
from mailcfg.postfix.edit import RELOAD
from mailcfg.postfix.known import restrictions
from mailcfg.postfix.listedit import list_value
from mailcfg.postfix.maincf import Problem
from mailcfg.postfix.restrictions import Item, lists_and_classes, parse
from mailcfg.postfix.services import main_view, view_of, views
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
    # imported here: the relay rules build on this module (they leave these causes to it)
    from mailcfg.rules.postfix_relay import consequences

    for location, (message, service) in restriction_errors(config).items():
        effects = consequences(config, location)
        if effects:
            message += "; so " + "; ".join(effects)
        yield SYNTAX.finding(message, location, service=service)


def restriction_errors(config: PostfixConfig) -> dict[Location, tuple[str, str | None]]:
    """location -> (message, first service) for every restriction that makes smtpd answer
    with a server configuration error (computed once per configuration)."""
    return config.remember("restriction_errors", lambda: _restriction_errors(config))


def _restriction_errors(config: PostfixConfig) -> dict[Location, tuple[str, str | None]]:
    found: dict[Location, tuple[str, str | None]] = {}
    service_views = [(None, main_view(config))] + [(s, v) for s, v in views(config)]
    for service, view in service_views:
        for name in lists_and_classes(view):
            for item in parse(view, name):
                if item.location is None or item.location in found:
                    continue
                message = _item_problem(item, name, config)
                if message:
                    found[item.location] = (message, service.name if service else None)
    return found


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


@SYNTAX.fixer
def fix_misspelt_restriction(config: PostfixConfig, finding: Finding) -> Fix | None:
    """A misspelt restriction name corrected, when only one known name is close."""
    view = view_of(config, finding.service) if finding.service else main_view(config)
    if view is None:
        return None
    for name in lists_and_classes(view):
        lv = list_value(view, name)  # the value as written where it is set, which the fix edits
        for k, item in enumerate(parse(view, name)):
            if item.location != finding.location:
                continue
            correct = _spelling(item)
            if correct is None or k >= len(lv.items) or lv.items[k].text != item.text:
                return None
            words = lv.words
            words[k] = correct
            return Fix(SYNTAX.id, SAFE, f"{lv.holder}: {item.text} is no restriction Postfix knows; corrected to "
                       f"{correct}", (lv.set(words),), RELOAD)
    return None


def _spelling(item: Item) -> str | None:
    if item.kind != "unknown" or item.text.startswith("$"):
        return None
    close = difflib.get_close_matches(item.name, list(restrictions()), n=2, cutoff=0.8)
    if len(close) != 1 or difflib.SequenceMatcher(None, item.name, close[0]).ratio() < 0.85:
        return None  # no single obvious spelling: the admin must choose
    return close[0]
