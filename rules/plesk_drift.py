"""The Postfix configuration against Plesk's settings: a hand edit Plesk will overwrite, or settings
Plesk never applied."""

from __future__ import annotations

from collections.abc import Iterator

from mailcfg.findings import Finding, Severity
from mailcfg.plesk.config import PleskConfig
from mailcfg.plesk.drift import drifts
from mailcfg.rule import Rule

CONFIG_DRIFT = Rule(
    "plesk-config-drift", "The Postfix configuration disagrees with Plesk's mail settings", Severity.WARNING,
    ("relay", "auth"), "plesk")


@CONFIG_DRIFT.checker
def check(config: PleskConfig) -> Iterator[Finding]:
    for drift in drifts(config):
        yield CONFIG_DRIFT.finding(
            f"Plesk says {drift.plesk}, but Postfix has {drift.postfix}. Plesk regenerates main.cf and master.cf "
            "from its settings (on updates and `plesk repair mail`), so a hand edit there is lost: make the "
            "change through Plesk (Tools & Settings > Mail Server Settings or `plesk bin mailserver`)",
            drift.location)
