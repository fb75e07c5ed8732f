"""Command-line values converted without pydantic where they are plain.

typer (0.2x) converts every value through a pydantic TypeAdapter: importing pydantic and building
the adapters costs more than mailcfg's whole analysis of a small host (~130 ms a run). The values
mailcfg's commands take (str, bool, Path, int and float with bounds, Enum choices, lists of these) are
converted here as typer's adapters convert them; any other type, and any value that does not convert
cleanly, goes to typer's own conversion, so the rules and the wording of every error stay typer's.
A typer without this hook (older or newer) is left as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

_INT = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)\Z")


class _NotPlain(Exception):
    """The value needs typer's own conversion (or its error message)."""


def _plain_type(annotation: Any) -> bool:
    if get_origin(annotation) is list:
        return _plain_type(get_args(annotation)[0])
    return annotation in (str, bool, int, float, Path) or (
        isinstance(annotation, type) and issubclass(annotation, Enum))


def _number(kind: type, value: Any, info: Any) -> int | float:
    written = isinstance(value, str) and (_INT if kind is int else _FLOAT).match(value)
    if not (written or type(value) is kind or (kind is float and type(value) is int)):
        raise _NotPlain
    number = kind(value)
    if getattr(info, "clamp", False) or (info.min is not None and number < info.min) or (
            info.max is not None and number > info.max):
        raise _NotPlain
    return number


def _convert(annotation: Any, value: Any, info: Any, param: Any, ctx: Any, choice: Any, path: Any) -> Any:
    if get_origin(annotation) is list:
        if not isinstance(value, list | tuple):
            raise _NotPlain
        return [_convert(get_args(annotation)[0], v, info, param, ctx, choice, path) for v in value]
    if annotation in (str, bool):
        if type(value) is not annotation:
            raise _NotPlain
        return value
    if annotation in (int, float):
        return _number(annotation, value, info)
    if annotation is Path:
        if not (isinstance(value, Path) or (isinstance(value, str) and value)) or info.path_type is not None:
            raise _NotPlain
        return path(Path(value), info, path_type=Path, param=param, ctx=ctx)
    try:
        return choice(value, choices=list(annotation), case_sensitive=info.case_sensitive, ctx=ctx)
    except ValueError:
        raise _NotPlain from None


def install() -> None:
    """Route typer's conversion of plain values through `_convert` (a no-op for a typer without the hook)."""
    try:
        from typer import _coercion, core
        from typer._param_types import coerce_cli_choice, coerce_cli_path
    except ImportError:
        return
    full = getattr(core, "build_runtime_param", None)
    base = getattr(_coercion, "RuntimeParam", None)
    if full is None or base is None or getattr(full, "mailcfg_plain", False):
        return

    @dataclass(frozen=True)
    class PlainParam(base):
        descriptor: Any = None

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                return _convert(self.annotation, value, self.parameter_info, param, ctx, coerce_cli_choice,
                                coerce_cli_path)
            except _NotPlain:
                return full(self.descriptor)._coerce_value(value, param=param, ctx=ctx)

    def build(descriptor: Any) -> Any:
        info = descriptor.parameter_info
        if descriptor.file_annotation is None and info.parser is None and _plain_type(descriptor.annotation):
            return PlainParam(parameter_info=info, annotation=descriptor.annotation, descriptor=descriptor)
        return full(descriptor)

    build.mailcfg_plain = True
    core.build_runtime_param = build
