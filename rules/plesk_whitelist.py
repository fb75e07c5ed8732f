"""Plesk's relay white list: networks that relay without authorization and skip the outgoing-mail limits."""

from __future__ import annotations

from collections.abc import Iterator

from mailcfg.findings import Finding, Severity
from mailcfg.fix import Fix
from mailcfg.plesk.config import PleskConfig
from mailcfg.plesk.fixes import WHITE_LIST, note, whitelist_fix
from mailcfg.rule import Rule
from mailcfg.trust import judge

WHITELIST_TOO_WIDE = Rule(
    "plesk-whitelist-too-wide", "Plesk's white list lets public address space or a very wide range relay",
    Severity.WARNING, ("relay",), "plesk")


def _too_wide(config: PleskConfig):
    for entry in config.whitelist or ():
        verdict = judge(entry.network)
        if verdict is not None:
            yield entry, verdict


@WHITELIST_TOO_WIDE.checker
def check(config: PleskConfig) -> Iterator[Finding]:
    for entry, (severity, why) in _too_wide(config):
        yield WHITELIST_TOO_WIDE.finding(
            f"Plesk's white list holds {entry.text}: {why} may relay through this server without authorization, "
            "and Plesk's limits on outgoing mail do not apply to them" + note(config, WHITE_LIST),
            entry.location, severity=severity)


@WHITELIST_TOO_WIDE.fixer
def fix(config: PleskConfig, finding: Finding) -> Fix | None:
    """Every entry this rule reports, removed in one fix (the same for each of its findings)."""
    return whitelist_fix(config, finding, [entry.text for entry, _ in _too_wide(config)])
