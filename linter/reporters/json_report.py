"""The JSON lint result of DESIGN.md: {"version": 1, "targets": [...]}."""

from __future__ import annotations

from mailcfg import jsontext
from mailcfg.lint import TargetResult


def render(results: list[TargetResult], color: bool = False) -> str:
    return jsontext.dumps({"version": 1, "targets": [r.to_json() for r in results]}) + "\n"
