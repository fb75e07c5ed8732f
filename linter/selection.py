"""Which rules a run checks: `select`, `extend-select` and `ignore` entries resolved to rule ids.

An entry is a rule id or one of its aliases, a glob over ids (`exim-*`, fnmatch syntax) or a tag
(`tls`, `relay`, ...). The run checks `select` (every rule when not given) plus `extend-select`,
minus `ignore`. An entry that names no rule is an error, with the closest name as a hint: a typo
must never silently widen or narrow the gate.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from mailcfg.errors import MailcfgError
from mailcfg.registry import canonical_ids, listing, suggest
from mailcfg.rule import TAGS

GLOB_CHARS = "*?["


def selected(rule_ids: Iterable[str], select: Iterable[str] | None = None, ignore: Iterable[str] | None = None,
             extend_select: Iterable[str] | None = None) -> set[str]:
    """The ids among `rule_ids` that a run with these entries checks."""
    universe = set(rule_ids)
    chosen = set(universe) if select is None else resolve(select, universe)
    chosen |= resolve(extend_select or (), universe)
    return chosen - resolve(ignore or (), universe)


def resolve(entries: Iterable[str], universe: set[str]) -> set[str]:
    """The ids among `universe` the entries name; MailcfgError for an entry that names no rule."""
    tags = {rule.id: rule.tags for rule in listing()}
    ids: set[str] = set()
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        ids |= _matches(entry, universe, tags)
    return ids


def _matches(entry: str, universe: set[str], tags: dict[str, tuple[str, ...]]) -> set[str]:
    if any(c in entry for c in GLOB_CHARS):
        matched = set(fnmatch.filter(universe, entry))
        if not matched:
            raise MailcfgError(_unknown(entry, universe))
        return matched
    if entry in TAGS:  # a tag no rule of this run carries selects nothing, and is no typo
        return {i for i in universe if entry in tags.get(i, ())}
    if entry not in tags and not any(entry in rule.aliases for rule in listing()):
        raise MailcfgError(_unknown(entry, universe))
    return canonical_ids(entry) & universe


def _unknown(entry: str, universe: set[str]) -> str:
    if any(c in entry for c in GLOB_CHARS):
        return f"rule pattern {entry!r} matches no rule (see `mailcfg rules` for the list)"
    names = [*universe, *TAGS, *(a for rule in listing() if rule.id in universe for a in rule.aliases)]
    close = suggest(entry, names)
    hint = f"; did you mean {close!r}?" if close else ""
    return f"unknown rule or tag {entry!r}{hint} (see `mailcfg rules` for the list)"
