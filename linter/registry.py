"""Rules discovered from the `mailcfg.rules` package: every Rule object in its modules."""

from __future__ import annotations

import ast
import difflib
import importlib
import pkgutil
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import mailcfg.rules
from mailcfg import packaged
from mailcfg.errors import MailcfgError
from mailcfg.findings import Severity
from mailcfg.rule import Rule


@cache
def all_rules() -> tuple[Rule, ...]:
    found = {rule.id: rule for info in pkgutil.iter_modules(mailcfg.rules.__path__) for rule in _imported(info.name)}
    return tuple(sorted(found.values(), key=lambda r: r.id))


@cache
def rules_of(system: str) -> tuple[Rule, ...]:
    """The rules of one system (by id), importing only the rule modules that declare some: linting a
    Postfix host loads neither the Exim nor the Plesk rules and engines."""
    modules = sorted({r.module for r in listing() if r.system == system})
    found = {rule.id: rule for name in modules for rule in _imported(name) if rule.system == system}
    return tuple(sorted(found.values(), key=lambda r: r.id))


@cache
def _imported(name: str) -> tuple[Rule, ...]:
    module = importlib.import_module(f"mailcfg.rules.{name}")
    return tuple(value for value in vars(module).values() if isinstance(value, Rule))


def declared(rule_id: str) -> Listed:
    """The rule `rule_id` (an id or an alias) names, as declared; MailcfgError for no rule."""
    for rule in listing():
        if rule_id == rule.id or rule_id in rule.aliases:
            return rule
    close = suggest(rule_id, [name for rule in listing() for name in (rule.id, *rule.aliases)])
    hint = f"; did you mean {close!r}?" if close else ""
    raise MailcfgError(f"unknown rule {rule_id!r}{hint} (see `mailcfg rules` for the list)")


def rule_by_id(rule_id: str) -> Rule:
    """The rule `rule_id` names, loading its module alone."""
    listed = declared(rule_id)
    return next(rule for rule in _imported(listed.module) if rule.id == listed.id)


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The one choice `word` is most probably a misspelling of, or None."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.8)
    return close[0] if close else None


def canonical_ids(rule_id: str) -> set[str]:
    """The ids a suppression naming `rule_id` covers (a rule's aliases name it too)."""
    return {r.id for r in listing() if rule_id == r.id or rule_id in r.aliases} or {rule_id}



@dataclass(frozen=True)
class Listed:
    """A rule as its declaration states it, without its check."""

    id: str
    title: str
    severity: Severity
    tags: tuple[str, ...]
    system: str
    aliases: tuple[str, ...] = ()
    module: str = ""  # the rule module (in mailcfg.rules) that declares it


_DECLARED = ("id", "title", "severity", "tags", "system", "aliases")
_DECLARATION = re.compile(r"^[A-Za-z_]\w* = Rule\(", re.M)  # a rule module's `NAME = Rule(...)` statements


def _statement(text: str) -> ast.Assign:
    """The statement `text` starts with (a declaration spans a few lines): parsed alone, not the module."""
    lines = text.split("\n", 20)
    for n in range(1, len(lines) + 1):
        try:
            return ast.parse("\n".join(lines[:n])).body[0]
        except SyntaxError:
            continue
    raise ValueError("no statement")


@cache
def listing() -> tuple[Listed, ...]:
    """Every rule as declared, read from the rule modules' source without importing them (most load the
    analysis engines: `mailcfg rules` lists without them); a module whose declarations are not literal
    `Rule(...)` arguments, or whose source is not at hand, is imported instead."""
    found: dict[str, Listed] = {}
    for info in pkgutil.iter_modules(mailcfg.rules.__path__):
        try:
            text = packaged.text("mailcfg.rules", f"{info.name}.py")
            declared = [_declared(_statement(text[m.start():]).value, info.name)
                        for m in _DECLARATION.finditer(text)]
        except (OSError, SyntaxError, ValueError, TypeError, KeyError, AttributeError):
            declared = [Listed(r.id, r.title, r.severity, tuple(r.tags), r.system, tuple(r.aliases), info.name)
                        for r in _imported(info.name)]
        found |= {rule.id: rule for rule in declared}
    return tuple(sorted(found.values(), key=lambda r: r.id))


def _declared(call: ast.Call, module: str) -> Listed:
    nodes = dict(zip(_DECLARED, call.args, strict=False))
    nodes |= {k.arg: k.value for k in call.keywords if k.arg in _DECLARED}
    severity = nodes.pop("severity", None)
    if not (isinstance(severity, ast.Attribute) and isinstance(severity.value, ast.Name)
            and severity.value.id == "Severity"):
        raise ValueError("severity is not written Severity.NAME")
    values = {k: ast.literal_eval(v) for k, v in nodes.items()}
    return Listed(values["id"], values["title"], Severity[severity.attr], tuple(values["tags"]), values["system"],
                  tuple(values.get("aliases", ())), module)
