"""Postfix settings that silently change what happens to mail: soft_bounce, permit_mx_backup."""

from __future__ import annotations

from collections.abc import Iterator

from mailcfg.findings import Finding, Severity
from mailcfg.fix import UNSAFE, Fix
from mailcfg.postfix.config import PostfixConfig
from mailcfg.postfix.edit import RELOAD, set_for
from mailcfg.postfix.listedit import list_value, word
from mailcfg.postfix.restrictions import lists_and_classes, parse
from mailcfg.postfix.services import main_view, view_of, views
from mailcfg.rule import Rule

SOFT_BOUNCE = Rule(
    "postfix-soft-bounce", "soft_bounce is on: every rejection becomes a temporary failure",
    Severity.WARNING, ("deliverability",), "postfix")
PERMIT_MX_BACKUP = Rule(
    "postfix-permit-mx-backup", "permit_mx_backup lets DNS decide which domains this host relays for",
    Severity.WARNING, ("relay", "deprecated"), "postfix")


@SOFT_BOUNCE.checker
def check_soft_bounce(config: PostfixConfig) -> Iterator[Finding]:
    main = main_view(config)
    where = [(main, None)] + [(v, s.name) for s, v in views(config)]
    seen = set()
    for view, service in where:
        origin = view.origin("soft_bounce")
        if origin is None or not view.yes("soft_bounce") or id(origin) in seen:
            continue
        seen.add(id(origin))
        yield SOFT_BOUNCE.finding(
            "soft_bounce = yes: every 5xx reply becomes 4xx (554 5.7.1 turns into 454 4.7.1) and bounces "
            "are deferred, so senders retry for days instead of learning their mail failed; "
            "use it only while testing", origin.location, service=service)


@PERMIT_MX_BACKUP.checker
def check_permit_mx_backup(config: PostfixConfig) -> Iterator[Finding]:
    seen = set()
    for service, view in views(config):
        for name in lists_and_classes(view):
            for item in parse(view, name):
                if item.name != "permit_mx_backup" or item.location in seen:
                    continue
                seen.add(item.location)
                networks = view.get("permit_mx_backup_networks").strip()
                risk = ("permit_mx_backup_networks limits it to " + networks) if networks else \
                    "permit_mx_backup_networks is empty, so anyone who controls a domain's DNS can make " \
                    "this host relay for it"
                yield PERMIT_MX_BACKUP.finding(
                    f"{name} uses permit_mx_backup: {risk}; it is deprecated since Postfix 3.9 — list "
                    f"backup domains in relay_domains instead", item.location, service=service.name)


@SOFT_BOUNCE.fixer
def fix_soft_bounce(config: PostfixConfig, finding: Finding) -> Fix | None:
    """soft_bounce = no where it is turned on (unsafe: what soft_bounce was hiding now rejects or
    bounces for good, deferred mail in the queue included)."""
    view = view_of(config, finding.service)
    if view is None:
        return None
    return Fix(SOFT_BOUNCE.id, UNSAFE, "soft_bounce = no: rejections are permanent again",
               (set_for(view, "soft_bounce", ["no"]),), RELOAD)


@PERMIT_MX_BACKUP.fixer
def fix_permit_mx_backup(config: PostfixConfig, finding: Finding) -> Fix | None:
    """permit_mx_backup removed from the list that has it (unsafe: domains this host backs up by
    DNS alone must be listed in relay_domains)."""
    view = view_of(config, finding.service)
    if view is None:
        return None
    for name in lists_and_classes(view):
        lv = list_value(view, name)
        words = [word(i) for i in lv.items if i.name != "permit_mx_backup"]
        if len(words) < len(lv.items):
            return Fix(PERMIT_MX_BACKUP.id, UNSAFE, f"{lv.holder}: permit_mx_backup removed (list backup domains in "
                       f"relay_domains)", (lv.set(words),), RELOAD)
    return None
