"""Files shipped inside mailcfg's packages: data tables, templates, rule sources and docs.

Read from the package's folder: importlib.resources would import its reader machinery at every
start (several milliseconds) to find the same files, and mailcfg is only ever installed as folders.
"""

from __future__ import annotations

import importlib
from pathlib import Path


def folder(package: str) -> Path:
    """The folder of `package` (a namespace package's first)."""
    return Path(next(iter(importlib.import_module(package).__path__)))


def text(package: str, *parts: str) -> str:
    return folder(package).joinpath(*parts).read_text(encoding="utf-8")
