"""What the first step of a fetch runs for Postfix (POSIX sh, read-only), in the framed stream of
mailcfg.remote.collect (its `run` and `optional` functions): main.cf and master.cf, also where
`postconf -h config_directory` says they are, and postconf's effective values, version and services."""

from __future__ import annotations

FILES = ("/etc/postfix/main.cf", "/etc/postfix/master.cf")

SCRIPT = r"""
if command -v postconf >/dev/null 2>&1 || [ -d /etc/postfix ]; then
  cfg=/etc/postfix
  if command -v postconf >/dev/null 2>&1; then
    other=$(postconf -h config_directory 2>/dev/null)
    case "$other" in /*) cfg=$other ;; esac
  fi
  for d in /etc/postfix "$cfg"; do
    optional "$d/main.cf"
    optional "$d/master.cf"
  done
  run postconf-n postconf -n
  run postconf-d-mail_version postconf -d mail_version
  run postconf-M postconf -M
  run postconf-P postconf -P
fi
"""
