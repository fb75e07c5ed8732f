"""Suppression comments that are wrong: naming no rule, hiding nothing, or (when the project asks
for reasons) giving none. Checked by mailcfg.suppression once every other rule has run, since
only then is it known what each suppression hides."""

from __future__ import annotations

from mailcfg.findings import Severity
from mailcfg.rule import Rule
from mailcfg.suppression import INVALID, MISSING_REASON, UNUSED

INVALID_SUPPRESSION = Rule(INVALID, "Suppression comment names no rule or cannot be read", Severity.ERROR, (),
                           "mailcfg")
UNUSED_SUPPRESSION = Rule(UNUSED, "Suppression comment hides no finding", Severity.WARNING, (), "mailcfg")
MISSING_REASON_SUPPRESSION = Rule(MISSING_REASON, "Suppression comment gives no reason", Severity.WARNING, (),
                                  "mailcfg")
