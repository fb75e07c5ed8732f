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

# Exim for the differential tests (tests/realexim.py). Debian cannot install exim4 beside postfix,
# so its packages are unpacked into .exim/root and the binary is run from there.
exim_pkgs="exim4-daemon-light exim4-base exim4-config libidn12"
exim_root=.exim/root
exim_run() {
    LD_LIBRARY_PATH="$exim_root/usr/lib/x86_64-linux-gnu" "$exim_root/usr/sbin/exim4" "$@"
}
if [ ! -x "$exim_root/usr/sbin/exim4" ]; then
    mkdir -p .exim/debs
    # apt-get download runs as _apt where it can: a directory _apt may write avoids the sandbox warning.
    chown _apt .exim/debs 2>/dev/null || true
    # shellcheck disable=SC2086
    if ! (cd .exim/debs && apt-get download -qq $exim_pkgs) >/dev/null 2>&1; then
        apt-get update -qq  # a fresh machine has no package lists yet
        # shellcheck disable=SC2086
        (cd .exim/debs && apt-get download -qq $exim_pkgs) >/dev/null
    fi
    mkdir -p "$exim_root.new"
    for deb in .exim/debs/*.deb; do
        dpkg -x "$deb" "$exim_root.new"
    done
    mv "$exim_root.new" "$exim_root"  # only a complete tree counts as done
fi
# The Debian build looks the Exim user up by name when it starts.
getent passwd Debian-exim >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin Debian-exim
missing_libs=$(LD_LIBRARY_PATH="$exim_root/usr/lib/x86_64-linux-gnu" ldd "$exim_root/usr/sbin/exim4" | grep 'not found' || true)
if [ -n "$missing_libs" ]; then
    echo "exim4 in $exim_root lacks libraries (add their packages to exim_pkgs):" >&2
    echo "$missing_libs" >&2
    exit 1
fi
if ! exim_run -bV -C /dev/null 2>&1 | grep -q '^Exim version'; then
    echo "exim4 in $exim_root does not run:" >&2
    exim_run -bV -C /dev/null >&2
    exit 1
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
# An editable install compiles nothing, and with PYTHONDONTWRITEBYTECODE set no run would write the
# bytecode either: every mailcfg process would compile its ~200 modules again (~80 ms of each start).
.venv/bin/python -m compileall -q linter rules >/dev/null
