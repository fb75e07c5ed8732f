#!/bin/sh
# Regenerate linter/exim/data/options.txt from the unpacked Exim (scripts/setup.sh puts it in .exim/root):
# the main options with their built-in values (`exim -bP` on an empty config) and each driver's options.
set -eu
cd "$(dirname "$0")/.."
root=.exim/root
exim() { LD_LIBRARY_PATH=$root/usr/lib/x86_64-linux-gnu "$root/usr/sbin/exim4" "$@" 2>/dev/null; }
conf=$(mktemp)
trap 'rm -f "$conf"' EXIT
# One instance of every driver the binary has, with just enough options to pass -bV.
cat >"$conf" <<'CONF'
begin routers
accept:
  driver = accept
  transport = smtp
dnslookup:
  driver = dnslookup
  transport = smtp
ipliteral:
  driver = ipliteral
  transport = smtp
manualroute:
  driver = manualroute
  transport = smtp
  route_list = * 192.0.2.1
queryprogram:
  driver = queryprogram
  command = /bin/true
  command_user = nobody
redirect:
  driver = redirect
  data = x
begin transports
appendfile:
  driver = appendfile
  file = /tmp/x
lmtp:
  driver = lmtp
  command = /bin/true
pipe:
  driver = pipe
  command = /bin/true
smtp:
  driver = smtp
autoreply:
  driver = autoreply
begin authenticators
cram_md5:
  driver = cram_md5
  public_name = CRAM-MD5
external:
  driver = external
  public_name = EXTERNAL
plaintext:
  driver = plaintext
  public_name = PLAIN
CONF
out=linter/exim/data/options.txt
{
  echo "# Exim $(exim -C /dev/null -bV | sed -n 's/^Exim version \([^ ]*\).*/\1/p') (Debian exim4-daemon-light): written by scripts/exim-option-data.sh"
  echo "[main]"
  # values that describe the build machine, not Exim, are left out
  exim -C /dev/null -bP | grep -v '^\(primary_hostname\|smtp_active_hostname\|qualify_domain\|qualify_recipient\) '
  for kind in router transport authenticator; do
    for name in $(exim -C "$conf" -bP "${kind}_list"); do
      echo "[$kind $name]"
      exim -C "$conf" -bP "$kind" "$name" | grep -v ":$" | sed -n 's/^\(no_\|not_\)\{0,1\}\([a-z0-9_]*\).*/\2/p' | sort -u
    done
  done
} >"$out"
# Exim's built-in macros (_HAVE_*, _OPT_*, _DRIVER_*...): `.ifdef _HAVE_TLS` tests these.
{
  echo "# Exim built-in macros of the Debian exim4-daemon-light build: written by scripts/exim-option-data.sh"
  exim -C /dev/null -bP macros
} >linter/exim/data/builtin-macros.txt
