"""The rules as `mailcfg rules` lists them from their declarations are the rules mailcfg runs."""

from __future__ import annotations

from mailcfg.registry import all_rules, listing


def test_the_declarations_read_without_importing_are_the_imported_rules():
    assert [(r.id, r.title, r.severity, r.tags, r.system, r.aliases) for r in listing()] == \
        [(r.id, r.title, r.severity, tuple(r.tags), r.system, tuple(r.aliases)) for r in all_rules()]
