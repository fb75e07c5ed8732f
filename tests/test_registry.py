"""The rules as `mailcfg rules` lists them from their declarations are the rules mailcfg runs."""

from __future__ import annotations

from mailcfg.registry import all_rules, listing, rule_by_id, rules_of


def test_the_declarations_read_without_importing_are_the_imported_rules():
    assert [(r.id, r.title, r.severity, r.tags, r.system, r.aliases) for r in listing()] == \
        [(r.id, r.title, r.severity, tuple(r.tags), r.system, tuple(r.aliases)) for r in all_rules()]


def test_a_systems_rules_are_those_of_the_full_list():
    for system in {r.system for r in listing()}:
        assert rules_of(system) == tuple(r for r in all_rules() if r.system == system)


def test_a_rule_by_id_or_alias_is_the_imported_rule():
    for rule in all_rules():
        for name in (rule.id, *rule.aliases):
            assert rule_by_id(name) is rule


def test_the_meta_rules_declare_the_ids_their_checks_report():
    """The suppression and baseline rules write their ids out (so `mailcfg rules` reads them without an
    import): the ids the checks give their findings are those."""
    from mailcfg.baseline import STALE
    from mailcfg.suppression import META

    ids = {r.id for r in all_rules()}
    assert {*META, STALE} <= ids
