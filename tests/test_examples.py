"""The bundled example hosts produce exactly the findings their expected.tsv lists."""

from __future__ import annotations

import pytest
from conftest import EXAMPLES
from mailcfg.lint import lint_path

HOSTS = sorted(p.name for p in EXAMPLES.iterdir() if (p / "expected.tsv").exists())


def expected(name: str) -> list[tuple[str, str, int]]:
    rows = []
    for line in (EXAMPLES / name / "expected.tsv").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            rule, file, number = line.split("\t")[:3]
            rows.append((rule, file, int(number)))
    return sorted(rows)


def test_there_are_clean_and_broken_examples():
    assert {"debian-stock", "hardened-submission", "broken-submission", "office-relay"} <= set(HOSTS)


@pytest.mark.parametrize("name", HOSTS)
def test_example_findings(name):
    result = lint_path(str(EXAMPLES / name))
    assert result.status == "ok", result.error
    got = sorted((f.rule, f.location.file, f.location.line) for f in result.findings)
    assert got == expected(name)
