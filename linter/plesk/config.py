"""Everything the analysis knows about a Plesk host, read from a snapshot (layout in mailcfg.plesk.layout).

A file the snapshot lacks is named as an assumption and leaves what depends on it undecided (the
rules report that); nothing is guessed from Plesk's defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mailcfg.plesk import layout
from mailcfg.plesk.cli import switches
from mailcfg.plesk.postfixside import Postfix
from mailcfg.plesk.rows import rows
from mailcfg.plesk.settings import MailSettings
from mailcfg.plesk.whitelist import Entry, entries
from mailcfg.snapshot import Snapshot
from mailcfg.source import SourceFile

MTAS = ("postfix", "qmail", "msmtp", "none")
# How the MySQL/MariaDB client behind `plesk db` reports a failure ([V] its format: ERROR code (state): text)
_FAILED = re.compile(r"ERROR [0-9]+|ERROR:|.*command not found")


@dataclass
class PleskConfig:
    """What Plesk says of its mail server: settings, whitelist, the MTA it runs."""

    snapshot: Snapshot
    settings: MailSettings | None  # None: not collected (`plesk db` failed, or a copy without it)
    whitelist: list[Entry] | None  # None: not collected
    switches: frozenset[str] | None  # of `plesk bin mailserver`; None: its --help was not collected
    mta: str | None  # postfix, qmail, msmtp, none; None: unknown
    version: str | None
    postfix: Postfix | None  # the Postfix system's model where Postfix is the MTA Plesk runs
    missing: dict[str, str] = field(default_factory=dict)  # snapshot file -> why it is not there
    assumptions: list[str] = field(default_factory=list)
    sources: dict[str, SourceFile] = field(default_factory=dict)


def load_plesk(snapshot: Snapshot, postfix: Postfix | None) -> PleskConfig:
    sources: dict[str, SourceFile] = {}
    unread = dict(snapshot.facts.unreadable)

    def source(name: str, what: str) -> SourceFile | None:
        real = snapshot.meta(name)
        why = None if real is not None else unread.get(name) or unread.get("/" + name) or "not in the snapshot"
        if real is not None:
            sources[name] = SourceFile.read(name, real, f"{snapshot.target}: {name}")
            first = sources[name].text().strip().split("\n")[0]
            if _FAILED.match(first):  # the query's error message kept in its place
                why = f"it holds what `plesk db` said when it failed: {first[:120]}"
        if why is None:
            return sources[name]
        missing[name] = why
        assumptions.append(f"{name} ({what}) is missing ({why}): what depends on it is not judged")
        return None

    missing: dict[str, str] = {}
    assumptions: list[str] = []
    conf = snapshot.resolve(layout.PSA_CONF)
    if conf is not None:
        shown = snapshot.display(layout.PSA_CONF)
        sources[shown] = SourceFile.read(shown, conf, f"{snapshot.target}: {shown}")
    settings_file = source(layout.SETTINGS, "Plesk's mail settings from `plesk db`")
    # an empty value may come without its tab
    settings = MailSettings({r.cells[0].strip(): r for r in rows(settings_file, 2, 1)}) if settings_file else None
    white_file = source(layout.WHITELIST, "Plesk's relay white list from `plesk db`")
    whitelist = entries(rows(white_file, 3, 1)) if white_file else None
    help_file = source(layout.HELP, "`plesk bin mailserver --help`")
    found = switches(help_file.text()) if help_file else None
    version = _version(source(layout.VERSION, "`plesk version`")) or snapshot.facts.versions.get("plesk")
    mta = _mta(snapshot, postfix, assumptions)
    if mta in ("qmail", "msmtp", "none"):
        assumptions.append(unanalysed(mta))
    return PleskConfig(snapshot, settings, whitelist, found, mta, version, postfix if mta == "postfix" else None,
                       missing, assumptions, sources)


def _version(source: SourceFile | None) -> str | None:
    """[V] `plesk version`: the last word of its `Product version:` line."""
    if source is None:
        return None
    m = re.search(r"^Product version:.*?(\S+)\s*$", source.text(), re.M)
    return m[1] if m else None


def _mta(snapshot: Snapshot, postfix: Postfix | None, assumptions: list[str]) -> str | None:
    real = snapshot.meta(layout.MTA)
    if real is not None:
        words = real.read_text(encoding="utf-8", errors="replace").split()
        word = words[0].lower() if words else ""
        if word in MTAS:
            return word
    if postfix is not None:
        assumptions.append(f"{layout.MTA} does not say which MTA Plesk runs: taking the Postfix in the snapshot")
        return "postfix"
    return None


def unanalysed(mta: str) -> str:
    what = {"qmail": "Plesk runs qmail, whose relay checks mailcfg does not model",
            "msmtp": "Plesk runs msmtp (no local MTA: mail is only relayed to a smarthost)",
            "none": "Plesk runs no MTA"}[mta]
    return (f"{what}: Plesk's own mail settings are judged, but no SMTP decision and no drift between "
            "them and the mail server are")
