"""The real-Exim harness (tests/realexim.py) and the Exim config generator (tests/exim_generator.py) on the real binary.

These assert what Exim 4.96 really does, so a broken harness shows up here and not as a flood of
disagreements in the differential tests. Exim runs from .exim/root (scripts/setup.sh); as root.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import exim_generator as eg
import pytest
import realexim as rx
from mailcfg.transaction import Probe

OUTSIDE = "198.51.100.7"
HELO = "client.example.net"
FOREIGN = "x@foreign.example"



@pytest.fixture(scope="module", autouse=True)
def _exim_available() -> None:
    why = rx.available()
    if why:  # not a skip: setup.sh unpacks Exim, and the suite runs as root
        pytest.fail(f"the real-Exim harness cannot run: {why}")


PLAIN = """\
primary_hostname = mx.example.com
domainlist local_domains = example.com
hostlist relay_from_hosts = <; 127.0.0.1 ; 10.20.0.0/16 ; 2001:db8:1::/48
acl_smtp_rcpt = ${if ={587}{$received_port}{acl_check_submission}{acl_check_rcpt}}

begin acl

acl_check_rcpt:
  accept  hosts = +relay_from_hosts
  accept  authenticated = *
  require message = relay not permitted
          domains = +local_domains
  accept

acl_check_submission:
  accept  authenticated = plain_server
  deny    message = 530 5.7.0 Authentication required

begin routers

local:
  driver = accept
  domains = +local_domains
  transport = local_delivery

begin transports

local_delivery:
  driver = appendfile
  file = /dev/null

begin authenticators

plain_server:
""" + rx.PLAIN_SERVER + "  server_advertise_condition = ${if or{{def:tls_in_cipher}{eq{$received_port}{587}}}}\n"


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> Path:
    return rx.write_config(tmp_path_factory.mktemp("exim") / "plain.conf", PLAIN)


@pytest.fixture(scope="module")
def debian(tmp_path_factory) -> Path:
    """The stock Debian "internet" configuration for example.com, from Debian's own generator."""
    root = tmp_path_factory.mktemp("debian")
    confdir = rx.stock_confdir(root / "etc" / "exim4")
    (confdir / "update-exim4.conf.conf").write_text(
        "dc_eximconfig_configtype='internet'\ndc_other_hostnames='example.com'\ndc_local_interfaces=''\n"
        "dc_relay_nets='192.168.1.0/24'\ndc_relay_domains=''\ndc_use_split_config='true'\n")
    (root / "etc" / "mailname").write_text("mx.example.com\n")
    return rx.debian_generate(confdir, root / "generated.conf")


def test_debian_stock_refuses_outside_relay_and_accepts_postmaster(debian):
    outside, postmaster, lan = rx.real_answers(debian, [
        Probe(OUTSIDE, FOREIGN, "someone@sender.example", HELO),
        Probe(OUTSIDE, "postmaster@example.com", "someone@sender.example", HELO),
        Probe("192.168.1.10", FOREIGN, "", HELO),
    ])
    assert (outside.action, outside.stage, outside.reply) == ("reject", "rcpt", "550 relay not permitted")
    assert (postmaster.action, postmaster.reply) == ("accept", "250 Accepted")
    assert (lan.action, lan.reply) == ("accept", "250 Accepted")  # dc_relay_nets
    # Debian's AUTH examples are all commented out: nothing is offered
    assert not outside.auth_advertised
    assert "ETC_MAILNAME=mx.example.com" in debian.read_text()  # the snapshot's etc/mailname, not the host's


def test_auth_plain_lets_the_user_relay(plain):
    anonymous, wrong_port, user, submission_anon, submission_user = rx.real_answers(plain, [
        Probe(OUTSIDE, FOREIGN, "a@example.com", HELO),
        Probe(OUTSIDE, FOREIGN, "a@example.com", HELO, sasl_user="alice"),  # port 25, no TLS: AUTH not offered
        Probe(OUTSIDE, FOREIGN, "a@example.com", HELO, sasl_user="alice", tls=True),
        Probe(OUTSIDE, FOREIGN, "a@example.com", HELO, port=587),
        Probe(OUTSIDE, FOREIGN, "a@example.com", HELO, sasl_user="alice", port=587),
    ])
    assert anonymous.reply == "550 relay not permitted" and not anonymous.auth_advertised
    assert (wrong_port.auth_ok, wrong_port.auth_reply) == (False, "503 AUTH command used when not advertised")
    assert wrong_port.reply == "550 relay not permitted"  # went on unauthenticated
    assert user.tls and user.auth_mechanisms == ["PLAIN"] and user.auth_ok
    assert (user.action, user.reply) == ("accept", "250 Accepted")
    assert "S: 235 Authentication succeeded" in user.transcript
    # -oMi ...587 makes $received_port 587: the port-conditional acl_smtp_rcpt picks the submission ACL
    assert (submission_anon.action, submission_anon.reply) == ("reject", "530 5.7.0 Authentication required")
    assert (submission_user.auth_ok, submission_user.action) == (True, "accept")


