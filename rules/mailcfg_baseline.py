"""Baseline entries no longer found. Checked by mailcfg.baseline, when a run compares its findings
with a baseline file."""

from __future__ import annotations

from mailcfg.baseline import STALE
from mailcfg.findings import Severity
from mailcfg.rule import Rule

STALE_BASELINE = Rule(STALE, "Baseline entry no longer found", Severity.INFO, (), "mailcfg")
