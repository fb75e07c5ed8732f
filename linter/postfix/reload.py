"""How fix --apply checks and reloads Postfix on a host (sh functions for mailcfg.remote.applyscript)."""

from __future__ import annotations

from mailcfg.remote.applyscript import Mta

POSTFIX = Mta("Postfix", r"""running() { command -v postfix >/dev/null 2>&1 && postfix status >/dev/null 2>&1; }
note() {
  was_running=no
  if running; then was_running=yes; fi
  warned=$(postconf -n 2>&1 >/dev/null | sort)
}
check() {
  if ! out=$(postfix check 2>&1); then why="postfix check failed: $out"; return 1; fi
  now=$(postconf -n 2>&1 >/dev/null | sort)
  new=$(printf '%s\n' "$now" | while IFS= read -r line; do
    case "$NL$warned$NL" in *"$NL$line$NL"*) ;; *) printf '%s ' "$line" ;; esac
  done)
  if [ -n "$new" ]; then why="postconf warns: $new"; return 1; fi
  return 0
}
reload() { postfix reload 2>&1; }
start() { postfix start 2>&1; }
""")
