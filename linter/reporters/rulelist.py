"""`mailcfg rules`: the rules one a line (never wrapped, so `grep` and `cut` read them) or as JSON."""

from __future__ import annotations

from collections.abc import Iterable

from mailcfg import jsontext
from mailcfg.registry import Listed
from mailcfg.rule import Rule

DOCS = "rules/docs/{id}.md"  # the page in the repository (and in the package, as mailcfg/rules/docs)


def _json(rule: Rule) -> dict:
    return {"id": rule.id, "system": rule.system, "severity": rule.severity.value, "tags": list(rule.tags),
            "title": rule.title, "aliases": list(rule.aliases), "fixable": rule.fix is not None,
            "docs": DOCS.format(id=rule.id)}


def render_text(rules: Iterable[Rule | Listed]) -> str:
    return "".join(f"{r.id:<32} {r.severity.value:<8} {','.join(r.tags):<22} {r.title}\n" for r in rules)


def render_json(rules: Iterable[Rule]) -> str:
    return jsontext.dumps([_json(r) for r in rules]) + "\n"


def render_doc_json(rule: Rule) -> str:
    """One rule with its documentation page (Markdown) as `doc`."""
    return jsontext.dumps({**_json(rule), "doc": rule.doc}) + "\n"
