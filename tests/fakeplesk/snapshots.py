"""Snapshots of stand-in Plesk hosts in the DESIGN.md layout, as `mailcfg fetch` writes them, for rule tests."""

from __future__ import annotations

import shutil
from pathlib import Path

from fakeplesk import plesk

SETTING_NAMES = ("relay", "disable_smtp_auth", "disable_pop_auth", "poplock_time", "message_submission")


def snapshot(root: Path, settings: dict[str, str] | None = None, whitelist: list[str] = (), mta: str = "postfix",
             without: tuple[str, ...] = (), help_text: str = plesk.HELP) -> Path:
    """A Plesk host with these settings (the stand-in's defaults for the rest) and white list, its Postfix
    files as the stand-in generates them; `without` names .mailcfg-host/cmd files left out."""
    plesk.install(root, settings, list(whitelist))
    with plesk.connect(root) as db:
        misc, white = plesk.state(db)
    (root / plesk.DB).unlink()  # the stand-in's database is no part of what a fetch collects
    if mta != "postfix":
        shutil.rmtree(root / "etc/postfix")
    cmd = root / ".mailcfg-host/cmd"
    cmd.mkdir(parents=True)
    files = {"plesk-mail-settings.tsv": "".join(f"{p}\t{v}\n" for p, v in misc.items() if p in SETTING_NAMES),
             "plesk-whitelist.tsv": "".join(f"{a}\t{m}\n" for a, m in white),
             "plesk-mailserver-help.txt": help_text, "plesk-version.txt": plesk.VERSION, "plesk-mta.txt": mta + "\n"}
    for name, text in files.items():
        if name not in without:
            (cmd / name).write_text(text)
    (root / ".mailcfg-host/facts.json").write_text('{"hostname": "plesk.example.com", "systems": {"plesk": {}}}\n')
    return root
