"""The decision engine on hand-checked cases from Postfix's documented semantics (reference/postfix.md).

The differential test (test_postfix_differential.py) holds the engine against a running Postfix;
these cases pin down semantics that depend on the release, which only one Postfix is installed to show.
"""

from __future__ import annotations

import pytest
from conftest import make_snapshot
from mailcfg.postfix.address import internal_form, resolve
from mailcfg.postfix.config import load_postfix
from mailcfg.postfix.effective import ParameterView
from mailcfg.postfix.engine import decide
from mailcfg.snapshot import load_local
from mailcfg.transaction import Probe

SMTP = "smtp inet n - y - - smtpd\n"
OUTSIDE = "198.51.100.7"


def _config(tmp_path, main: str, version: str = "3.7.11", master: str = SMTP, files=None):
    facts = {"hostname": "mx.example.org", "systems": {"postfix": {"version": version}},
             "addresses": [{"address": "127.0.0.1", "prefix": 8}, {"address": "203.0.113.5", "prefix": 24}]}
    root = make_snapshot(tmp_path / "snap", main=main, master=master, facts=facts, files=files)
    return load_postfix(load_local(str(root)))


def _probe(rcpt="x@foreign.example", client=OUTSIDE, **kw) -> Probe:
    kw.setdefault("helo", "client.example.net")
    kw.setdefault("sender", "s@example.net")
    return Probe(client, rcpt, **kw)


@pytest.mark.parametrize(("rcpt", "recipient", "klass", "routed"), [
    # resolve_clnt.ref vectors, with this host's names (mx.example.org / example.org)
    ("user%other.example@mx.example.org", "user@other.example", "default", False),
    ("other.example!user@mx.example.org", "user@other.example", "default", False),
    ('"user@other.example"@mx.example.org', "user@other.example", "default", False),
    ("user@other.example@mx.example.org", "user@other.example", "default", False),
    ("@mx.example.org:user@other.example", "user@other.example", "default", False),
    ("user%dom.ain1@dom.ain2", "user%dom.ain1@dom.ain2", "default", True),
    ("user@[203.0.113.5]", "user@[203.0.113.5]", "local", False),
    ("user@[192.0.2.9]", "user@[192.0.2.9]", "default", False),
    ("user@MX.Example.ORG", "user@MX.Example.ORG", "local", False),
    ("user@mx.example.org.", "user@mx.example.org", "local", False),
])
def test_address_resolution(tmp_path, rcpt, recipient, klass, routed):
    config = _config(tmp_path, "mydestination = $myhostname, localhost\n")
    r = resolve(ParameterView(config), internal_form(rcpt))
    assert (r.recipient, r.klass, r.routed) == (recipient, klass, routed)


def test_percent_hack_off_leaves_a_routed_local_address(tmp_path):
    config = _config(tmp_path, "compatibility_level = 3.6\nallow_percent_hack = no\n")
    r = resolve(ParameterView(config), "user%other.example@mx.example.org")
    assert (r.klass, r.routed) == ("local", True)
    d = decide(config, _probe("user%other.example@mx.example.org"))
    assert d.reply == "454 4.7.1 <user%other.example@mx.example.org>: Relay access denied"


def test_numeric_domain_is_a_syntax_error_unless_resolve_numeric_domain(tmp_path):
    d = decide(_config(tmp_path, "compatibility_level = 3.6\n"), _probe("user@1.2.3.4"))
    assert d.reply == "501 5.1.3 Bad recipient address syntax"


