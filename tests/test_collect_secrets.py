"""A fetch collects what the analysis reads and never a credential (issue 12, items 1-2).

A real sshd serves a host (tests/realsshd.py) with Postfix and Debian Exim configurations that name
password maps (directly, through proxy_read_maps' default, through `$name`, on a continuation line,
in a master.cf `-o`), TLS and DKIM keys and Exim's passwd files, each holding a unique canary. No
canary may reach the snapshot, the JSON or any output, while the tables the decisions use are
collected and the host lints exactly as a local copy of the same files does.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import uuid
from pathlib import Path

import pytest
import realexim as rx
from conftest import named_apart
from mailcfg.postfix.maincf import parse_main_cf
from mailcfg.remote.collect import Collected, parse_stream, send_script
from mailcfg.remote.plan import plan, withhold_secrets
from mailcfg.remote.redact import redact
from mailcfg.source import SourceFile
from realsshd import Sshd, available, served_conf
from test_ssh import mailcfg

pytestmark = pytest.mark.skipif(not available() or rx.available() is not None,
                                reason="needs Debian's sshd, unshare, root and the unpacked Exim (scripts/setup.sh)")

CANARY = f"CANARY-{uuid.uuid4().hex}"

MAIN_CF = f"""compatibility_level = 3.6
myhostname = mx1.example.org
mydomain = example.org
mydestination = $myhostname, $mydomain, localhost
inet_interfaces = all
mynetworks = 127.0.0.0/8, cidr:/etc/postfix/networks.cidr
relay_domains = /etc/postfix/relay_domains_list
my_auth = texthash:/etc/postfix/relay_credentials
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd,
    $my_auth,
    inline:{{ [relay.example]:587=user:{CANARY},
        [other.example]:587=user2:{CANARY} }}
lmtp_sasl_password_maps =
    proxy:hash:/etc/postfix/lmtp_passwd, static:user:{CANARY}
smtpd_relay_restrictions = permit_mynetworks,
    check_client_access hash:/etc/postfix/client_access,
    check_helo_access hash:/etc/postfix/helo_access,
    permit_sasl_authenticated,
    reject_unauth_destination
smtpd_recipient_restrictions = check_recipient_access pcre:/etc/postfix/recipient_access.pcre
smtpd_etrn_restrictions = check_client_access hash:/etc/postfix/linked_access,
    check_client_access hash:/etc/postfix/linked_credentials
local_recipient_maps = hash:/etc/postfix/local_users
smtpd_tls_cert_file = /etc/postfix/tls/mx1.crt
smtpd_tls_key_file = /etc/postfix/tls/mx1.key
smtpd_tls_security_level = may
"""
MASTER_CF = f"""smtp      inet  n       -       y       -       -       smtpd
relay     unix  -       -       n       -       -       smtp
  -o smtp_sasl_password_maps=hash:/etc/postfix/relay_passwd
  -o lmtp_sasl_password_maps=inline:{{relay=user:{CANARY}}}
