"""Start-up stays light: what a command does not use, it does not import (no timing here).

Each command runs in a fresh interpreter, as the console script does, and reports the modules it
ended with. SSH (paramiko), YAML (ruamel), templates (jinja2: a fix to render), Markdown rendering,
pydantic (typer's own conversion) and the progress bar are each loaded only by what uses them (a
lint offers fixes without rendering them);
`--help` loads none of the analysis either.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
RUN = """
import json, sys
sys.argv = ["mailcfg", *json.loads(sys.argv[1])]
from mailcfg.cli import main
try:
    main()
except SystemExit:
    pass
print("\\nMODULES " + json.dumps(sorted(sys.modules)))
"""
NEVER = ("paramiko", "ruamel", "jinja2", "rich.markdown", "rich.progress", "pydantic", "invoke", "cryptography")
ANALYSIS = ("mailcfg.lint", "mailcfg.postfix.engine", "mailcfg.exim.engine", "mailcfg.rules.postfix_relay",
            "mailcfg.rules.exim_relay", "rich")


def _modules(*args: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", RUN, json.dumps(args)], capture_output=True, text=True, check=False,
                         timeout=120, env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "HOME": "/nonexistent"})
    assert "MODULES " in out.stdout, out.stderr
    return set(json.loads(out.stdout.rpartition("MODULES ")[2]))


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules for name in names if m == name or m.startswith(name + "."))


@pytest.mark.parametrize("args", [("lint", str(EXAMPLES / "hardened-submission")),
                                  ("lint", "-f", "json", str(EXAMPLES / "debian-stock")),
                                  ("rules",),
                                  ("test", str(EXAMPLES / "open-relay"), "--policy",
                                   str(EXAMPLES / "open-relay" / "policy.yml"))])
def test_a_local_command_loads_no_ssh_yaml_template_or_markdown_library(args):
    modules = _modules(*args)
    assert "mailcfg.cli" in modules
    assert _loaded(modules, NEVER) == []


@pytest.mark.parametrize("example", ["broken-submission", "open-relay"])
def test_the_templates_load_only_when_a_fix_is_shown(example):
    # each has findings with fixes: a lint says which and how safe, without rendering their text (an
    # Exim relay fix is rendered: lint decides the edited configuration's answers before offering it)
    assert _loaded(_modules("lint", str(EXAMPLES / example)), NEVER) == []
    modules = _modules("lint", "--show-fixes", str(EXAMPLES / example))
    assert "jinja2" in modules
    assert _loaded(modules, tuple(n for n in NEVER if n != "jinja2")) == []


def test_the_rule_list_loads_no_engine():
    modules = _modules("rules")
    assert _loaded(modules, NEVER + ANALYSIS) == []
    # every rule module's declarations are read from its source, none is imported
    assert sorted(m for m in modules if m.startswith("mailcfg.rules.")) == []
    assert _loaded(modules, ("mailcfg.suppression", "mailcfg.baseline")) == []


def test_help_loads_none_of_the_analysis():
    modules = _modules("--help")
    assert "typer" in modules
    assert _loaded(modules, NEVER + ANALYSIS) == []


def test_a_host_loads_paramiko_without_invoke():
    # port 1 on loopback refuses at once; invoke serves only ssh_config's `Match exec`, which there is none of
    modules = _modules("lint", "--timeout", "5", "ssh://127.0.0.1:1")
    assert "paramiko" in modules
    assert _loaded(modules, ("invoke",)) == []


def test_one_postfix_target_loads_neither_exim_plesk_nor_the_workers():
    modules = _modules("lint", str(EXAMPLES / "hardened-submission"))
    assert "mailcfg.rules.postfix_relay" in modules
    assert _loaded(modules, tuple(f"mailcfg.rules.{m}" for m in ("exim_auth", "exim_relay", "exim_syntax",
                                                                "exim_undecided", "plesk_drift", "plesk_relay",
                                                                "plesk_undecided", "plesk_whitelist"))) == []
    assert _loaded(modules, ("multiprocessing", "concurrent", "mailcfg.remote.inventory", "mailcfg.reporters.junit",
                             "mailcfg.exim.engine", "mailcfg.plesk.config")) == []  # one target, text: no workers


def test_every_dataclass_has_a_docstring_of_its_own():
    """Without one, @dataclass makes one from inspect.signature as each class is created: a cost at every
    start, for each of the many small classes a command imports."""
    import dataclasses
    import importlib
    import pkgutil

    import mailcfg
    import mailcfg.rules

    generated = []
    for package in (mailcfg, mailcfg.rules):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.endswith(".__main__"):  # runs the command line
                continue
            module = importlib.import_module(info.name)
            for value in list(vars(module).values()):
                if isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == info.name \
                        and (value.__doc__ or "").startswith(value.__name__ + "("):
                    generated.append(f"{info.name}.{value.__qualname__}")
    assert not generated, generated
