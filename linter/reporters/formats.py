"""The lint report formats by name: people's (text, concise) and machines' (json, sarif, junit, github, codeclimate)."""

from __future__ import annotations

from collections.abc import Callable

from mailcfg.lint import TargetResult
from mailcfg.reporters import codeclimate, concise, github, json_report, junit, sarif, text

Renderer = Callable[[list[TargetResult], bool], str]

FORMATS: dict[str, Renderer] = {
    "text": text.render,
    "concise": concise.render,
    "json": json_report.render,
    "sarif": sarif.render,
    "junit": junit.render,
    "github": github.render,
    "codeclimate": codeclimate.render,
}
