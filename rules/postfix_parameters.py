"""main.cf and `-o` parameter names: unknown, defined twice, or referring to nothing."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterator

from mailcfg.findings import Finding, Severity
from mailcfg.postfix import known
from mailcfg.postfix.config import PostfixConfig
from mailcfg.postfix.expand import expand, references
from mailcfg.postfix.maincf import Parameter
from mailcfg.postfix.mastercf import Override
from mailcfg.postfix.services import main_view
from mailcfg.postfix.version import show
from mailcfg.rule import Rule

UNKNOWN_PARAMETER = Rule(
    "postfix-unknown-parameter", "Parameter that no Postfix release knows and nothing refers to",
    Severity.WARNING, ("syntax",), "postfix")
DUPLICATE_PARAMETER = Rule(
    "postfix-duplicate-parameter", "Parameter set more than once: only the last setting counts",
    Severity.WARNING, ("syntax",), "postfix")
UNDEFINED_VARIABLE = Rule(
    "postfix-undefined-variable", "$name refers to a parameter that is not defined: it expands to nothing",
    Severity.WARNING, ("syntax",), "postfix")


# Values that daemons expand at run time with their own variables ($USER, $EXTENSION, $client, ...)
# (CONFIG_RAW_TABLE in the daemons' sources): their $names are not main.cf parameters.
RAW_PARAMETERS = {"mailbox_command", "forward_path", "luser_relay", "default_rbl_reply", "smtpd_reject_footer",
                  "postscreen_reject_footer", "smtpd_expansion_filter", "postscreen_expansion_filter",
                  "command_execution_directory"}


def _settings(config: PostfixConfig) -> list[Parameter | Override]:
    return [*config.main.entries, *(o for s in config.master.services for o in s.overrides)]


def _referenced(config: PostfixConfig) -> set[str]:
    """Names used by some value, a restriction class list, or a service's `-o` override."""
    names = {n for p in _settings(config) for n in references(p.value)}
    view = main_view(config)
    names |= set(view.items("smtpd_restriction_classes"))
    return names


class _Hints:
    """"Did you mean" for the first HINTS unknown names: a fuzzy match against every known name costs
    milliseconds, and a main.cf can hold tens of thousands of unknown names."""

    HINTS = 100

    def __init__(self) -> None:
        self.left = self.HINTS
        self.by_length = _by_length()

    def closest(self, name: str) -> str | None:
        if self.left <= 0:
            return None
        self.left -= 1
        # a ratio of 0.8 needs lengths within a factor of 1.5 (2*matches / total, matches <= shorter)
        low, high = -(-len(name) * 2 // 3), len(name) * 3 // 2
        candidates = [c for length in range(low, high + 1) for c in self.by_length.get(length, ())]
        close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.8)
        return close[0] if close else None


@functools.cache  # the same for every configuration of a run
def _by_length() -> dict[int, list[str]]:
    by_length: dict[int, list[str]] = {}
    for known_name in sorted(known.parameter_names()):
        by_length.setdefault(len(known_name), []).append(known_name)
    return by_length


@UNKNOWN_PARAMETER.checker
def check_unknown(config: PostfixConfig) -> Iterator[Finding]:
    used = _referenced(config)
    hints = _Hints()
    for setting in _settings(config):
        name = setting.name
        removed = known.parameter_removed(name)
        if removed is not None and config.version >= removed:
            yield UNKNOWN_PARAMETER.finding(
                f"{name} was removed in Postfix {show(removed)}; this Postfix ignores it",
                setting.location)
            continue
        if known.is_known(name, config.master) or name in used:
            continue
        if config.master.source.real_path is None and known.has_service_suffix(name):
            continue  # a per-service parameter of a service we cannot see
        close = hints.closest(name)
        hint = f"; did you mean {close}?" if close else ""
        where = "main.cf" if isinstance(setting, Parameter) else "this -o override"
        yield UNKNOWN_PARAMETER.finding(
            f"unknown parameter {name!r}: no Postfix release has it and nothing refers to it, so "
            f"{where} has no effect{hint}", setting.location)


@DUPLICATE_PARAMETER.checker
def check_duplicates(config: PostfixConfig) -> Iterator[Finding]:
    groups: list[list[Parameter] | list[Override]] = []
    by_name: dict[str, list[Parameter]] = {}
    for p in config.main.entries:
        by_name.setdefault(p.name, []).append(p)
    groups += by_name.values()
    for service in config.master.services:
        per: dict[str, list[Override]] = {}
        for o in service.overrides:
            per.setdefault(o.name, []).append(o)
        groups += per.values()
    for group in groups:
        last = group[-1]
        for earlier in group[:-1]:
            same = earlier.value == last.value
            yield DUPLICATE_PARAMETER.finding(
                f"{earlier.name} is set again on line {last.location.line}"
                + (" with the same value" if same else
                   f"; Postfix uses that later value ({_short(last.value)}) and ignores this one "
                   f"({_short(earlier.value)})"),
                earlier.location, severity=Severity.INFO if same else None)


@UNDEFINED_VARIABLE.checker
def check_undefined(config: PostfixConfig) -> Iterator[Finding]:
    view = main_view(config)
    overridden = {o.name for s in config.master.services for o in s.overrides}

    def lookup(name: str) -> str | None:
        # Defined names expand to "" here: only this value's own references are judged.
        return "" if view.raw(name) is not None or name in overridden else None

    for setting in _settings(config):
        if setting.name in RAW_PARAMETERS:
            continue
        for name in sorted(expand(setting.value, lookup).undefined):
            yield UNDEFINED_VARIABLE.finding(
                f"${name} in {setting.name} refers to a parameter that is not defined anywhere: Postfix "
                f"expands it to nothing", setting.at(setting.value.find(name) - 1)
                if name in setting.value else setting.location)


def _short(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")
