"""Snapshots of stand-in Plesk hosts in the DESIGN.md layout, as `mailcfg fetch` writes them, for rule tests."""

from __future__ import annotations

import shutil
from pathlib import Path

from fakeplesk import plesk

SETTING_NAMES = ("relay", "disable_smtp_auth", "disable_pop_auth", "poplock_time", "message_submission")


# The rest of a Plesk main.cf ([V-3p] plesk.md §3.1, the parts that are not relay settings): Plesk's
# maps, which a fetch dumps into text at their own paths (mailcfg.plesk.collect), and TLS.
BASE_MAIN_CF = """\
myhostname = plesk.example.com
alias_maps = hash:/etc/aliases, hash:/var/spool/postfix/plesk/aliases
virtual_mailbox_domains = $virtual_mailbox_maps, hash:/var/spool/postfix/plesk/virtual_domains
virtual_alias_maps = $virtual_maps, hash:/var/spool/postfix/plesk/virtual
virtual_mailbox_maps = , hash:/var/spool/postfix/plesk/vmailbox
transport_maps = , hash:/var/spool/postfix/plesk/transport
smtpd_sender_restrictions = check_sender_access hash:/var/spool/postfix/plesk/blacklists, permit_sasl_authenticated
virtual_mailbox_base = /var/qmail/mailnames
virtual_uid_maps = static:30
virtual_gid_maps = static:31
smtpd_tls_cert_file = /etc/postfix/plesk.pem
smtpd_tls_key_file = /etc/postfix/plesk.pem
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
"""
MAPS = {"aliases": "", "virtual_domains": "example.com\tVIRTUAL\n", "virtual": "",
        "vmailbox": "info@example.com\texample.com/info/Maildir/\n", "transport": "", "blacklists": ""}


def snapshot(root: Path, settings: dict[str, str] | None = None, whitelist: list[str] = (), mta: str = "postfix",
             without: tuple[str, ...] = (), help_text: str = plesk.HELP, base: str = BASE_MAIN_CF) -> Path:
    """A Plesk host with these settings (the stand-in's defaults for the rest) and white list, its Postfix
    files as the stand-in generates them over `base`; `without` names .mailcfg-host/cmd files left out."""
    (root / "etc/postfix").mkdir(parents=True)
    (root / "etc/postfix/main.cf").write_text(base)
    (root / "etc/postfix/plesk.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    (root / "etc/aliases").write_text("postmaster: root\n")
    for name, text in MAPS.items():
        (root / plesk.MAPS_DIR.lstrip("/") / name).parent.mkdir(parents=True, exist_ok=True)
        (root / plesk.MAPS_DIR.lstrip("/") / name).write_text(text)
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
