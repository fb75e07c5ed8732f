"""Digits are ASCII digits everywhere, as the MTAs' C code reads them: str.isdigit() and a regular
expression's \\d also take other scripts' digits (which int() reads as numbers no MTA sees) and
superscripts (which int() refuses with an exception)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mailcfg.asciidigits import digits

SOURCES = sorted(p for d in ("linter", "rules") for p in (Path(__file__).parent.parent / d).rglob("*.py"))


@pytest.mark.parametrize("text, expected", [("25", True), ("0", True), ("", False), ("\u0662\u0665", False),
                                            ("\u00b2", False), ("\uff12", False), ("2a", False), ("-1", False)])
def test_only_ascii_digits_are_digits(text, expected):
    assert digits(text) is expected


def test_no_source_reads_digits_the_unicode_way():
    found = [f"{path.name}:{n}" for path in SOURCES if path.name != "asciidigits.py"
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if ".isdigit()" in line or ".isdecimal()" in line or re.search(r"""r["'].*\\d""", line)]
    assert not found, found
