"""`--statistics`: how many findings each rule has, most first (as `ruff check --statistics`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from mailcfg import jsontext
from mailcfg.lint import TargetResult
from mailcfg.registry import rule_by_id


@dataclass(frozen=True)
class RuleCount:
    """How often a rule found something, and how many of those a safe fix mends."""

    rule: str
    count: int
    fixable: int  # of them with a safe fix
    title: str

    def to_json(self) -> dict:
        return {"rule": self.rule, "count": self.count, "fixable": self.fixable, "title": self.title}


def counts(results: list[TargetResult]) -> list[RuleCount]:
    found = Counter(f.rule for r in results for f in r.findings)
    fixable = Counter(f.rule for r in results for f in r.findings if f.fix == "safe")
    order = sorted(found, key=lambda rule: (-found[rule], rule))
    return [RuleCount(rule, found[rule], fixable[rule], rule_by_id(rule).title) for rule in order]


def render_text(results: list[TargetResult]) -> str:
    rows = counts(results)
    if not rows:
        return ""
    number = max(len(str(r.count)) for r in rows)
    name = max(len(r.rule) for r in rows)
    return "".join(f"{r.count:>{number}}  {r.rule:<{name}}  {'[*]' if r.fixable else '   '}  {r.title}\n"
                   for r in rows)


def render_json(results: list[TargetResult]) -> str:
    return jsontext.dumps([r.to_json() for r in counts(results)]) + "\n"
