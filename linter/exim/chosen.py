"""Values an outsider chooses itself, named by the configuration's ACLs: candidates to try.

A client picks its sender address, its HELO name and the recipient's local part. An ACL that lets
mail through because of one of these (`senders = *@example.com`, `sender_domains = +local_domains`,
`condition = ${if match{$sender_address}{...}}`, `local_parts = postmaster` without a domain
check) lets through anyone who sends that value. The ACLs, the named lists and the files they
name are read for such values; the engine then decides each attempt, so a candidate that does not
in fact match costs a trial and nothing more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mailcfg.exim.config import EximConfig
from mailcfg.exim.lists import split_list
from mailcfg.patterns import regex_example

MAX_VALUES = 20  # per kind: a long list adds trials, not insight
_KINDS = {"senders": "address", "sender_domains": "domain", "local_parts": "localpart"}
_VARIABLES = {"sender_address": "sender", "sender_address_domain": "sender_domain",
              "sender_address_local_part": "sender_local", "sender_helo_name": "helo", "local_part": "local_part"}
# ${if eq{$var}{text}}, ${if match{$var}{regex}}, either order for eq; \N...\N protection removed first
_OPERAND = r"\{\s*\$\{?(\w+)\}?\s*\}\s*\{([^{}]*)\}"
_TESTS = re.compile(r"\b(eqi?|match)\s*" + _OPERAND)
_REVERSED = re.compile(r"\b(eqi?)\s*\{([^{}$]*)\}\s*\{\s*\$\{?(\w+)\}?\s*\}")


@dataclass
class Chosen:
    """Values an outsider may choose, named by the ACLs: senders, HELO names, local parts."""

    senders: list[str] = field(default_factory=list)
    helos: list[str] = field(default_factory=list)
    local_parts: list[str] = field(default_factory=list)
    mentions_helo: bool = False  # something decides by the HELO name (verify = helo, $sender_helo_name)

    def add(self, kind: str, value: str | None) -> None:
        target = {"sender": self.senders, "helo": self.helos, "local_part": self.local_parts}[kind]
        if value is not None and value not in target and len(target) < MAX_VALUES:
            target.append(value)


def chosen(config: EximConfig) -> Chosen:
    return config.remember("chosen", lambda: _chosen(config))


def _chosen(config: EximConfig) -> Chosen:
    found = Chosen()
    for acl in config.parsed.acls.values():
        for statement in acl.statements:
            for item in statement.items:
                if item.negated:
                    continue
                if item.name in _KINDS:
                    for value in _items(config, _KINDS[item.name], item.value, set()):
                        _add_list_value(found, item.name, value, config)
                elif item.name == "verify" and item.value.strip().lower().startswith("helo"):
                    found.mentions_helo = True
                else:
                    _scan_expansion(found, item.value)
    for option in ("acl_smtp_rcpt", "acl_smtp_mail"):
        _scan_expansion(found, config.option(option))
    return found


def _items(config: EximConfig, kind: str, value: str, seen: set[str]) -> list[str]:
    """The positive items of a list, named lists and files opened (lookups: their keys)."""
    out: list[str] = []
    for raw in split_list(value):
        item = raw.strip()
        if not item or item.startswith("!"):
            continue
        if item.startswith("+"):
            named = config.parsed.lists.get((kind, item[1:]))
            if named is not None and item not in seen:
                seen.add(item)
                out += _items(config, kind, named.value, seen)
            continue
        lookup = re.match(r"^(?:partial[^;]*)?(lsearch|wildlsearch|nwildlsearch|iplsearch|cdb|dbm);\s*(/\S+)$", item)
        path = lookup[2] if lookup else item if item.startswith("/") else None
        if path is not None:
            for line in config.read_lines(path) or []:
                text = line.split("#", 1)[0].strip() if not lookup else line.strip()
                if text and not text.startswith("#"):
                    out.append(text.split(":", 1)[0].split()[0] if lookup else text)
            continue
        out.append(item)
    return out


def _add_list_value(found: Chosen, condition: str, item: str, config: EximConfig) -> None:
    """What to send so that `item` of a senders, sender_domains or local_parts list matches."""
    if item.startswith("^"):
        example = regex_example(item)
        if example is None:
            return
        if condition == "senders":
            found.add("sender", example if "@" in example else f"someone@{example}")
        elif condition == "sender_domains":
            found.add("sender", f"someone@{example}")
        else:
            found.add("local_part", example)
        return
    if condition == "local_parts":
        if re.fullmatch(r"[\w.+-]+", item):
            found.add("local_part", item)
        return
    if ";" in item or item == "*":
        return  # a lookup of another kind, or anything at all (the plain sender matches it already)
    local, at, domain = item.rpartition("@")
    if condition == "sender_domains" or not at:
        domain, local = item, ""
    domain = {"@": config.primary_hostname or "", "": ""}.get(domain, domain)
    domain = re.sub(r"^\*\.?", "x.", domain) if domain.startswith("*") else domain
    if not domain or not re.fullmatch(r"[\w.-]+", domain):
        return
    local = "someone" if local in ("", "*") else local.lstrip("*") or "someone"
    found.add("sender", f"{local}@{domain}")


def _scan_expansion(found: Chosen, text: str) -> None:
    """Values `${if eq...}` and `${if match...}` compare an outsider's own variables with."""
    if "$" not in text:
        return
    plain = text.replace("\\N", "")
    if "sender_helo_name" in plain:
        found.mentions_helo = True
    tests = [(op, var, arg) for op, var, arg in _TESTS.findall(plain)]
    tests += [(op, var, arg) for op, arg, var in _REVERSED.findall(plain)]
    for op, var, arg in tests:
        kind = _VARIABLES.get(var)
        if kind is None or "$" in arg:
            continue
        value = regex_example(arg) if op == "match" else arg
        if value is None:
            continue
        if kind == "sender_domain":
            kind, value = "sender", f"someone@{value}"
        elif kind == "sender_local":
            kind, value = "sender", f"{value}@outside.example"
        elif kind == "sender" and "@" not in value:
            value = f"someone@{value.lstrip('.')}"
        if kind == "sender":  # fill in the side the pattern leaves open
            local, _, domain = value.rpartition("@")
            value = f"{local or 'someone'}@{domain or 'outside.example'}"
        found.add(kind, value)
