"""Rules discovered from the `mailcfg.rules` package: every Rule object in its modules."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

import mailcfg.rules
from mailcfg.errors import MailcfgError
from mailcfg.rule import Rule


@cache
def all_rules() -> tuple[Rule, ...]:
    found: dict[str, Rule] = {}
    for info in pkgutil.iter_modules(mailcfg.rules.__path__):
        module = importlib.import_module(f"mailcfg.rules.{info.name}")
        for value in vars(module).values():
            if isinstance(value, Rule):
                found[value.id] = value
    return tuple(sorted(found.values(), key=lambda r: r.id))


def rule_by_id(rule_id: str) -> Rule:
    for rule in all_rules():
        if rule_id == rule.id or rule_id in rule.aliases:
            return rule
    raise MailcfgError(f"unknown rule {rule_id!r} (see `mailcfg rules` for the list)")


def canonical_ids(rule_id: str) -> set[str]:
    """The ids a suppression naming `rule_id` covers (a rule's aliases name it too)."""
    return {r.id for r in all_rules() if rule_id == r.id or rule_id in r.aliases} or {rule_id}
