"""Reporters: lint results rendered for people (text) and machines (json, sarif)."""

from __future__ import annotations

from collections.abc import Callable

from mailcfg.lint import TargetResult
from mailcfg.reporters import json_report, sarif, text

Renderer = Callable[[list[TargetResult], bool], str]

FORMATS: dict[str, Renderer] = {
    "text": text.render,
    "json": json_report.render,
    "sarif": sarif.render,
}
