"""How fix --apply checks and reloads Exim on a host (sh functions for mailcfg.remote.applyscript)."""

from __future__ import annotations

from mailcfg.remote.applyscript import Mta

# Exim is started again the way the host ran it: by its systemd unit (read from the daemon's
# cgroup), else by the init script, else by the command line the daemon was started with.
_EXIM = r"""exim_bin() { command -v exim4 2>/dev/null || command -v exim; }
pidfile() {
  for f in /run/exim4/exim.pid /var/run/exim4/exim.pid /run/exim.pid /var/run/exim.pid; do
    if [ -f "$f" ]; then echo "$f"; return 0; fi
  done
  return 1
}
daemon_pid() { f=$(pidfile) && p=$(cat "$f") && alive "$p" && echo "$p"; }
# after a SIGHUP the daemon re-executes itself under the same pid, and writes its pid file again
running() { daemon_pid >/dev/null || { [ -n "$noted" ] && alive "$noted"; }; }
note() {
  was_running=no unit="" args="" noted=""
  if p=$(daemon_pid); then
    was_running=yes noted=$p
    args=$(ps -o args= -p "$p" 2>/dev/null)
    unit=$(sed -n 's|^.*/\([^/]*\.service\)$|\1|p' "/proc/$p/cgroup" 2>/dev/null | head -n 1)
  fi
}
reload() { kill -HUP "$(daemon_pid || echo "$noted")" 2>&1; }
start() {
  if [ -n "$unit" ] && command -v systemctl >/dev/null 2>&1; then systemctl start "$unit" 2>&1
  elif [ -x /etc/init.d/exim4 ]; then /etc/init.d/exim4 start 2>&1
  elif [ -x /etc/init.d/exim ]; then /etc/init.d/exim start 2>&1
  else set -f; $args 2>&1; rc=$?; set +f; return $rc
  fi
}
"""
EXIM = Mta("Exim", _EXIM + r"""check() {
  if ! out=$("$(exim_bin)" -bV 2>&1 >/dev/null); then why="exim -bV failed: $out"; return 1; fi
}
""")
# Debian: the edited files are update-exim4.conf's input; it writes what Exim reads, after checking it.
EXIM_DEBIAN = Mta("Exim", _EXIM + r"""check() {
  if ! out=$(update-exim4.conf 2>&1); then why="update-exim4.conf failed: $out"; return 1; fi
  say generated
}
""")
