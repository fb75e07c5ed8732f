"""`--show-fixes`: the change one finding's fix makes, as a unified diff of the files as linted.

Each fix is shown alone, on the configuration lint read (`mailcfg fix` applies them one after the
other and lints again between them, so its result can differ where two fixes touch the same lines).
"""

from __future__ import annotations

from mailcfg.diff import unified
from mailcfg.edits import Edit, apply
from mailcfg.findings import Finding
from mailcfg.fix import Fix
from mailcfg.lint import TargetResult
from mailcfg.overlay import FileChange


def fixes_by_finding(result: TargetResult) -> dict[Finding, Fix]:
    return dict(result.fixes)


def fix_diff(result: TargetResult, fix: Fix) -> str:
    """The unified diff of `fix`'s edits, file names as the report names them (a/ and b/ prefixed), then
    the commands it runs, each after `$ `."""
    by_file: dict[str, list[Edit]] = {}
    for edit in fix.edits:
        by_file.setdefault(edit.file, []).append(edit)
    changes = []
    for file, edits in by_file.items():
        source = result.sources.get(file)
        before = source.lines if source is not None else []  # a file the fix creates
        changes.append(FileChange(file, "".join(before), "".join(apply(before, edits))))
    return unified(changes) + "".join(f"$ {command}\n" for command in fix.commands)  # a system's own tool
