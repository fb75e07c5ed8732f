"""The JSON lint result of DESIGN.md: {"version": 1, "targets": [...]}."""

from __future__ import annotations

import json

from mailcfg.lint import TargetResult


def render(results: list[TargetResult], color: bool = False) -> str:
    return json.dumps({"version": 1, "targets": [r.to_json() for r in results]}, indent=2) + "\n"
