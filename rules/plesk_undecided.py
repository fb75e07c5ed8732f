"""What the snapshot of a Plesk host does not let mailcfg judge: said, never passed over in silence."""

from __future__ import annotations

from collections.abc import Iterator

from mailcfg.findings import Finding, Location, Severity
from mailcfg.plesk import layout
from mailcfg.plesk.config import PleskConfig, unanalysed
from mailcfg.plesk.drift import uncompared
from mailcfg.rule import Rule

UNDECIDED = Rule(
    "plesk-undecided", "A Plesk verdict depends on something the snapshot lacks, or a mail server mailcfg does "
    "not model", Severity.WARNING, ("relay",), "plesk")

_DECIDES = {layout.SETTINGS: "the relay mode, SMTP and POP3 authorization and message submission "
                             "(plesk-relay-open, plesk-smtp-auth-disabled, plesk-pop-before-smtp, "
                             "plesk-submission-disabled, plesk-config-drift)",
            layout.WHITELIST: "the white list (plesk-whitelist-too-wide, and its comparison with mynetworks in "
                              "plesk-config-drift)"}


@UNDECIDED.checker
def check(config: PleskConfig) -> Iterator[Finding]:
    for name, what in _DECIDES.items():
        if name in config.missing:
            yield UNDECIDED.finding(f"{name} is missing ({config.missing[name]}): {what} not judged; fetch the host "
                                    "again, or look at `plesk db` there", Location(name))
    skipped = uncompared(config)
    if skipped is not None:
        why, where = skipped
        yield UNDECIDED.finding(f"whether Plesk's white list ({layout.WHITELIST}) agrees with mynetworks "
                                f"(plesk-config-drift) is not judged: {why}", where)
    settings = config.settings
    if settings is not None and settings.relay is None:
        shown = settings.value("relay")
        yield UNDECIDED.finding(
            "Plesk's relay mode is " + ("not in the settings (no relay row)" if shown is None else
                                        f"{shown!r}, not open, closed or auth") + ": who may relay is not judged",
            settings.location("relay") or Location(layout.SETTINGS))
    if config.mta in ("qmail", "msmtp", "none"):
        yield UNDECIDED.finding(unanalysed(config.mta), Location(layout.MTA),
                                severity=Severity.INFO)
    elif config.mta is None:
        yield UNDECIDED.finding("which MTA Plesk runs is not known (no plesk-mta.txt and no Postfix configuration "
                                "in the snapshot): only Plesk's own settings are judged", Location(layout.MTA),
                                severity=Severity.INFO)
    elif config.postfix is None and settings is not None:
        yield UNDECIDED.finding("Plesk runs Postfix but the snapshot has no Postfix configuration: whether it "
                                "agrees with Plesk's settings (plesk-config-drift) is not judged",
                                Location(layout.MTA))
