"""Where a snapshot keeps what a fetch collected from a Plesk host (DESIGN.md, "Plesk hosts add").

Facts behind the collection, with their tags (../shared/reference/plesk*.md):
- [V] /etc/psa/psa.conf (`KEY value` lines) marks a Plesk host; `plesk version`, `plesk db -N -B -e`,
  `plesk bin <utility>` are how Plesk's own code calls its CLI.
- [V] psa.misc holds `param`/`val` rows; the names relay, disable_smtp_auth, disable_pop_auth,
  poplock_time and message_submission are those Plesk's backup agent reads ([I] that they are rows of misc).
- [V] psa.smtp_poplocks(ip_address, ip_mask, lock_time); [I] the white list is its rows without a lock
  time (the rows with one are POP-before-SMTP locks).
- [V-3p] Plesk's maps under /var/spool/postfix/plesk/ are Berkeley DB files with no text source, so
  their contents are collected with `postmap -s` and kept as text at the map's own path.
"""

from __future__ import annotations

PSA_CONF = "/etc/psa/psa.conf"
CMD = ".mailcfg-host/cmd/"
VERSION = CMD + "plesk-version.txt"
SETTINGS = CMD + "plesk-mail-settings.tsv"
WHITELIST = CMD + "plesk-whitelist.tsv"
HELP = CMD + "plesk-mailserver-help.txt"
MTA = CMD + "plesk-mta.txt"

# psa.misc rows the analysis reads ([V] names, from Plesk's backup agent)
SETTING_NAMES = ("relay", "disable_smtp_auth", "disable_pop_auth", "poplock_time", "message_submission")
SETTINGS_QUERY = ("SELECT param, val FROM misc WHERE param IN ("
                  + ",".join(f"'{n}'" for n in SETTING_NAMES) + ")")
WHITELIST_QUERY = "SELECT ip_address, ip_mask FROM smtp_poplocks WHERE lock_time IS NULL"

MAPS_DIR = "/var/spool/postfix/plesk/"
# The maps main.cf and master.cf name ([V-3p] table in plesk-postfix.md §1.6), by allow-list: never
# passwd.db or passwd_db_key (credentials), nor certs (paths to private keys, no relay decision).
MAPS = ("virtual_domains", "vmailbox", "virtual", "transport", "aliases", "blacklists", "sdd_transport_maps",
        "poplock")
