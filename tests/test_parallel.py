"""Local targets linted in worker processes give exactly what one process gives, in the order given."""

from __future__ import annotations

import os
from pathlib import Path

from mailcfg.lint import lint_path
from mailcfg.parallel import in_order
from postfix_generator import generate_batch

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _seen(result) -> tuple:
    """Everything a report is made of: the JSON, the files it quotes and the fixes it offers."""
    return (result.to_json(), sorted(result.sources), [(f.rule, fix.summary, fix.edits) for f, fix in result.fixes])


def test_worker_processes_give_the_single_process_results_in_input_order(tmp_path):
    generated = [str(g.root) for g in generate_batch(tmp_path, 18, 6)]
    examples = sorted(str(p) for p in EXAMPLES.iterdir() if p.is_dir())
    # a missing target and a file that is no configuration are results too, in their place
    bad = tmp_path / "not-a-config.txt"
    bad.write_text("hello\n")
    targets = [*generated[:3], str(tmp_path / "missing"), *examples, str(bad), *generated[3:]]
    alone = [_seen(lint_path(t)) for t in targets]
    together = [_seen(r) for r in in_order(lint_path, targets, jobs=2)]
    assert [t["target"] for t, _, _ in together] == [t["target"] for t, _, _ in alone]
    assert together == alone
    assert {t["status"] for t, _, _ in alone} == {"ok", "error"}  # both kinds went through the workers


def test_worker_processes_are_used_and_a_few_targets_stay_in_process(tmp_path):
    targets = sorted(str(p) for p in EXAMPLES.iterdir() if p.is_dir())
    assert len(targets) >= 4
    pids = list(in_order(_pid, targets, jobs=2))
    assert os.getpid() not in pids and len(set(pids)) >= 1
    assert list(in_order(_pid, targets[:2], jobs=2)) == [os.getpid()] * 2
    assert list(in_order(_pid, targets, jobs=1)) == [os.getpid()] * len(targets)


def _pid(_target: str) -> int:
    return os.getpid()
