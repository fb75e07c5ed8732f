#!/bin/sh
# Install everything mailcfg and its tests need on a Debian machine, as root:
# the MTAs the tests run for real, then a virtualenv in .venv with mailcfg and its test tools.
# Safe to run again: each step is skipped when its result is already there.
set -eu
cd "$(dirname "$0")/.."

need_pkgs=""
command -v python3 >/dev/null 2>&1 || need_pkgs="$need_pkgs python3"
command -v ip >/dev/null 2>&1 || need_pkgs="$need_pkgs iproute2"
[ -x /usr/sbin/postconf ] || need_pkgs="$need_pkgs postfix"
dpkg -s postfix-pcre >/dev/null 2>&1 || need_pkgs="$need_pkgs postfix-pcre"
[ -x /usr/sbin/dovecot ] || need_pkgs="$need_pkgs dovecot-core"
command -v openssl >/dev/null 2>&1 || need_pkgs="$need_pkgs openssl"  # test certificates
[ -x /usr/sbin/sshd ] || need_pkgs="$need_pkgs openssh-server"
command -v sudo >/dev/null 2>&1 || need_pkgs="$need_pkgs sudo"  # --become against the test sshd
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need_pkgs="$need_pkgs python3-venv"
if [ -n "$need_pkgs" ]; then
    export DEBIAN_FRONTEND=noninteractive
    # postfix's debconf would otherwise ask what kind of mail server this is.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $need_pkgs >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
# setuptools is chatty about data folders; keep its output for when something fails.
if ! { .venv/bin/python -m pip install -q --upgrade pip &&
       .venv/bin/python -m pip install -q -e '.[test]'; } >.venv/pip.log 2>&1; then
    cat .venv/pip.log >&2
    exit 1
fi