def test_ipv6_client_and_no_helo(plain):
    lan6, outside6, no_helo = rx.real_answers(plain, [
        Probe("2001:db8:1::10", FOREIGN, "", HELO),
        Probe("2001:db8:ffff::9", FOREIGN, "", HELO),
        Probe(OUTSIDE, "x@example.com", "", None),
    ])
    assert lan6.action == "accept" and outside6.reply == "550 relay not permitted"
    # Exim 4.96: hosts_require_helo defaults to *
    assert (no_helo.action, no_helo.stage, no_helo.reply) == ("reject", "mail", "503 HELO or EHLO required")


def test_session_replies_grouped_and_drop(tmp_path):
    config = rx.write_config(tmp_path / "drop.conf", "acl_smtp_rcpt = acl_check_rcpt\nbegin acl\nacl_check_rcpt:\n"
                                                     "  drop local_parts = bad\n  accept\n")
    assert (config.stat().st_uid, config.stat().st_mode & 0o777) == (0, 0o644)
    session = rx.run_session(config, OUTSIDE, ["EHLO x", "MAIL FROM:<>", "RCPT TO:<ok@example.com>",
                                               "RCPT TO:<bad@example.com>", "NOOP"])
    greeting, ehlo, mail, ok, bad, after = session.replies
    assert greeting.code == 220 and ehlo.code == 250 and len(ehlo.lines) > 1 and ehlo.lines[-1] == "250 HELP"
    assert (mail.lines, ok.lines, bad.lines) == (["250 OK"], ["250 Accepted"], ["550 Administrative prohibition"])
    assert after.closed  # drop closes the connection after its 550
    assert any("rejected RCPT <bad@example.com>" in line for line in session.log)
    assert '>>> processing "drop" (' in session.stderr


def test_syntax_error_reported_by_bV(tmp_path):
    config = rx.write_config(tmp_path / "bad.conf", "acl_smtp_rcpt = r\nbegin acl\nr:\n  acept hosts = *\n")
    check = rx.check_config(config)
    assert not check.ok and check.returncode == 1
    assert check.error.endswith(f"Exim configuration error in line 4 of {config}:\n"
                                '  error in ACL: unknown ACL verb "acept" in "acept hosts = *"')


def test_generated_configs_are_accepted_by_exim(tmp_path):
    batch = eg.generate_batch(1, 40)
    assert [g.name for g in batch] == [g.name for g in eg.generate_batch(1, 40)]  # deterministic
    assert [g.files for g in batch] == [g.files for g in eg.generate_batch(1, 40)]
    assert {g.kind for g in batch} == {"plain", "debian"}

    def check(gen: eg.GeneratedExim) -> str:
        real = eg.real_config(gen, eg.write_snapshot(gen, tmp_path / gen.name), tmp_path / "run")
        result = rx.check_config(real.path, real.macros)
        return "" if result.ok else f"{gen.name}: {result.error}"

    with ThreadPoolExecutor(4) as pool:  # Debian's generator takes 0.2 s a configuration, mostly waiting
        rejected = [error for error in pool.map(check, batch) if error]
    assert not rejected


def test_shared_sessions_answer_like_separate_ones(tmp_path):
    # real_answers shares a session between probes that differ only in sender and recipient
    for gen in eg.generate_batch(7, 3):
        real = eg.real_config(gen, eg.write_snapshot(gen, tmp_path / gen.name), tmp_path / "run")
        probes = [p for p in gen.probes if not p.tls]
        shared = rx.real_answers(real.path, probes, real.macros)
        separate = rx.real_answers(real.path, probes, real.macros, shared=False)
        assert [(a.action, a.stage, a.lines) for a in shared] == [(a.action, a.stage, a.lines) for a in separate]
