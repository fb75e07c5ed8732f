"""Plesk as mailcfg sees it: a panel over the host's MTA. Its settings are read from what a fetch
collected (mailcfg.plesk.layout); the Postfix it generates is Postfix's to analyse (requires), and its
fixes reach a host through its own CLI (mailcfg.plesk.apply), never by editing files."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from mailcfg.plesk import layout
from mailcfg.plesk.collect import SCRIPT
from mailcfg.snapshot import Mount, Snapshot
from mailcfg.system import Layout, MailSystem, Model, output

if TYPE_CHECKING:
    from mailcfg.findings import Finding
    from mailcfg.fix import Fix
    from mailcfg.plesk.config import PleskConfig


def _detect(snapshot: Snapshot) -> bool:
    """A Plesk host: its psa.conf is in the snapshot ([V] /etc/psa/psa.conf), or the fetch found it and could
    not read it, or what a fetch collects from Plesk's CLI is there."""
    return snapshot.is_snapshot and (snapshot.resolve(layout.PSA_CONF) is not None or
                                     any(path == layout.PSA_CONF for path, _ in snapshot.facts.unreadable) or
                                     any(snapshot.meta(name) is not None for name in (layout.SETTINGS, layout.VERSION)))


# The reader, the review and the applier load with the first Plesk host, not with the list of systems
# (every run consults it: a plain Postfix target's lint, a fleet's start).
def _load(snapshot: Snapshot, models: Mapping[str, Model]) -> PleskConfig:
    from mailcfg.plesk.config import load_plesk

    return load_plesk(snapshot, models.get("postfix"))  # type: ignore[arg-type]


def _review(config: Model, finding: Finding, fix: Fix | None) -> tuple[Finding, Fix | None]:
    from mailcfg.plesk.review import review

    return review(config, finding, fix)  # type: ignore[arg-type]


def _applier():
    from mailcfg.plesk.apply import apply_plesk

    return apply_plesk


VERSION_FILE = "/usr/local/psa/version"
VERSION_FILES = (VERSION_FILE, "/opt/psa/version")  # $PRODUCT_ROOT_D/version: RPM, DEB systems ([V])


def _host_facts(files: Mapping[str, bytes], commands: Mapping[str, tuple[int, bytes]]) -> dict | None:
    version = next((files[p] for p in VERSION_FILES if p in files), None)
    if version is None and layout.PSA_CONF not in files:
        return None
    m = re.search(r"^Product version:.*?(\S+)\s*$", output(commands, "plesk-version") or "", re.M)
    words = (version or b"").decode("utf-8", "replace").split()
    return {"version": m[1]} if m else {"version": words[0]} if words else {}


def _single(_target: str, _path: Path) -> list[Mount]:
    return []  # Plesk's settings come only in a snapshot (its command outputs): no file stands for them


SYSTEM = MailSystem(
    name="plesk",
    title="Plesk",
    detect=_detect,
    load=_load,
    layout=Layout(directories=(layout.PSA_CONF.rsplit("/", 1)[0],),
                  looked_for="a snapshot with etc/psa/psa.conf (Plesk)", single=_single),
    requires=("postfix",),
    applier=_applier,
    collect=f"optional {VERSION_FILE}\n" + SCRIPT,
    first_files=(*VERSION_FILES, layout.PSA_CONF, *(layout.MAPS_DIR + m for m in layout.MAPS)),
    review=_review,
    # the relay mode first: the authorization types after it are set within relay mode auth
    fix_order=("plesk-relay-open", "plesk-smtp-auth-disabled", "plesk-pop-before-smtp", "plesk-whitelist-too-wide",
               "plesk-submission-disabled"),
    host_facts=_host_facts,
)
