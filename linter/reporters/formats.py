"""The lint report formats by name: people's (text, concise) and machines' (json, sarif, junit, github, codeclimate)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping

from mailcfg.lint import TargetResult

Renderer = Callable[[list[TargetResult], bool], str]

_MODULES = {"text": "text", "concise": "concise", "json": "json_report", "sarif": "sarif", "junit": "junit",
            "github": "github", "codeclimate": "codeclimate"}


class _Formats(Mapping[str, Renderer]):
    """Each format's renderer, its module imported when it is asked for (a run loads its own format's only)."""

    def __getitem__(self, name: str) -> Renderer:
        return importlib.import_module(f"mailcfg.reporters.{_MODULES[name]}").render

    def __iter__(self) -> Iterator[str]:
        return iter(_MODULES)

    def __len__(self) -> int:
        return len(_MODULES)


FORMATS: Mapping[str, Renderer] = _Formats()
