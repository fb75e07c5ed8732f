"""Postfix's findings on a Plesk host: what smtpd does is still Postfix's to judge (an open relay is an
open relay), but where a Plesk setting is the cause the finding says so, and no fix edits main.cf or
master.cf, which Plesk writes from its settings (the fix goes through Plesk's rule)."""

from __future__ import annotations

import dataclasses

from mailcfg.findings import Finding
from mailcfg.fix import Fix
from mailcfg.plesk.config import PleskConfig
from mailcfg.trust import judge


def cause(config: PleskConfig, finding: Finding) -> str | None:
    """The Plesk setting (and its rule) that makes Postfix do what `finding` reports, if one does."""
    settings, rule = config.settings, finding.rule
    wide = [e for e in config.whitelist or () if judge(e.network) is not None]
    named = [e.text for e in wide if str(e.network) in finding.message]  # the network the finding names
    if rule in ("postfix-open-relay", "postfix-mynetworks-too-wide") and named:
        return f"Plesk's white list holds {', '.join(named)} (plesk-whitelist-too-wide)"
    if rule in ("postfix-open-relay", "postfix-no-relay-check") and settings is not None and settings.relay == "open":
        return "Plesk's relay mode is open (plesk-relay-open)"
    if rule in ("postfix-open-relay", "postfix-mynetworks-too-wide") and wide:
        return f"Plesk's white list holds {', '.join(e.text for e in wide)} (plesk-whitelist-too-wide)"
    if rule == "postfix-users-cannot-relay" and settings is not None and \
            (settings.relay == "closed" or (settings.relay == "auth" and not settings.smtp_auth)):
        return "Plesk does not let users relay after SMTP AUTH (plesk-smtp-auth-disabled)"
    return None


def review(config: PleskConfig, finding: Finding, fix: Fix | None) -> tuple[Finding, Fix | None]:
    if not finding.rule.startswith("postfix-"):
        return finding, fix
    if config.postfix is None and config.mta is not None:  # Postfix's files left behind by another MTA
        note = f"Plesk runs {config.mta}, not this Postfix: its configuration is not what serves mail here"
        return dataclasses.replace(finding, message=f"{finding.message} ({note})"), None
    why = cause(config, finding)
    notes = [f"on this Plesk host the cause is {why}: fix it through Plesk"] if why else []
    if fix is not None and fix.edits:
        if not why:
            notes.append("no automatic fix here: Plesk writes main.cf and master.cf from its settings and would "
                         "undo an edit; change it through Plesk")
        fix = None
    if not notes:
        return finding, fix
    return dataclasses.replace(finding, message=f"{finding.message} ({'; '.join(notes)})"), fix