"""
TABLES = {  # what the decisions read: each must be collected
    "networks.cidr": "192.0.2.0/24 OK\n",
    "relay_domains_list": "relayed.example\n",
    "client_access": "198.51.100.9 OK\n",
    "helo_access": "# the web servers\nweb1.example.org OK\n",  # an open relay only this table shows
    "recipient_access.pcre": "/^abuse@/ check_sender_access hash:/etc/postfix/sender_access\n",
    "sender_access": "spam.example REJECT\n",  # named only inside an access table's result: a second round
    "local_users": "alice@example.org x\n",
}
SECRETS = ("sasl_passwd", "sasl_passwd.db", "relay_credentials", "lmtp_passwd", "relay_passwd",
           "tls/mx1.key")
# tables a restriction list names that are symbolic links to secrets: one by its name, one named by a
# setting (in the ETRN list, which no relay decision consults, so that linting is unchanged)
LINKS = {"linked_access": "sasl_passwd", "linked_credentials": "relay_credentials"}
EXIM_SETTINGS = """dc_eximconfig_configtype='internet'
dc_other_hostnames='example.org'
dc_local_interfaces=''
dc_relay_domains=''
dc_relay_nets='192.0.2.0/24'
dc_use_split_config='true'
"""
EXIM_MACROS = """MAIN_TLS_ENABLE = yes
MAIN_TLS_CERTIFICATE = /etc/exim4/exim.crt
MAIN_TLS_PRIVATEKEY = /etc/exim4/exim.key
DKIM_DOMAIN = example.org
DKIM_SELECTOR = mail
DKIM_PRIVATE_KEY = /etc/exim4/dkim/example.org.private
"""
EXIM_INLINE = {  # secrets written in the configuration: an option marked `hide` (one every build knows)
    # and a client authenticator's secret
    "main/90_mailcfg_hidden": f"hide smtp_banner = $smtp_active_hostname ESMTP {CANARY} \\\n    {CANARY}\n",
    "auth/90_mailcfg_client": f"mailcfg_client:\n  driver = cram_md5\n  public_name = X-MAILCFG\n"
                              f"  client_name = user\n  client_secret = {CANARY}\n",
}
EXIM_SECRETS = ("passwd", "passwd.client", "exim.key", "dkim/example.org.private")
EXIM_WRAPPER = f"""#!/bin/sh
LD_LIBRARY_PATH={rx.LIBDIR} exec {rx.EXIM} "$@"
"""


class Host:
    """/etc/postfix, /etc/exim4, /var/lib/exim4 and a working `exim` for the sshd to serve."""

    def __init__(self, base: Path):
        self.postfix = base / "etc-postfix"
        (self.postfix / "tls").mkdir(parents=True)
        (self.postfix / "main.cf").write_text(MAIN_CF)
        (self.postfix / "master.cf").write_text(MASTER_CF)
        for name, text in TABLES.items():
            (self.postfix / name).write_text(text)
        (self.postfix / "tls/mx1.crt").write_text("-----BEGIN CERTIFICATE-----\nnot a secret\n")
        for name in SECRETS:
            (self.postfix / name).write_text(f"[smtp.example.net]:587 user:{CANARY}\n")
        for name, target in LINKS.items():
            (self.postfix / name).symlink_to(target)  # relative: inside a local copy too
        self.exim4 = rx.stock_confdir(base / "etc-exim4")
        (self.exim4 / "update-exim4.conf.conf").write_text(EXIM_SETTINGS)
        (self.exim4 / "exim4.conf.localmacros").write_text(EXIM_MACROS)
        (self.exim4 / "local_host_blacklist").write_text("198.51.100.66\n")  # named by Debian's RCPT ACL
        for part, text in EXIM_INLINE.items():
            (self.exim4 / "conf.d" / part).write_text(text)
        (self.exim4 / "dkim").mkdir()
        (self.exim4 / "exim.crt").write_text("-----BEGIN CERTIFICATE-----\nnot a secret\n")
        for name in EXIM_SECRETS:
            (self.exim4 / name).write_text(f"*:user:{CANARY}\n")
        self.lib = base / "var-lib-exim4"
        self.lib.mkdir()
        rx.debian_generate(self.exim4, self.lib / "config.autogenerated", mailname=base / "no-mailname")
        sbin = base / "sbin"
        sbin.mkdir()
        for name in ("exim4", "exim"):
            (sbin / name).write_text(EXIM_WRAPPER)
            os.chmod(sbin / name, 0o755)
        self.sshd = Sshd(base, self.postfix, mounts={"/etc/exim4": self.exim4, "/var/lib/exim4": self.lib,
                                                      "/usr/local/sbin": sbin})
        self.ssh = ("--known-hosts", str(self.sshd.known_hosts(base / "known_hosts")),
                    "--identity", str(self.sshd.client_key))

    def local_copy(self, at: Path, facts: Path) -> Path:
        """The same files laid out as a snapshot by the test, secrets included (as on the host)."""
        shutil.copytree(self.postfix, at / "etc/postfix", symlinks=True)
        shutil.copytree(self.exim4, at / "etc/exim4")
        shutil.copytree(self.lib, at / "var/lib/exim4")
        for name in ("passwd", "hosts", "mailname", "aliases"):
            if Path("/etc", name).is_file():
                shutil.copyfile(Path("/etc", name), at / "etc" / name)
        (at / ".mailcfg-host").mkdir()
        shutil.copyfile(facts, at / ".mailcfg-host/facts.json")
        return at


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    h = Host(tmp_path_factory.mktemp("secrets"))
    yield h
    h.sshd.stop()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def no_canary_under(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path


def test_fetch_collects_the_tables_the_analysis_reads_and_no_secret(host, home, tmp_path):
    snap = tmp_path / "snap"
    out = mailcfg(home, "fetch", host.sshd.url(), "-o", str(snap), *host.ssh)
    assert out.returncode == 0, out.stderr
    assert CANARY not in out.stdout + out.stderr
    no_canary_under(snap)
    for name, text in TABLES.items():
        assert (snap / "etc/postfix" / name).read_text() == text, name
    for name in (*SECRETS, *LINKS):
        assert not (snap / "etc/postfix" / name).exists(), name
    for name in LINKS:
        assert f"/etc/postfix/{name} not read (credentials-not-collected)" in out.stderr
    for name in EXIM_SECRETS:
        assert not (snap / "etc/exim4" / name).exists(), name
    assert (snap / "etc/exim4/local_host_blacklist").read_text() == "198.51.100.66\n"
    assert (snap / "etc/exim4/conf.d/acl/30_exim4-config_check_rcpt").is_file()
    got = (snap / "var/lib/exim4/config.autogenerated").read_text().splitlines()
    want = (host.lib / "config.autogenerated").read_text().splitlines()
    assert len(got) == len(want)
    # only secrets differ (and Debian's own client options, which look passwd.client up)
    assert [g for g, w in zip(got, want, strict=True) if g != w and "mailcfg-redacted" not in g] == []
    # `exim -bP config` (hidden values as root) is not run; `-bP config_file` names the file
    # inline secrets: replaced in place, line for line, and listed in the facts
    for name, text in (("main.cf", MAIN_CF), ("master.cf", MASTER_CF)):
        got = (snap / "etc/postfix" / name).read_text()
        assert len(got.splitlines()) == len(text.splitlines()) and "mailcfg-redacted" in got, got
    for part, text in EXIM_INLINE.items():
        got = (snap / "etc/exim4/conf.d" / part).read_text()
        assert len(got.splitlines()) == len(text.splitlines()) and "mailcfg-redacted" in got, got
    redacted = {(r["path"], r["line"], r["setting"])
                for r in json.loads((snap / ".mailcfg-host/facts.json").read_text())["redacted"]}
    assert {("/etc/postfix/main.cf", 12, "smtp_sasl_password_maps"), ("/etc/postfix/main.cf", 15,
             "lmtp_sasl_password_maps"), ("/etc/postfix/master.cf", 4, "lmtp_sasl_password_maps"),
            ("/etc/exim4/conf.d/main/90_mailcfg_hidden", 1, "smtp_banner"),
            ("/etc/exim4/conf.d/auth/90_mailcfg_client", 5, "client_secret")} <= redacted, redacted
    assert any(p == ".mailcfg-host/cmd/postconf-n.txt" for p, _, _ in redacted), redacted
    cmd = snap / ".mailcfg-host/cmd"
    assert not (cmd / "exim-bP-config.txt").exists()
    assert (cmd / "exim-bP-config_file.txt").read_text().strip() == "/var/lib/exim4/config.autogenerated"
    for path in [snap, *snap.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def test_lint_of_the_host_equals_lint_of_a_local_copy_with_the_secrets(host, home, tmp_path):
    out = mailcfg(home, "lint", "-f", "json", host.sshd.url(), *host.ssh)
    assert out.returncode == 1, out.stderr
    assert CANARY not in out.stdout + out.stderr
    [remote] = json.loads(out.stdout)["targets"]
    assert remote["status"] == "ok" and sorted(remote["systems"]) == ["exim", "postfix"]
    snap = tmp_path / "snap"
    assert mailcfg(home, "fetch", host.sshd.url(), "-o", str(snap), *host.ssh).returncode == 0
    local = host.local_copy(tmp_path / "local", snap / ".mailcfg-host/facts.json")
    out = mailcfg(home, "lint", "-f", "json", str(local))
    [copy] = json.loads(out.stdout)["targets"]
    assert named_apart(remote["findings"]) == named_apart(copy["findings"])
    assert ("postfix-open-relay", "etc/postfix/helo_access", 2) in \
        {(f["rule"], f["file"], f["line"]) for f in remote["findings"]}
    for fmt in ("text", "sarif"):
        out = mailcfg(home, "lint", "-f", fmt, host.sshd.url(), *host.ssh)
        assert out.returncode == 1 and CANARY not in out.stdout + out.stderr


def test_fetch_into_an_earlier_snapshot_replaces_only_what_it_collects(host, home, tmp_path):
    snap = tmp_path / "snap"
    assert mailcfg(home, "fetch", host.sshd.url(), "-o", str(snap), *host.ssh).returncode == 0
    (snap / "NOTES.md").write_text("mine\n")
    (snap / "etc/postfix/old-table").write_text("kept\n")
    (snap / "etc/postfix/client_access").write_text("edited locally\n")
    (snap / ".mailcfg-host/cmd/exim-bP-config.txt").write_text("from an older mailcfg\n")
    assert mailcfg(home, "fetch", host.sshd.url(), "-o", str(snap), *host.ssh).returncode == 0
    assert (snap / "NOTES.md").read_text() == "mine\n"
    assert (snap / "etc/postfix/old-table").read_text() == "kept\n"
    assert (snap / "etc/postfix/client_access").read_text() == TABLES["client_access"]
    assert not (snap / ".mailcfg-host/cmd/exim-bP-config.txt").exists()  # stale metadata goes


def test_fetch_never_writes_through_a_symbolic_link_in_an_earlier_snapshot(host, home, tmp_path):
    snap, outside = tmp_path / "snap", tmp_path / "outside"
    assert mailcfg(home, "fetch", host.sshd.url(), "-o", str(snap), *host.ssh).returncode == 0
    outside.mkdir()
    (outside / "client_access").write_text("not the snapshot's\n")
    (snap / "etc/postfix/client_access").unlink()
    (snap / "etc/postfix/client_access").symlink_to(outside / "client_access")
    shutil.rmtree(snap / "var/lib/exim4")
    (snap / "var/lib/exim4").symlink_to(outside)
    out = mailcfg(home, "fetch", host.sshd.url(), "-o", str(snap), *host.ssh)
    assert out.returncode == 0, out.stderr
    assert (outside / "client_access").read_text() == "not the snapshot's\n"
    assert sorted(p.name for p in outside.iterdir()) == ["client_access"]
    assert (snap / "etc/postfix/client_access").read_text() == TABLES["client_access"]  # the link replaced
    assert "/var/lib/exim4/config.autogenerated not read (conflicting-path)" in out.stderr


def collected(files: dict[str, str]) -> Collected:
    return Collected(files={path: text.encode() for path, text in files.items()})


def test_plan_never_asks_for_a_file_a_credential_setting_names_whatever_the_indirection():
    main_cf = ("relay_recipient_maps = $creds, hash:/etc/postfix/relay_recipients\n"
               "creds = proxy:texthash:/etc/postfix/creds\n"
               "smtp_sasl_password_maps = ${creds}\n"
               "smtpd_client_restrictions = check_client_access $key_table\n"
               "key_table = cidr:/etc/postfix/tls/key.cidr\n"
               "smtpd_tls_eckey_file = /etc/postfix/tls/key.cidr\n"
               # hostile list entries: a host key, a process environment, a way out of /etc/postfix
               "mynetworks = /etc/ssh/ssh_host_ed25519_key, /proc/self/environ, cidr:/etc/postfix/../shadow\n")
    exim = ("domainlist local_domains = @ : lsearch;/etc/exim4/passwd.client : /etc/exim4/domains\n"
            "begin acl\nacl_check_rcpt:\n  accept hosts = lsearch;/etc/exim4/auth_users\n"
            "begin authenticators\nplain:\n  driver = plaintext\n  public_name = PLAIN\n"
            "  server_condition = ${lookup{$auth2}lsearch{/etc/exim4/auth_users}{yes}{no}}\n")
    step = plan(collected({"/etc/postfix/main.cf": main_cf, "/etc/exim4/exim4.conf": exim}))
    assert step.wanted == ["/etc/exim4/domains", "/etc/postfix/relay_recipients"]
    assert {"/etc/postfix/creds", "/etc/postfix/tls/key.cidr", "/etc/exim4/auth_users"} <= step.secrets


def test_phase_two_paths_are_data_never_shell(tmp_path):
    marker = tmp_path / "ran"
    hostile = [f"/tmp/x$(touch {marker})", f"/tmp/`touch {marker}`", "/tmp/a b", "/tmp/x'\"; touch y"]
    script = send_script(hostile)
    out = subprocess.run(["sh", "-s"], input=script.encode(), capture_output=True, cwd=tmp_path, check=False)
    assert not marker.exists() and not (tmp_path / "y").exists()
    assert parse_stream(out.stdout).errors == [(p, "missing") for p in hostile]
    with pytest.raises(ValueError):
        send_script(["/etc/x\n/etc/shadow"])


def test_a_link_to_a_credential_is_refused_on_the_host_side(tmp_path):
    (tmp_path / "tls.key").write_text(CANARY)
    (tmp_path / "creds").write_text(CANARY)
    (tmp_path / "plain").write_text("ok\n")
    for name, target in (("by-name", "tls.key"), ("by-setting", "creds"), ("fine", "plain")):
        (tmp_path / name).symlink_to(target)
    asked = [str(tmp_path / n) for n in ("by-name", "by-setting", "fine", "tls.key")]
    out = subprocess.run(["sh", "-s"], input=send_script(asked, denied={str(tmp_path / "creds")}).encode(),
                         capture_output=True, check=False).stdout
    assert CANARY.encode() not in out
    got = parse_stream(out)
    assert got.files == {str(tmp_path / "fine"): b"ok\n"}
    assert got.links == {str(tmp_path / "fine"): str(tmp_path / "plain")}
    assert sorted(got.errors) == sorted((p, "credentials-not-collected") for p in asked if not p.endswith("fine"))


def test_plan_follows_an_exim_include_to_the_list_files_it_names():
    files = {"/etc/exim/configure": "MAIN_DIR = /etc/exim\nacl_smtp_rcpt = check\n.include MAIN_DIR/acl.conf\n"}
    first = plan(collected(files))
    assert first.wanted == [] and first.optional == ["/etc/exim/acl.conf"]
    files["/etc/exim/acl.conf"] = ("begin acl\ncheck:\n  accept hosts = MAIN_DIR/relay_hosts\n"
                                   "  deny domains = ${if exists{/etc/exim/blocked}{/etc/exim/blocked}{}}\n")
    second = plan(collected(files))
    assert second.wanted == ["/etc/exim/relay_hosts"] and second.optional == ["/etc/exim/blocked"]


def test_every_table_of_the_hardened_example_is_fetched_and_nothing_else(tmp_path, home):
    sshd = Sshd(tmp_path, served_conf(tmp_path, "hardened-submission"))
    try:
        snap = tmp_path / "snap"
        out = mailcfg(home, "fetch", sshd.url(), "-o", str(snap), "--known-hosts",
                      str(sshd.known_hosts(tmp_path / "known_hosts")), "--identity", str(sshd.client_key))
        assert out.returncode == 0, out.stderr
    finally:
        sshd.stop()
    served = sorted(p.name for p in (tmp_path / "etc-postfix").iterdir())
    assert sorted(p.name for p in (snap / "etc/postfix").iterdir()) == served  # main.cf, master.cf, 3 tables
    for name in served:
        assert (snap / "etc/postfix" / name).read_bytes() == (tmp_path / "etc-postfix" / name).read_bytes()


ENABLED_ACL = """primary_hostname = mx.example.org
domainlist local_domains = example.org
acl_smtp_rcpt = check
begin acl
check:
  accept domains = +local_domains
         condition = ${if exists{/etc/exim4/domains/$domain/enabled}}
  deny message = not enabled
