"""Rules discovered from the `mailcfg.rules` package: every Rule object in its modules."""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Iterable
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
    close = suggest(rule_id, [name for rule in all_rules() for name in (rule.id, *rule.aliases)])
    hint = f"; did you mean {close!r}?" if close else ""
    raise MailcfgError(f"unknown rule {rule_id!r}{hint} (see `mailcfg rules` for the list)")


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The one choice `word` is most probably a misspelling of, or None."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.8)
    return close[0] if close else None


def canonical_ids(rule_id: str) -> set[str]:
    """The ids a suppression naming `rule_id` covers (a rule's aliases name it too)."""
    return {r.id for r in all_rules() if rule_id == r.id or rule_id in r.aliases} or {rule_id}
