"""What the first step of a fetch runs on a Plesk host (POSIX sh, read-only), in the framed stream of
mailcfg.remote.collect (its `run`, `file` and `optional` functions).

Plesk is recognised by /etc/psa/psa.conf ([V]). Then: $PRODUCT_ROOT_D/version ([V], /usr/local/psa on RPM
systems, /opt/psa on DEB ones); `plesk version` ([V]); the mail settings and the
white list with read-only SELECTs through `plesk db -N -B -e` ([V] how Plesk's own code queries psa;
[V] misc names, [I] that the white list is the smtp_poplocks rows without a lock time); `plesk bin
mailserver --help` for the switches this version has; which MTA Plesk runs ([V] `mailmng-core` /
`mailmng --features` name it on an `SMTP_Server` line, checked first; [V] qmail's unit is asked before
Postfix's, as Plesk's own code does, since Postfix's unit stays behind when qmail is installed; msmtp
when neither runs and it is there); and Plesk's Berkeley DB maps under /var/spool/postfix/plesk/, which
have no text source ([V-3p]), dumped with `postmap -s` into text at the map's own path so the Postfix
analysis reads them like any table. Only the maps in mailcfg.plesk.layout.MAPS: never passwd.db,
passwd_db_key (credentials) or `mail_auth_view`.
A query that fails leaves its file out of the snapshot (named in facts.json as unreadable).
"""

from __future__ import annotations

from mailcfg.plesk import layout


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


SCRIPT = r"""
if [ -f __PSA_CONF__ ]; then
  file __PSA_CONF__
  optional /opt/psa/version
  plesk_mta() {
    root=$(sed -n 's/^PRODUCT_ROOT_D[[:space:]]*//p' __PSA_CONF__ 2>/dev/null | head -n 1)
    for m in "$root/admin/sbin/mailmng-core" "$root/admin/sbin/mailmng"; do
      if [ -x "$m" ]; then
        case "$("$m" --features 2>/dev/null | grep SMTP_Server)" in
          *[Pp]ostfix*) echo postfix; return 0 ;;
          *[Qq][Mm]ail*) echo qmail; return 0 ;;
        esac
      fi
    done
    if command -v systemctl >/dev/null 2>&1; then
      if systemctl is-active --quiet qmail 2>/dev/null; then echo qmail; return 0; fi
      if systemctl is-active --quiet postfix 2>/dev/null; then echo postfix; return 0; fi
    fi
    if command -v postconf >/dev/null 2>&1; then echo postfix; return 0; fi
    if command -v msmtp >/dev/null 2>&1; then echo msmtp; return 0; fi
    echo none
  }
  plesk_map() {
    if denied "$1.db"; then printf '=== ERR credentials-not-collected %s\n' "$1"; return 0; fi
    if ! out=$(postmap -s "hash:$1" 2>/dev/null); then printf '=== ERR unreadable %s\n' "$1"; return 0; fi
    size=$(printf '%s\n' "$out" | wc -c | tr -d ' ')
    printf '=== FILE %s %s\n' "$size" "$1"
    printf '%s\n\n' "$out"
  }
  run plesk-version plesk version
  run plesk-mail-settings.tsv plesk db -N -B -e __SETTINGS__
  run plesk-whitelist.tsv plesk db -N -B -e __WHITELIST__
  run plesk-mailserver-help plesk bin mailserver --help
  run plesk-mta plesk_mta
  for m in __MAPS__; do
    if [ -f "__DIR__$m.db" ] && command -v postmap >/dev/null 2>&1; then plesk_map "__DIR__$m"; fi
  done
fi
""".replace("__PSA_CONF__", layout.PSA_CONF).replace("__SETTINGS__", _quoted(layout.SETTINGS_QUERY)) \
    .replace("__WHITELIST__", _quoted(layout.WHITELIST_QUERY)).replace("__MAPS__", " ".join(layout.MAPS)) \
    .replace("__DIR__", layout.MAPS_DIR)