@pytest.mark.parametrize(("version", "compat", "reply"), [
    # 2.10-3.2: relay list first -> its default defer_unauth_destination answers 454
    ("3.2.5", "2", "454 4.7.1 <x@foreign.example>: Relay access denied"),
    # 3.3-3.5: recipient list first -> reject_unauth_destination answers 554
    ("3.4.13", "2", "554 5.7.1 <x@foreign.example>: Relay access denied"),
    # 3.6+: relay first at compatibility_level 3.6, recipient first below it
    ("3.7.11", "3.6", "454 4.7.1 <x@foreign.example>: Relay access denied"),
    ("3.7.11", "2", "554 5.7.1 <x@foreign.example>: Relay access denied"),
])
def test_relay_and_recipient_list_order_by_release(tmp_path, version, compat, reply):
    main = f"compatibility_level = {compat}\nsmtpd_recipient_restrictions = reject_unauth_destination\n"
    assert decide(_config(tmp_path, main, version), _probe()).reply == reply


def test_compat_0_has_no_relay_list_on_3_3_and_later(tmp_path):
    main = "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination\n"
    new = decide(_config(tmp_path, main, "3.7.11"), _probe(client="127.0.0.1"))
    assert new.action == "accept"
    old = decide(_config(tmp_path / "b", main, "3.2.5"), _probe(client="127.0.0.1"))
    assert old.action == "accept"  # the default relay list permits mynetworks too
    outside = decide(_config(tmp_path / "c", main, "3.2.5"), _probe())
    assert outside.reply.startswith("454 4.7.1")  # defer_unauth_destination of the 3.2 default relay list


def test_startup_check_needs_a_working_reject(tmp_path):
    for main in ("smtpd_recipient_restrictions = permit_mynetworks\n",
                 "compatibility_level = 2\nsmtpd_relay_restrictions = warn_if_reject reject_unauth_destination\n",
                 "compatibility_level = 2\nsmtpd_relay_restrictions = permit reject_unauth_destination\n",
                 "compatibility_level = 2\nsmtpd_relay_restrictions = check_recipient_access "
                 "inline:{x=reject_unauth_destination}\n"):
        d = decide(_config(tmp_path / str(hash(main)), main), _probe())
        assert (d.action, d.stage) == ("error", "startup"), main
    main = "compatibility_level = 2\nsmtpd_restriction_classes = c\nc = defer_if_permit\nsmtpd_relay_restrictions = c\n"
    assert decide(_config(tmp_path, main), _probe()).action == "defer"


def test_warn_if_reject_lets_the_rejection_through_as_a_warning(tmp_path):
    main = ("compatibility_level = 2\nsmtpd_relay_restrictions = reject_unauth_destination\n"
            "smtpd_recipient_restrictions = warn_if_reject reject_non_fqdn_recipient\n")
    d = decide(_config(tmp_path, main), _probe("x@mx.example.org"))
    assert d.action == "accept"
    assert decide(_config(tmp_path / "b", main), _probe("x@localhost")).action == "accept"


def test_defer_if_permit_turns_a_later_permit_into_450(tmp_path):
    main = ("compatibility_level = 3.6\nsmtpd_client_restrictions = defer_if_permit\n"
            "mynetworks = 127.0.0.0/8\n")
    d = decide(_config(tmp_path, main), _probe(client="127.0.0.1"))
    assert d.reply == "450 4.7.0 <unknown[127.0.0.1]>: Client host rejected: defer_if_permit requested"


def test_soft_bounce_turns_5xx_into_4xx(tmp_path):
    d = decide(_config(tmp_path, "compatibility_level = 2\nsoft_bounce = yes\n"
                                 "smtpd_relay_restrictions = reject_unauth_destination\n"), _probe())
    assert d.reply == "454 4.7.1 <x@foreign.example>: Relay access denied"


def test_access_table_results(tmp_path):
    files = {"/etc/postfix/clients": "198.51.100 REJECT go away\n198.51 OK\n",
             "/etc/postfix/senders": "example.net 550 5.7.2 no thanks\n"}
    main = ("compatibility_level = 3.6\nsmtpd_client_restrictions = check_client_access texthash:/etc/postfix/clients\n"
            "smtpd_sender_restrictions = check_sender_access texthash:/etc/postfix/senders\n")
    config = _config(tmp_path, main, files=files)
    assert decide(config, _probe()).reply == "554 5.7.1 <unknown[198.51.100.7]>: Client host rejected: go away"
    d = decide(config, _probe(client="198.51.1.1", sender="a@sub.example.net"))
    assert d.reply == "550 5.7.2 <a@sub.example.net>: Sender address rejected: no thanks"


