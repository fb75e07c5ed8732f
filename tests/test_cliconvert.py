"""mailcfg's conversion of command-line values gives what typer's own gives: the value, or the same error."""

from __future__ import annotations

import pytest
import typer.main
from mailcfg import cliconvert
from mailcfg.cli import app
from typer import _coercion, core
from typer._click import Context

VALUES = ["x", "", "é", "json", "JSON", "xml", "text", "never", "1", "0", "-1", "+3", "007", "1_0", " 2", "2 ",
          "0.1", "0.05", ".5", "5.", "1e1", "nan", "inf", "/tmp", "a/b", "-", True, False, 3, 2.5, ["a", "b"], ("a",),
          [], None]


def _params():
    cliconvert.install()
    group = typer.main.get_command(app)
    for name, command in sorted(group.commands.items()):
        for param in command.params:
            if hasattr(param, "type_descriptor"):
                yield pytest.param(command, param, id=f"{name}-{param.name}")


def _outcome(build, command, param, value):
    try:
        converted = build(param.type_descriptor).coerce(value, param=param, ctx=Context(command))
    except Exception as exc:
        return "error", type(exc).__name__, str(getattr(exc, "message", exc))
    return "value", type(converted).__name__, converted


@pytest.mark.parametrize(("command", "param"), list(_params()))
def test_every_option_converts_every_value_as_typer_does(command, param):
    assert core.build_runtime_param is not _coercion.build_runtime_param  # the plain path is in place
    for value in VALUES:
        assert _outcome(core.build_runtime_param, command, param, value) == \
            _outcome(_coercion.build_runtime_param, command, param, value), (param.name, value)
