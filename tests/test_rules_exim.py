"""Each Exim rule on small configurations: where it must fire (file and line) and where it must not."""

from __future__ import annotations

import pytest
from conftest import by_rule
from mailcfg.registry import all_rules

MAIN = """\
domainlist local_domains = example.org : @
domainlist relay_to_domains =
hostlist   relay_from_hosts = 127.0.0.1 : ::::1
acl_smtp_rcpt = acl_check_rcpt
daemon_smtp_ports = 25 : 587
tls_advertise_hosts = *
"""
RCPT_ACL = """\
begin acl

acl_check_rcpt:
  accept  hosts = :
  accept  hosts = +relay_from_hosts
  accept  authenticated = *
  require message = relay not permitted
          domains = +local_domains : +relay_to_domains
  require verify = recipient
  accept
"""
ROUTERS = """\
begin routers

remote:
  driver = manualroute
  domains = ! +local_domains
  route_list = * 192.0.2.10
  transport = remote_smtp

local:
  driver = accept
  domains = +local_domains
  transport = local_delivery

begin transports

remote_smtp:
  driver = smtp

local_delivery:
  driver = appendfile
  file = /var/mail/$local_part
"""
AUTH = """\
begin authenticators

plain_server:
  driver = plaintext
  public_name = PLAIN
  server_condition = ${if eq{$auth3}{secret}}
  server_set_id = $auth2
  server_advertise_condition = ${if def:tls_in_cipher}
"""
GOOD = MAIN + RCPT_ACL + ROUTERS + AUTH
CONF = "exim4.conf"

CASES = [
    # (rule, configuration, facts, expected (file, line) findings)
    ("exim-open-relay", GOOD, None, []),
    ("exim-open-relay", GOOD.replace("  require message = relay not permitted\n"
                                     "          domains = +local_domains : +relay_to_domains\n", ""), None,
     [(CONF, 14), (CONF, 14)]),  # one per port: the final accept
    ("exim-open-relay", GOOD.replace("domainlist relay_to_domains =", "domainlist relay_to_domains = *"), None,
     [(CONF, 16), (CONF, 16)]),
    ("exim-open-relay", GOOD.replace("  accept  hosts = :\n", "  accept  encrypted = *\n"), None,
     [(CONF, 10), (CONF, 10)]),  # anyone can start TLS
    ("exim-open-relay", GOOD.replace("  accept  hosts = :\n", "  accept  senders = *@example.org\n"), None,
     [(CONF, 10), (CONF, 10)]),  # a sender is forged at will
    ("exim-open-relay", GOOD.replace("relay_from_hosts = 127.0.0.1 : ::::1",
                                     "relay_from_hosts = 127.0.0.1 : 0.0.0.0/0"), None, [(CONF, 11), (CONF, 11)]),
    ("exim-no-rcpt-acl", GOOD, None, []),
    ("exim-no-rcpt-acl", GOOD.replace("acl_smtp_rcpt = acl_check_rcpt\n", ""), None, [(CONF, None)]),
    ("exim-no-rcpt-acl", GOOD.replace("acl_smtp_rcpt = acl_check_rcpt", "acl_smtp_rcpt = acl_chek_rcpt"), None,
     [(CONF, 4)]),
    ("exim-relay-from-any", GOOD, None, []),
    ("exim-relay-from-any", GOOD.replace("127.0.0.1 : ::::1", "127.0.0.1 : 198.51.0.0/16"), None, [(CONF, 3)]),
    ("exim-relay-from-any", GOOD.replace("127.0.0.1 : ::::1", "127.0.0.1 : 10.1.2.0/24"), None, []),
    ("exim-users-cannot-relay", GOOD, None, []),
    ("exim-users-cannot-relay", GOOD.replace("  accept  authenticated = *\n", ""), None, [(CONF, 12)]),
    ("exim-users-cannot-relay", GOOD.replace("  accept  hosts = :\n", "  deny    !hosts = +relay_from_hosts\n"),
     None, [(CONF, 10)]),
    ("exim-auth-missing", GOOD, None, []),
    ("exim-auth-missing", GOOD.replace("  server_condition = ${if eq{$auth3}{secret}}\n",
                                       "  client_send = : alice : secret\n"), None, [(CONF, 38)]),
    ("exim-auth-missing", GOOD.replace("tls_advertise_hosts = *", "tls_advertise_hosts ="), None, [(CONF, 38)]),
    # no submission port and no role: nobody is expected to log in
    ("exim-auth-missing", GOOD.replace("daemon_smtp_ports = 25 : 587", "daemon_smtp_ports = 25")
     .replace("  server_condition = ${if eq{$auth3}{secret}}\n", ""), None, []),
    ("exim-auth-missing", GOOD.replace("daemon_smtp_ports = 25 : 587", "daemon_smtp_ports = 25")
     .replace("  server_condition = ${if eq{$auth3}{secret}}\n", ""), {"roles": ["submission"]}, [(CONF, 38)]),
    ("exim-auth-without-tls", GOOD, None, []),
    ("exim-auth-without-tls", GOOD.replace("  server_advertise_condition = ${if def:tls_in_cipher}\n", ""), None,
     [(CONF, 40)]),
    ("exim-syntax", GOOD, None, []),
    ("exim-syntax", GOOD.replace("daemon_smtp_ports", "daemon_smtp_portz"), None, [(CONF, 5)]),
    ("exim-syntax", GOOD.replace("127.0.0.1 : ::::1", "127.0.0.1 : ::::1 # office"), None, [(CONF, 3)]),
    ("exim-syntax", GOOD.replace("  accept  hosts = :\n", "  acept  hosts = :\n"), None, [(CONF, 10)]),
    ("exim-syntax", "X = 1\nX = 2\n" + GOOD, None, [(CONF, 2)]),
    ("exim-syntax", ".ifdef NOTDEFINED\n" + GOOD, None, [(CONF, 46)]),  # where Exim meets the end
    # a host list in a file the snapshot lacks decides whether outsiders relay: one finding, not one per port
    ("exim-undecided", GOOD, None, []),
    ("exim-undecided", GOOD.replace("  accept  hosts = :\n",
                                    "  accept  hosts = net-lsearch;/etc/exim4/relay_clients\n"), None, [(CONF, 10)]),
    # after the relay check it decides nothing about relaying
    ("exim-undecided", GOOD.replace("  require verify = recipient\n", "  require verify = recipient\n"
                                    "  deny    hosts = net-lsearch;/etc/exim4/blocked\n"), None, []),
]


@pytest.mark.parametrize(("rule", "config", "facts", "expected"), CASES,
                         ids=[f"{c[0]}-{i}-{'fail' if c[3] else 'pass'}" for i, c in enumerate(CASES)])
def test_rule_case(lint, rule, config, facts, expected):
    found = by_rule(lint(files={"/etc/exim4/exim4.conf": config}, facts=facts), rule)
    got = sorted(((f.location.file or "").rsplit("/", 1)[-1], f.location.line) for f in found)
    assert got == sorted(expected), [f.message for f in found]


def test_every_exim_rule_has_cases_both_ways():
    ids = {r.id for r in all_rules() if r.system == "exim"}
    assert ids <= {c[0] for c in CASES if c[3]}, ids - {c[0] for c in CASES if c[3]}
    assert ids <= {c[0] for c in CASES if not c[3]}, ids - {c[0] for c in CASES if not c[3]}
