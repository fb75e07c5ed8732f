"""Baseline entries no longer found. Checked by mailcfg.baseline, when a run compares its findings
with a baseline file."""

from __future__ import annotations

from mailcfg.findings import Severity
from mailcfg.rule import Rule

# The id is written out (mailcfg.baseline has it too; tests/test_registry.py checks they agree):
# `mailcfg rules` reads this declaration without importing the module.
STALE_BASELINE = Rule("mailcfg-stale-baseline", "Baseline entry no longer found", Severity.INFO, (), "mailcfg")