def test_restriction_class_from_a_table_result(tmp_path):
    main = ("compatibility_level = 3.6\nsmtpd_restriction_classes = strict\nstrict = reject\n"
            "smtpd_recipient_restrictions = check_recipient_access inline:{ mx.example.org=strict }\n")
    d = decide(_config(tmp_path, main), _probe("a@mx.example.org"))
    assert d.reply == "554 5.7.1 <a@mx.example.org>: Recipient address rejected: Access denied"


def test_unknown_restriction_is_a_server_error(tmp_path):
    main = "compatibility_level = 3.6\nsmtpd_recipient_restrictions = reject_unknwon_sender_domain\n"
    assert decide(_config(tmp_path, main), _probe("a@mx.example.org")).reply == "451 4.3.5 Server configuration error"


def test_sasl_counts_only_where_auth_is_offered(tmp_path):
    master = SMTP + "submission inet n - y - - smtpd -o smtpd_sasl_auth_enable=yes -o smtpd_tls_auth_only=yes\n"
    main = "compatibility_level = 3.6\nsmtpd_tls_cert_file = /x.pem\nsmtpd_tls_security_level = may\n"
    config = _config(tmp_path, main, master=master)
    assert decide(config, _probe(sasl_user="alice")).action == "defer"  # port 25: no AUTH there
    assert decide(config, _probe(sasl_user="alice", port=587)).action == "defer"  # no TLS, no AUTH
    assert decide(config, _probe(sasl_user="alice", port=587, tls=True)).action == "accept"


def test_dns_checks_are_undecided_not_guessed(tmp_path):
    main = "compatibility_level = 3.6\nsmtpd_client_restrictions = reject_rbl_client zen.spamhaus.org\n"
    d = decide(_config(tmp_path, main), _probe("a@mx.example.org"))
    assert d.undecided and d.action == "accept"


def test_milters_are_named_in_the_trace_not_guessed(tmp_path):
    main = "compatibility_level = 3.6\nsmtpd_milters = inet:127.0.0.1:11332\n"
    d = decide(_config(tmp_path, main), _probe("a@mx.example.org"))
    assert any(s.what == "smtpd_milters" and s.result == "not decided offline" for s in d.trace)


def test_port_25_behind_postscreen_is_the_pass_smtpd(tmp_path):
    master = "smtp inet n - y - 1 postscreen\nsmtpd pass - - y - - smtpd -o smtpd_client_restrictions=reject\n"
    d = decide(_config(tmp_path, "compatibility_level = 3.6\n", master=master), _probe("a@mx.example.org", port=25))
    assert (d.service, d.reply) == ("smtpd", "554 5.7.1 <unknown[198.51.100.7]>: Client host rejected: Access denied")


@pytest.mark.parametrize(("mailname", "domain"), [("example.com\n", "example.com"), (None, None)])
def test_myorigin_from_a_file_as_debian_reads_it(tmp_path, mailname, domain):
    """Debian's main.cf has `myorigin = /etc/mailname`; its Postfix takes the file's first line (the real
    Postfix in tests/test_realworld_differential.py accepts an unqualified sender there)."""
    files = {"/etc/mailname": mailname} if mailname is not None else {}
    main = "compatibility_level = 3.6\nmyorigin = /etc/mailname\nmydestination = $myhostname, localhost\n"
    config = _config(tmp_path, main, files=files)
    r = resolve(ParameterView(config), "root")
    d = decide(config, _probe("postmaster@mx.example.org", sender="root"))
    if domain is not None:
        assert r.recipient == f"root@{domain}" and d.action == "accept", d.reply
    else:  # not in the snapshot: the path itself is the domain, which smtpd would find bad syntax
        assert r.recipient == "root@/etc/mailname"
