"""The one seam per mail system, checked on the import graph and the source (parsed with ast).

Exim and Plesk never import Postfix's package (what they share is neutral: mailcfg.transaction), and
the modules that drive every system (lint, decisions, cli, fixer...) never compare a value with a
system's name: they ask the systems listed in mailcfg.systems.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from mailcfg.snapshot import load_local
from mailcfg.systems import SYSTEMS, mail_systems, present

ROOT = Path(__file__).resolve().parent.parent
NAMES = ("postfix", "exim", "plesk")
# Modules that must not know one system from another.
NEUTRAL = ("lint.py", "decisions.py", "cli.py", "fixer.py", "fix.py", "snapshot.py", "configkind.py",
           "overlay.py", "api.py", "remote/apply.py", "remote/plan.py", "remote/fetch.py", "remote/collect.py",
           "remote/collection.py", "remote/redact.py", "reporters/decision.py")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                package = ".".join(["mailcfg", *path.relative_to(ROOT / "linter").parent.parts][: None if
                                   node.level == 1 else 1 - node.level])
                found.append(f"{package}.{node.module}" if node.module else package)
            else:
                found.append(node.module or "")
    return found


def _others() -> list[Path]:
    return [*(ROOT / "linter/exim").rglob("*.py"), *(ROOT / "linter/plesk").rglob("*.py"),
            *(ROOT / "rules").glob("exim_*.py"), *(ROOT / "rules").glob("plesk_*.py")]


def test_exim_and_plesk_never_import_postfix():
    files = _others()
    assert any(p.parts[-2] == "exim" for p in files)
    bad = [f"{p.relative_to(ROOT)}: {name}" for p in files for name in _imports(p)
           if name == "mailcfg.postfix" or name.startswith("mailcfg.postfix.")]
    assert bad == []


def test_the_ast_scan_sees_a_postfix_import(tmp_path):
    """The check above can fail: an import of Postfix's package is found, relative or absolute."""
    (tmp_path / "linter/exim").mkdir(parents=True)
    sample = tmp_path / "linter/exim/sample.py"
    sample.write_text("from mailcfg.postfix.engine import decide_on\nfrom ..postfix import known\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert _imports(sample) == ["mailcfg.postfix.engine", "mailcfg.postfix"]
    finally:
        ROOT = saved


def _name_comparisons(path: Path) -> list[str]:
    """Comparisons (==, !=, in, not in) and match cases involving a system's name as a string constant."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            constants = [c for o in operands for c in ast.walk(o) if isinstance(c, ast.Constant)]
            if any(isinstance(c.value, str) and c.value.lower() in NAMES for c in constants):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.match_case) and isinstance(node.pattern, ast.MatchValue):
            value = node.pattern.value
            if isinstance(value, ast.Constant) and str(value.value).lower() in NAMES:
                found.append(f"{path.relative_to(ROOT)}:{node.pattern.lineno}: case {value.value!r}")
    return found


@pytest.mark.parametrize("module", NEUTRAL)
def test_neutral_modules_do_not_branch_on_a_system_name(module):
    path = ROOT / "linter" / module
    if not path.exists():
        pytest.skip(f"{module} is not there")
    assert _name_comparisons(path) == []
    assert [n for n in _imports(path) if n.split(".")[1:2] and n.split(".")[1] in NAMES] == []


def test_the_branch_scan_sees_a_branch(tmp_path):
    sample = tmp_path / "linter" / "sample.py"
    sample.parent.mkdir()
    sample.write_text('if "postfix" in snapshot.systems:\n    pass\nif name == "exim":\n    pass\n')
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert len(_name_comparisons(sample)) == 2
    finally:
        ROOT = saved


def test_every_listed_system_is_a_mail_system_with_its_own_module():
    systems = mail_systems()
    assert [s.name for s in systems][:2] == ["postfix", "exim"] and len(systems) == len(SYSTEMS)
    for module, system in zip(SYSTEMS, systems, strict=True):
        assert module == f"mailcfg.{system.name}.system"
        assert system.layout.directories and all(d.startswith("/") for d in system.layout.directories)
        assert all(r in {s.name for s in systems} for r in system.requires)


def test_a_host_with_postfix_and_exim_is_decided_by_postfix(tmp_path):
    """The first system in mailcfg.systems' order with a decider decides."""
    root = tmp_path / "both"
    (root / "etc/postfix").mkdir(parents=True)
    (root / "etc/postfix/main.cf").write_text("mynetworks = 127.0.0.0/8\n")
    (root / "etc/exim4").mkdir(parents=True)
    (root / "etc/exim4/exim4.conf").write_text("begin acl\n")
    snap = load_local(str(root))
    assert snap.systems == ["postfix", "exim"]
    assert next(s for s in present(snap) if s.decider is not None).name == "postfix"