"""


@pytest.mark.parametrize(("asked", "said"), [
    (["/etc/exim4/exim4.conf"], "whether /etc/exim4/domains/example.org/enabled exists on the host is not known"),
    (["/etc/exim4/exim4.conf", "/etc/exim4/domains/example.org/enabled"], "false — expands to ''"),
])
def test_a_file_the_fetch_never_asked_for_is_not_taken_as_absent(tmp_path, home, asked, said):
    """A path only known once a probe runs (`$domain`) was not fetched: whether it exists stays open."""
    (tmp_path / "etc/exim4").mkdir(parents=True)
    (tmp_path / "etc/exim4/exim4.conf").write_text(ENABLED_ACL)
    (tmp_path / ".mailcfg-host").mkdir()
    (tmp_path / ".mailcfg-host/facts.json").write_text(json.dumps({"hostname": "mx.example.org", "asked": asked}))
    out = mailcfg(home, "explain", str(tmp_path), "--client", "198.51.100.7", "--rcpt", "bob@example.org")
    assert said in out.stdout, out.stdout + out.stderr


@pytest.mark.parametrize("files", [
    # the credential spelt another way than the table that reads it
    {"/etc/postfix/main.cf": "smtp_sasl_password_maps = hash:/etc/postfix//pw\n"
                             "virtual_alias_maps = hash:/etc/postfix/pw\n"},
    {"/etc/postfix/main.cf": "smtp_sasl_password_maps = hash:/etc/postfix/./pw\n"
                             "virtual_alias_maps = hash:/etc/postfix/pw\n"},
    {"/etc/postfix/main.cf": "smtp_sasl_password_maps = hash:/etc/postfix/pw\n"
                             "virtual_alias_maps = hash:/etc//postfix/pw\n"},
    # inside a composite table
    {"/etc/postfix/main.cf": "smtp_sasl_password_maps = unionmap:{hash:/etc/postfix/pw, hash:/etc/postfix/q}\n"
                             "virtual_alias_maps = hash:/etc/postfix/pw\n"},
    {"/etc/postfix/main.cf": "smtp_sasl_password_maps = pipemap:{proxy:hash:/etc/postfix/pw}\n"
                             "smtpd_client_restrictions = check_client_access hash:/etc/postfix/pw\n"},
    # Exim file names with characters an expansion seldom puts after a path, or spelt another way
    {"/etc/exim4/exim4.conf": "begin acl\nacl_check_rcpt:\n  accept hosts = lsearch;/etc/exim4/auth,users\n"
                              "begin authenticators\nplain:\n  driver = plaintext\n"
                              "  server_condition = ${lookup{$auth2}lsearch{/etc/exim4/auth,users}{yes}{no}}\n"},
    {"/etc/exim4/exim4.conf": "begin acl\nacl_check_rcpt:\n  accept hosts = lsearch;/etc/exim4/pw(1)\n"
                              "begin authenticators\nplain:\n  driver = plaintext\n"
                              "  server_condition = ${lookup{$auth2}lsearch{/etc/exim4/pw(1)}{yes}{no}}\n"},
    {"/etc/exim4/exim4.conf": "begin acl\nacl_check_rcpt:\n  accept hosts = lsearch;/etc/exim4/pw\n"
                              "begin authenticators\nplain:\n  driver = plaintext\n"
                              "  server_condition = ${lookup{$auth2}lsearch{/etc/exim4//pw}{yes}{no}}\n"},
])
def test_plan_never_asks_for_a_credential_spelt_another_way(files):
    step = plan(collected(files))
    assert step.wanted == [] and step.optional == []
    # a first step that read it by name drops it once the configuration says it is a credential
    read = "/etc/exim4/" if "/etc/exim4/exim4.conf" in files else "/etc/postfix/"
    canaries = {p: CANARY for p in ("/etc/postfix/pw", "/etc//postfix/pw", "/etc/exim4/pw", "/etc/exim4/auth,users",
                                    "/etc/exim4/pw(1)") if p.startswith(read[:5]) and p.replace("//", "/")
                .removeprefix(read) in "".join(files.values())}
    got = collected({**files, **canaries})
    withhold_secrets(got, plan(got).secrets)
    assert canaries and not set(canaries) & set(got.files)


def test_the_host_refuses_a_credential_named_through_a_link_or_another_spelling(tmp_path):
    (tmp_path / "pw").write_text(CANARY)
    (tmp_path / "creds").symlink_to("pw")  # the setting names the link, the table the file itself
    (tmp_path / "sub").mkdir()
    (tmp_path / "key").write_text(CANARY)
    asked = [str(tmp_path / "pw"), str(tmp_path / "key")]
    denied = {str(tmp_path / "creds"), f"{tmp_path}/sub/..//./key"}
    out = subprocess.run(["sh", "-s"], input=send_script(asked, denied=denied).encode(),
                         capture_output=True, check=False).stdout
    assert CANARY.encode() not in out
    assert sorted(parse_stream(out).errors) == sorted((p, "credentials-not-collected") for p in asked)


def test_an_exim_include_is_read_before_any_file_it_could_name_a_credential():
    # the ACL reads a file an included authenticator names: it must never cross the wire, even once
    files = {"/etc/exim4/exim4.conf": "begin acl\nacl_check_rcpt:\n  accept hosts = lsearch;/etc/exim4/users\n"
                                      ".include /etc/exim4/auth.conf\n"}
    first = plan(collected(files))
    assert first.wanted == [] and first.optional == ["/etc/exim4/auth.conf"]
    files["/etc/exim4/auth.conf"] = ("begin authenticators\nplain:\n  driver = plaintext\n"
                                     "  server_condition = ${lookup{$auth2}lsearch{/etc/exim4/users}{yes}{no}}\n")
    second = plan(collected(files))
    assert second.wanted == [] and second.optional == [] and "/etc/exim4/users" in second.secrets


@pytest.mark.parametrize("between, after", [
    (".endif\n", ""),  # reading stops at an error Exim would stop at: the authenticator after it is unseen
    ("begin acl\n", ""),  # a repeated section, the same
    (".ifdef FROM_THE_COMMAND_LINE\n", ".endif\n"),  # a branch a daemon started with -D reads
])
def test_an_exim_authenticator_not_read_still_names_its_credential(between, after):
    exim = ("USERS = /etc/exim4/users\nbegin acl\nacl_check_rcpt:\n  accept hosts = lsearch;/etc/exim4/users\n"
            + between + "begin authenticators\nplain:\n  driver = plaintext\n"
            "  server_condition = ${lookup{$auth2}lsearch{USERS}\\\n    {yes}{no}}\n" + after)
    step = plan(collected({"/etc/exim4/exim4.conf": exim}))
    assert step.wanted == [] and "/etc/exim4/users" in step.secrets


def test_a_debian_auth_part_behind_an_ifdef_names_its_credential():
    files = {"/etc/exim4/exim4.conf": "CONFDIR = /etc/exim4\nbegin acl\nacl_check_rcpt:\n"
                                       "  accept hosts = lsearch;CONFDIR/users\n"
                                       ".include CONFDIR/conf.d/auth/30_plain\n",
             "/etc/exim4/conf.d/auth/30_plain": ".ifdef NOT_HERE\nplain:\n  driver = plaintext\n"
                                                "  server_condition = ${lookup{$auth2}lsearch{CONFDIR/users}}\n"
                                                ".endif\n"}
    step = plan(collected(files))
    assert step.wanted == [] and "/etc/exim4/users" in step.secrets


def test_a_credential_by_name_spelt_with_a_double_slash_is_never_asked_for():
    exim = "begin acl\nacl_check_rcpt:\n  accept hosts = /etc/exim4//passwd : lsearch;/etc//exim4/passwd.client\n"
    files = {"/etc/exim4/exim4.conf": exim}
    assert plan(collected(files)).wanted == []
    got = collected({**files, "/etc/exim4//passwd": CANARY})
    withhold_secrets(got, set())
    assert "/etc/exim4//passwd" not in got.files


def test_redaction_keeps_every_line_and_what_else_a_value_names():
    main = (f"smtp_sasl_password_maps = hash:/etc/postfix/x, static:{{ u:{CANARY} }},\n"
            f"    inline:{{ a=u:{CANARY},\n\n      b=u:{CANARY} }}, $relay_auth\n"
            f"relay_auth = static:u:{CANARY}\nmyorigin = static:not-a-secret\n")
    master = (f"relay unix - - n - - smtp -o {{ smtp_sasl_password_maps = inline:{{ r=u:{CANARY} }} }}\n"
              "  -o smtp_helo_name=relay.example\n")
    out, done = redact(Collected(files={"/etc/postfix/main.cf": main.encode(), "/etc/postfix/master.cf":
                                        master.encode()}, commands={"postconf-M": (0, master.encode())}))
    texts = [*(b.decode() for b in out.files.values()), out.commands["postconf-M"][1].decode()]
    assert not any(CANARY in t for t in texts)
    got = parse_main_cf(SourceFile.from_text("main.cf", texts[0]))
    assert [(p.name, p.value) for p in got.entries] == [
        ("smtp_sasl_password_maps", "hash:/etc/postfix/x, static:mailcfg-redacted,\n"
         "    inline:{mailcfg-redacted=mailcfg-redacted}\n      , $relay_auth".replace("\n", "")),
        ("relay_auth", "static:mailcfg-redacted"), ("myorigin", "static:not-a-secret")]
    assert len(texts[0].split("\n")) == len(main.split("\n")) and texts[1].endswith("smtp_helo_name=relay.example\n")
    assert out.redacted == done and {(r.path, r.line, r.setting) for r in done} == {
        ("/etc/postfix/main.cf", 1, "smtp_sasl_password_maps"), ("/etc/postfix/main.cf", 2,
        "smtp_sasl_password_maps"), ("/etc/postfix/main.cf", 5, "relay_auth"),
        ("/etc/postfix/master.cf", 1, "smtp_sasl_password_maps"),
        (".mailcfg-host/cmd/postconf-M.txt", 1, "smtp_sasl_password_maps")}


def test_exim_redaction_leaves_what_the_analysis_reads_even_when_hidden():
    conf = ("hide acl_smtp_rcpt = acl_check_rcpt\n"
            f"hide smtp_banner = ESMTP {CANARY} \\\n  # a comment inside\n  {CANARY}\n"
            "begin authenticators\nplain:\n  driver = plaintext\n"
            "  hide server_condition = ${if eq{$auth2}{pw}}\n"
            f"  client_send = ^user^{CANARY}\n")
    out, done = redact(Collected(files={"/etc/exim/configure": conf.encode()}))
    text = out.files["/etc/exim/configure"].decode()
    assert CANARY not in text and len(text.split("\n")) == len(conf.split("\n"))
    assert "hide acl_smtp_rcpt = acl_check_rcpt\n" in text and "hide server_condition = ${if eq{$auth2}{pw}}" in text
    assert "  # a comment inside\n  mailcfg-redacted\n" in text
    assert [(r.line, r.setting) for r in done] == [(2, "smtp_banner"), (9, "client_send")]
