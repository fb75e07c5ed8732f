"""A stand-in Plesk host (tests/fakeplesk) served by the real sshd: fetched and linted, fixed with
`fix --apply` through Plesk's CLI only, and the main.cf Plesk then writes proven on the real Postfix
(XCLIENT harness): outsiders no longer relay, logged-in users still do. A command that fails is rolled
back to the previous settings."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import realpostfix as rp
from fakeplesk import plesk
from mailcfg.lint import lint_path
from mailcfg.transaction import Probe
from realsshd import Sshd, available

pytestmark = pytest.mark.skipif(not available(), reason="needs root, unshare and sshd")

FAKEPLESK = Path(plesk.__file__)
BASE = """\
compatibility_level = 3.6
myhostname = mx1.example.org
mydestination = $myhostname, localhost
alias_maps =
local_recipient_maps =
smtpd_tls_cert_file = /etc/postfix/tls/harness-cert.pem
smtpd_tls_key_file = /etc/postfix/tls/harness-key.pem
smtpd_tls_security_level = may
"""
OUTSIDER = Probe("198.51.100.7", "victim@foreign.example", "someone@outside.example", "web1.example.org",
                 service="smtp")
USER = Probe("198.51.100.8", "friend@foreign.example", "alice@example.org", "laptop.example.net", sasl_user="alice",
             tls=True, service="submission")


class PleskHost:
    """/etc/psa (psa.conf, the stand-in's psa database), /etc/postfix and Plesk's maps, with the stand-in
    `plesk` on the PATH, as the sshd's namespace serves them."""

    def __init__(self, base: Path):
        self.root = base / "host"
        self.conf = self.root / "etc/postfix"
        (self.conf / "tls").mkdir(parents=True)
        for src, name in zip(rp.make_certificate(base / "tls"), ("harness-cert.pem", "harness-key.pem"), strict=True):
            shutil.copy(src, self.conf / "tls" / name)
        self.maps = self.root / "var/spool/postfix/plesk"
        self.maps.mkdir(parents=True)
        (self.maps / "virtual_domains").write_text("example.org\tVIRTUAL\n")
        (self.maps / "passwd").write_text("alice@example.org\tsecret\n")
        (self.conf / "main.cf").write_text(BASE)
        for name in ("virtual_domains", "passwd"):  # Berkeley DB files with no text source beside them
            subprocess.run(["postmap", "-c", str(self.conf), f"hash:{self.maps / name}"], check=True)
            (self.maps / name).unlink()
        sbin = base / "sbin"
        sbin.mkdir()
        shutil.copy(FAKEPLESK, sbin / "plesk")
        os.chmod(sbin / "plesk", 0o755)
        self.reset()
        self.sshd = Sshd(base, self.conf, mounts={"/etc/psa": self.root / "etc/psa", "/usr/local/sbin": sbin,
                                                  "/var/spool/postfix/plesk": self.maps})
        self.kh = self.sshd.known_hosts(base / "known_hosts")
        self.home = base

    def reset(self, settings: dict[str, str] | None = None) -> None:
        """Relay mode open, the rest Plesk's defaults, and main.cf/master.cf as Plesk writes them."""
        (self.root / plesk.DB).unlink(missing_ok=True)
        (self.conf / "main.cf").write_text(BASE)
        (self.conf / "master.cf").write_text(rp.master_cf(["smtp      inet  n       -       n       -       -       "
                                                           "smtpd"]))
        plesk.install(self.root, {"relay": "open", **(settings or {})})

    def relay(self) -> str:
        with sqlite3.connect(self.root / plesk.DB) as db:
            return dict(db.execute("SELECT param, val FROM misc"))["relay"]

    def options(self):
        from mailcfg.remote.ssh import SshOptions

        return SshOptions(known_hosts=self.kh, identity=self.sshd.client_key)

    def fetch(self, dest: Path) -> None:
        """`mailcfg fetch` in process (the command line is tested where it is what is tested)."""
        from mailcfg.remote.fetch import fetch
        from mailcfg.remote.hosts import HostSpec

        fetch(HostSpec.from_url(self.sshd.url()), self.options(), dest)

    def mailcfg(self, *args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"} | {"HOME": str(self.home), "NO_COLOR": "1"}
        return subprocess.run([sys.executable, "-m", "mailcfg", *args, "--known-hosts", str(self.kh), "--identity",
                               str(self.sshd.client_key)], capture_output=True, text=True, env=env, timeout=180,
                              check=False)


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    h = PleskHost(tmp_path_factory.mktemp("plesk-host"))
    yield h
    h.sshd.stop()


def test_fetch_and_lint_a_plesk_host(host, tmp_path):
    host.reset()
    snap = tmp_path / "snap"
    host.fetch(snap)
    cmd = snap / ".mailcfg-host/cmd"
    assert "relay\topen" in (cmd / "plesk-mail-settings.tsv").read_text().splitlines()
    assert (cmd / "plesk-whitelist.tsv").read_text() == "\n"  # no white-list row: one empty line
    assert "--set-relay" in (cmd / "plesk-mailserver-help.txt").read_text()
    assert (cmd / "plesk-mta.txt").read_text().split() == ["postfix"]
    assert (snap / "etc/psa/psa.conf").is_file()
    # Plesk's maps as text at their own paths; never the password map
    assert (snap / "var/spool/postfix/plesk/virtual_domains").read_text() == "example.org\tVIRTUAL\n"
    assert not list(snap.rglob("passwd.db")) and not (snap / "var/spool/postfix/plesk/passwd").exists()
    result = lint_path(str(snap))
    assert result.status == "ok", result.error
    assert "plesk" in result.systems
    ids = {f.rule for f in result.findings}
    assert {"plesk-relay-open", "postfix-open-relay"} <= ids
    relay = next(f for f in result.findings if f.rule == "postfix-open-relay")
    assert "plesk-relay-open" in relay.message and relay.fix is None  # the fix goes through Plesk


def test_fix_apply_closes_the_relay_through_plesk_and_the_real_postfix_agrees(host, tmp_path):
    host.reset()
    out = host.mailcfg("fix", host.sshd.url(), "--apply")
    assert host.relay() == "auth", out.stderr
    assert "applied" in out.stderr, out.stderr
    main = (host.conf / "main.cf").read_text()
    assert "permit_sasl_authenticated, reject_unauth_destination" in main  # written by the stand-in Plesk
    snap = tmp_path / "after"
    shutil.copytree(host.conf, snap / "etc/postfix")
    rp.finish_snapshot(snap)
    with rp.Harness(tmp_path / "harness", instances=1) as harness:
        outsider, user = harness.run([(snap, [OUTSIDER, USER])])[0]
    # Plesk's smtpd_relay_restrictions end in defer_unauth_destination ([V-3p]): 454 4.7.1 first
    assert outsider.action in ("reject", "defer") and outsider.reply.endswith("Relay access denied"), \
        outsider.transcript
    assert user.action == "accept", (user.reply, user.transcript)


def test_a_failing_plesk_command_is_rolled_back(host):
    host.reset()
    (host.root / "etc/psa/fail-once").write_text("--set-relay\n")
    out = host.mailcfg("fix", host.sshd.url(), "--apply")
    assert "rolled-back" in out.stderr, out.stderr
    assert host.relay() == "open"
    assert not (host.root / "etc/psa/fail-once").exists()


def test_settings_changed_since_the_snapshot_are_left_alone(host, tmp_path):
    from mailcfg.fixer import fix_target
    from mailcfg.plesk.apply import apply_plesk
    from mailcfg.remote.hosts import HostSpec
    from mailcfg.remote.ssh import load_known_hosts

    host.reset()
    host.fetch(tmp_path / "snap")
    run = fix_target(str(tmp_path / "snap"))
    assert [f.rule for f in run.applied] == ["plesk-relay-open"]
    with sqlite3.connect(host.root / plesk.DB) as db:  # someone changes Plesk's settings meanwhile
        db.execute("UPDATE misc SET val = 'false' WHERE param = 'message_submission'")
    done = apply_plesk(HostSpec.from_url(host.sshd.url()), host.options(), run, lambda: pytest.fail("no re-check"),
                       load_known_hosts(host.options()))
    assert done.status == "refused" and "changed since the snapshot" in done.detail
    assert host.relay() == "open"
