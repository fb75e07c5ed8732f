"""Suppression comments that are wrong: naming no rule, hiding nothing, or (when the project asks
for reasons) giving none. Checked by mailcfg.suppression once every other rule has run, since
only then is it known what each suppression hides."""

from __future__ import annotations

from mailcfg.findings import Severity
from mailcfg.rule import Rule

# The ids are written out (mailcfg.suppression has them too; tests/test_registry.py checks they agree):
# `mailcfg rules` reads these declarations without importing the module.
INVALID_SUPPRESSION = Rule("mailcfg-invalid-suppression", "Suppression comment names no rule or cannot be read",
                           Severity.ERROR, (), "mailcfg")
UNUSED_SUPPRESSION = Rule("mailcfg-unused-suppression", "Suppression comment hides no finding", Severity.WARNING, (),
                          "mailcfg")
MISSING_REASON_SUPPRESSION = Rule("mailcfg-suppression-missing-reason", "Suppression comment gives no reason",
                                  Severity.WARNING, (), "mailcfg")
