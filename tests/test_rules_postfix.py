"""Every Postfix rule fires on configurations with its problem and stays silent on correct ones."""

from __future__ import annotations

import pytest
from conftest import by_rule
from mailcfg.findings import Severity
from mailcfg.registry import all_rules

FACTS_37 = {"hostname": "mx.example.org", "systems": {"postfix": {"version": "3.7.11"}},
            "addresses": [{"address": "127.0.0.1", "prefix": 8}, {"address": "203.0.113.5", "prefix": 24}]}
SMTP = "smtp      inet  n       -       y       -       -       smtpd\n"
MODERN = "compatibility_level = 3.6\n"  # relay restrictions default to permit_mynetworks, ...
LEGACY_RELAY = "compatibility_level = 0\nsmtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n"
SUBMISSION_OK = (SMTP + "submission inet n - y - - smtpd\n"
                 "  -o smtpd_tls_security_level=encrypt\n  -o smtpd_sasl_auth_enable=yes\n"
                 "  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject\n")
CERT = "smtpd_tls_cert_file = /etc/ssl/certs/mx.pem\nsmtpd_tls_key_file = /etc/ssl/private/mx.key\n"

# (rule, main.cf, master.cf or None, expected [(file, line)], facts) — an empty list is a passing case.
CASES = [
    # postfix-syntax
    ("postfix-syntax", "myhostname mx.example.org\n", None, [("main.cf", 1)], None),
    ("postfix-syntax", "= value\n", None, [("main.cf", 1)], None),
    ("postfix-syntax", "  indented = 1\nmyhostname = a\n", None, [("main.cf", 1)], None),
    ("postfix-syntax", "mynetworks = 127.0.0.0/8 # loopback\n", None, [("main.cf", 1)], None),
    ("postfix-syntax", "smtpd_recipient_restrictions = permit_mynetworks,\n  reject_unauth_destinaton\n",
     None, [("main.cf", 2)], None),
    ("postfix-syntax", "smtpd_recipient_restrictions = check_client_access\n", None, [("main.cf", 1)], None),
    ("postfix-syntax", "smtpd_recipient_restrictions = check_relay_domains\n", None, [("main.cf", 1)],
     {"systems": {"postfix": {"version": "3.9.1"}}}),
    ("postfix-syntax", "smtpd_recipient_restrictions = check_relay_domains\n", None, [],
     {"systems": {"postfix": {"version": "3.4.1"}}}),
    ("postfix-syntax", "mynetworks = 127.0.0.0/8 fc00::/7\n", None, [("main.cf", 1)], None),
    ("postfix-syntax", "mynetworks = 127.0.0.0/8 [fc00::]/7 cidr:/etc/postfix/nets\n", None, [], None),
    ("postfix-syntax", "smtpd_milters = { inet:127.0.0.1:8891, default_action=accept\n", None,
     [("main.cf", 1)], None),
    ("postfix-syntax", "", "smtp inet n - y - smtpd\n", [("master.cf", 1)], None),
    ("postfix-syntax", "", "smtp inet n - y - - smtpd -o\n", [("master.cf", 1)], None),
    ("postfix-syntax", "", "smtp inet y - y - - smtpd\n", [("master.cf", 1)], None),
    ("postfix-syntax", "", "smtp tcp n - y - - smtpd\n", [("master.cf", 1)], None),
    ("postfix-syntax", "", "smtp inet n - y - - smtpd\n  -o smtpd_sender_restrictions=check_sender_access "
     "hash:/etc/postfix/bl, permit\n", [("master.cf", 2), ("master.cf", 2)], None),
    ("postfix-syntax", "", "smtp inet n - y - - smtpd\n"
     "  -o { smtpd_sender_restrictions = check_sender_access hash:/etc/postfix/bl, permit }\n", [], None),
    ("postfix-syntax", "", SMTP + "#submission inet n - y - - smtpd\n  -o smtpd_sasl_auth_enable=yes\n",
     [("master.cf", 3)], None),
    ("postfix-syntax", "", SMTP + SMTP, [("master.cf", 2)], None),
    ("postfix-syntax", "", "lmtp unix - - y - - lmtp flags=O\n", [], None),
    ("postfix-syntax", "smtpd_client_restrictions = check_client_access cidr:/etc/postfix/c.cidr\n", None,
     [("c.cidr", 2)], None),
    # postfix-unknown-parameter
    ("postfix-unknown-parameter", "smtpd_tls_cert_fiel = /x.pem\n", None, [("main.cf", 1)], None),
    ("postfix-unknown-parameter", "", SMTP + "  -o smtpd_sasl_auth_enabled=yes\n", [("master.cf", 2)], None),
    ("postfix-unknown-parameter", "mua_client_restrictions = permit_sasl_authenticated, reject\n",
     SMTP + "  -o smtpd_client_restrictions=$mua_client_restrictions\n", [], None),
    ("postfix-unknown-parameter", "smtpd_restriction_classes = staff\nstaff = permit\n", None, [], None),
    ("postfix-unknown-parameter", "relay_destination_concurrency_limit = 5\n",
     SMTP + "relay unix - - y - - smtp\n", [], None),
    ("postfix-unknown-parameter", "program_directory = /usr/lib/postfix\n", None, [("main.cf", 1)], FACTS_37),
    # postfix-duplicate-parameter
    ("postfix-duplicate-parameter", "soft_bounce = no\nmyhostname = a\nsoft_bounce = no\n", None,
     [("main.cf", 1)], None),
    ("postfix-duplicate-parameter", "", SMTP + "  -o syslog_name=a\n  -o syslog_name=b\n", [("master.cf", 2)], None),
    ("postfix-duplicate-parameter", "myhostname = a\nmydomain = b\n", None, [], None),
    # postfix-undefined-variable
    ("postfix-undefined-variable", "smtpd_banner = $myhostnme ESMTP\n", None, [("main.cf", 1)], None),
    ("postfix-undefined-variable", "smtpd_banner = ${myhostname} $mail_name ${stress?busy} $(mydomain)\n",
     None, [], None),
    ("postfix-undefined-variable", "mailbox_command = /usr/bin/procmail -a \"$EXTENSION\"\n", None, [], None),
    ("postfix-undefined-variable", "x_maps = ${undefined_thing:{hash:/etc/x}}\n", None, [], None),
    # postfix-submission-no-auth
    ("postfix-submission-no-auth", CERT, SMTP + "submission inet n - y - - smtpd\n"
     "  -o smtpd_tls_security_level=encrypt\n", [("master.cf", 2)], None),
    ("postfix-submission-no-auth", "", SMTP + "465 inet n - y - - smtpd\n  -o smtpd_tls_wrappermode=yes\n"
     "  -o smtpd_sasl_auth_enable=yes\n", [("master.cf", 1 + 1)], None),
    ("postfix-submission-no-auth", CERT, SUBMISSION_OK, [], None),
    ("postfix-submission-no-auth", "", SMTP + "127.0.0.1:submission inet n - y - - smtpd\n", [], None),
    # ... and on a host whose role is submission, no AUTH anywhere is the problem itself
    ("postfix-submission-no-auth", "", SMTP, [("master.cf", 1)], {"roles": ["mx", "submission"]}),
    ("postfix-submission-no-auth", "", SMTP, [], {"roles": ["mx"]}),
    ("postfix-submission-no-auth", "smtpd_sasl_auth_enable = yes\n", SMTP, [], {"roles": ["submission"]}),
    # postfix-auth-without-tls
    ("postfix-auth-without-tls", CERT + "smtpd_sasl_auth_enable = yes\nsmtpd_tls_security_level = may\n",
     SMTP, [("main.cf", 3)], None),
    ("postfix-auth-without-tls", CERT + "smtpd_sasl_auth_enable = yes\nsmtpd_tls_auth_only = yes\n", SMTP, [], None),
    ("postfix-auth-without-tls", CERT + "smtpd_sasl_auth_enable = yes\n"
     "smtpd_sasl_security_options = noanonymous, noplaintext\n", SMTP, [], None),
    ("postfix-auth-without-tls", CERT, SUBMISSION_OK, [], None),
    ("postfix-auth-without-tls", "smtpd_sasl_auth_enable = yes\n",
     "127.0.0.1:10025 inet n - n - - smtpd\n", [], None),
    # postfix-sasl-anonymous
    ("postfix-sasl-anonymous", CERT + "smtpd_sasl_tls_security_options = noplaintext\n", SUBMISSION_OK,
     [("main.cf", 3)], None),
    ("postfix-sasl-anonymous", CERT + "smtpd_sasl_security_options =\n", SUBMISSION_OK, [("main.cf", 3)], None),
    ("postfix-sasl-anonymous", CERT + "smtpd_sasl_security_options = noplaintext\n"
     "smtpd_sasl_tls_security_options = noanonymous\n", SUBMISSION_OK, [], None),
    ("postfix-sasl-anonymous", CERT + "smtpd_sasl_security_options =\nsmtpd_sasl_auth_enable = yes\n", SMTP,
     [("main.cf", 3)], None),
    # postfix-tls-missing-cert
    ("postfix-tls-missing-cert", "smtpd_tls_security_level = may\n", SMTP, [("main.cf", 1)], None),
    ("postfix-tls-missing-cert", "smtpd_use_tls = yes\n", SMTP, [("main.cf", 1)], None),
    ("postfix-tls-missing-cert", CERT + "smtpd_tls_security_level = may\n", SMTP, [], None),
    ("postfix-tls-missing-cert", "smtpd_tls_chain_files = /k.pem, /c.pem\nsmtpd_tls_security_level = encrypt\n",
     SMTP, [], None),
    ("postfix-tls-missing-cert", "smtpd_tls_security_level = none\nsmtpd_use_tls = yes\n", SMTP, [], None),
    # postfix-mynetworks-too-wide
    ("postfix-mynetworks-too-wide", MODERN + "mynetworks = 0.0.0.0/0\n", SMTP, [("main.cf", 2)], None),
    ("postfix-mynetworks-too-wide", MODERN + "mynetworks = 127.0.0.0/8 192.168.1.0/24 [::1]/128\n", SMTP, [],
     None),
    ("postfix-mynetworks-too-wide", MODERN + "mynetworks = 172.16.0.0/12\n", SMTP, [("main.cf", 2)], None),
    ("postfix-mynetworks-too-wide", "mynetworks = 0.0.0.0/0\nsmtpd_relay_restrictions = "
     "permit_sasl_authenticated, reject_unauth_destination\n", SMTP, [], None),
    # Postfix 3.3+ without compatibility_level: relay restrictions are empty, permit_mynetworks unused.
    ("postfix-mynetworks-too-wide", "mynetworks = 0.0.0.0/0\nsmtpd_recipient_restrictions = reject\n", SMTP, [],
     None),
    ("postfix-mynetworks-too-wide", "compatibility_level = 3.6\nmynetworks_style = class\n", SMTP,
     [("main.cf", 2)], {"addresses": [{"address": "20.1.2.3", "prefix": 24}]}),
    ("postfix-mynetworks-too-wide", LEGACY_RELAY, SMTP, [("master.cf", 1)],
     {"addresses": [{"address": "20.1.2.3", "prefix": 28}]}),
    ("postfix-mynetworks-too-wide", LEGACY_RELAY + "mynetworks_style = host\n", SMTP, [],
     {"addresses": [{"address": "20.1.2.3", "prefix": 16}]}),
    ("postfix-mynetworks-too-wide", LEGACY_RELAY, SMTP, [("master.cf", 1)],
     {"addresses": [{"address": "20.1.2.3", "prefix": 16}]}),
    ("postfix-mynetworks-too-wide", "compatibility_level = 2\n", SMTP, [],
     {"addresses": [{"address": "20.1.2.3", "prefix": 16}]}),
    # postfix-soft-bounce
    ("postfix-soft-bounce", "soft_bounce = yes\n", None, [("main.cf", 1)], None),
    ("postfix-soft-bounce", "", SMTP + "  -o soft_bounce=yes\n", [("master.cf", 2)], None),
    ("postfix-soft-bounce", "soft_bounce = no\n", None, [], None),
    # postfix-permit-mx-backup
    ("postfix-permit-mx-backup", "smtpd_recipient_restrictions = permit_mx_backup, reject_unauth_destination\n",
     SMTP, [("main.cf", 1)], None),
    ("postfix-permit-mx-backup", "smtpd_restriction_classes = backup\nbackup = permit_mx_backup\n"
     "smtpd_recipient_restrictions = check_recipient_access inline:{ x.example=backup }, "
     "reject_unauth_destination\n", SMTP, [("main.cf", 2)], None),
    ("postfix-permit-mx-backup", "relay_domains = backup.example\n", SMTP, [], None),
    # postfix-open-relay: something an outsider controls reaches a permit before the relay check
    ("postfix-open-relay", MODERN + "smtpd_relay_restrictions = permit_mynetworks,\n"
     "  check_sender_access inline:{ example.org=OK }, reject_unauth_destination\nmydomain = example.org\n",
     SMTP, [("main.cf", 3)], FACTS_37),
    ("postfix-open-relay", MODERN + "smtpd_relay_restrictions = warn_if_reject reject_unauth_destination\n"
     "smtpd_recipient_restrictions = reject_unlisted_recipient, reject\n", SMTP, [], FACTS_37),
    ("postfix-open-relay", MODERN + "smtpd_relay_restrictions =\n"
     "smtpd_recipient_restrictions = permit_mynetworks, check_recipient_access inline:{ gmail.com=OK },\n"
     "  reject_unauth_destination\n", SMTP, [("main.cf", 3)], FACTS_37),
    ("postfix-open-relay", MODERN + "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n"
     "allow_untrusted_routing = yes\nrelay_domains = partner.example\n"
     "smtpd_recipient_restrictions = check_recipient_access inline:{ partner.example=OK }\n", SMTP, [], FACTS_37),
    ("postfix-open-relay", MODERN + "mynetworks = 0.0.0.0/0\n", SMTP, [("main.cf", 2)], FACTS_37),
    ("postfix-open-relay", MODERN + "mynetworks = 0.0.0.0/0\ninet_interfaces = loopback-only\n", SMTP, [],
     FACTS_37),
    ("postfix-open-relay", MODERN + "smtpd_relay_restrictions = permit_mynetworks, "
     "check_client_access cidr:/etc/postfix/c.cidr, reject_unauth_destination\n", SMTP, [], FACTS_37),
    ("postfix-open-relay", MODERN + "smtpd_relay_restrictions = permit_mynetworks, "
     "check_client_access static:OK, reject_unauth_destination\n", SMTP, [("main.cf", 2)], FACTS_37),
    ("postfix-open-relay", MODERN + "mynetworks = 0.0.0.0/0\n",
     "smtp inet n - y - 1 postscreen\nsmtpd pass - - y - - smtpd\n", [("main.cf", 2)], FACTS_37),
    # a DNS list in front of the permit refuses only the addresses it names: an attacker uses another
    ("postfix-open-relay", MODERN + "smtpd_relay_restrictions = reject_rbl_client zen.example, permit_mynetworks,\n"
     "  check_helo_access inline:{ web1.example.org=OK }, reject_unauth_destination\n", SMTP, [("main.cf", 3)],
     FACTS_37),
    # a table the snapshot lacks could refuse anyone: undecided (postfix-undecided), not an open relay
    ("postfix-open-relay", MODERN + "smtpd_relay_restrictions = check_client_access hash:/etc/postfix/gone,\n"
     "  permit_mynetworks, check_helo_access inline:{ web1.example.org=OK }, reject_unauth_destination\n",
     SMTP, [], FACTS_37),
    # postfix-no-relay-check: the startup check, and lists that only give 451 4.3.5
    ("postfix-no-relay-check", "smtpd_recipient_restrictions = permit_mynetworks\n", SMTP, [("main.cf", 1)],
     FACTS_37),
    ("postfix-no-relay-check", "compatibility_level = 2\nsmtpd_relay_restrictions = permit, "
     "reject_unauth_destination\n", SMTP, [("main.cf", 2)], FACTS_37),
    ("postfix-no-relay-check", MODERN + "smtpd_relay_restrictions = permit_mynetworks reject_unauth_destinaton\n",
     SMTP, [("main.cf", 2)], FACTS_37),
    ("postfix-no-relay-check", MODERN + "smtpd_restriction_classes = strict\nstrict = reject\n"
     "smtpd_relay_restrictions = permit_mynetworks strict\n", SMTP, [], FACTS_37),
    ("postfix-no-relay-check", "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination\n",
     SMTP, [], FACTS_37),
    # postfix-users-cannot-relay
    ("postfix-users-cannot-relay", MODERN + CERT + "smtpd_sasl_auth_enable = yes\n"
     "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination, permit_sasl_authenticated\n",
     SMTP, [("main.cf", 5)], FACTS_37),
    ("postfix-users-cannot-relay", MODERN + CERT, SUBMISSION_OK + "  -o smtpd_client_restrictions=permit_mynetworks,"
     "reject\n", [("master.cf", 6)], FACTS_37),
    ("postfix-users-cannot-relay", MODERN + CERT, SUBMISSION_OK, [], FACTS_37),
    ("postfix-users-cannot-relay", MODERN, SMTP, [], FACTS_37),
    # postfix-inbound-rejected
    ("postfix-inbound-rejected", MODERN + "mydestination = $myhostname, example.org\n"
     "smtpd_client_restrictions = permit_mynetworks, reject\n", SMTP, [("main.cf", 3)], FACTS_37),
    ("postfix-inbound-rejected", MODERN + "virtual_mailbox_domains = example.net\n"
     "virtual_mailbox_maps = inline:{ alice@example.net=x }\n"
     "smtpd_recipient_restrictions = permit_sasl_authenticated, reject\n", SMTP, [("main.cf", 4)], FACTS_37),
    ("postfix-inbound-rejected", MODERN + "mydestination = $myhostname, example.org\n", SMTP, [], FACTS_37),
    ("postfix-inbound-rejected", MODERN + "smtpd_client_restrictions = permit_mynetworks, reject\n", SMTP, [],
     FACTS_37),
    # a host whose roles say it receives no internet mail may refuse it
    ("postfix-inbound-rejected", MODERN + "mydestination = $myhostname, example.org\n"
     "smtpd_client_restrictions = permit_mynetworks, reject\n", SMTP, [], FACTS_37 | {"roles": ["outbound"]}),
    ("postfix-inbound-rejected", MODERN + "mydestination = $myhostname, example.org\n"
     "smtpd_client_restrictions = permit_mynetworks, reject\n", SMTP, [("main.cf", 3)],
     FACTS_37 | {"roles": ["relay", "mx"]}),
    # postfix-undecided: a table the snapshot lacks, or a policy service, that could open the relay
    ("postfix-undecided", MODERN + "smtpd_relay_restrictions = permit_mynetworks,\n"
     "  check_helo_access hash:/etc/postfix/helo_access, reject_unauth_destination\n", SMTP, [("main.cf", 3)],
     FACTS_37),
    ("postfix-undecided", MODERN + "smtpd_relay_restrictions = permit_mynetworks,\n"
     "  check_policy_service unix:private/policy, reject_unauth_destination\n", SMTP, [("main.cf", 3)], FACTS_37),
    ("postfix-undecided", MODERN + "smtpd_relay_restrictions = permit_mynetworks,\n"
     "  check_client_access cidr:/etc/postfix/c.cidr, reject_unauth_destination\n", SMTP, [], FACTS_37),
    # after the relay check the table decides nothing about relaying; a DNS list only refuses
    ("postfix-undecided", MODERN + "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination,\n"
     "  check_helo_access hash:/etc/postfix/helo_access\n", SMTP, [], FACTS_37 | {"roles": ["relay"]}),
    ("postfix-undecided", MODERN + "mydestination = $myhostname, example.org\n"
     "smtpd_client_restrictions = reject_rbl_client zen.spamhaus.org\n", SMTP, [], FACTS_37),
]


@pytest.mark.parametrize(("rule", "main", "master", "expected", "facts"), CASES,
                         ids=[f"{c[0]}-{i}-{'fail' if c[3] else 'pass'}" for i, c in enumerate(CASES)])
def test_rule_case(lint, rule, main, master, expected, facts):
    files = {"/etc/postfix/c.cidr": "10.0.0.0/8 OK\n10.1.2.3/8 REJECT\n"}
    found = by_rule(lint(main=main, master=master, facts=facts, files=files), rule)
    got = sorted((f.location.file.rsplit("/", 1)[-1], f.location.line) for f in found)
    assert got == sorted(expected), [f.message for f in found]


def test_every_rule_has_cases_both_ways():
    ids = {r.id for r in all_rules() if r.system == "postfix"}
    failing = {c[0] for c in CASES if c[3]}
    passing = {c[0] for c in CASES if not c[3]}
    assert ids <= failing, ids - failing
    assert ids <= passing, ids - passing


def test_every_rule_has_a_doc_page():
    for rule in all_rules():
        doc = rule.doc
        assert doc.startswith(f"# {rule.id}\n"), rule.id
        for heading in ("## What it checks", "## Why it matters", "## Bad", "## Good", "## How to fix"):
            assert heading in doc, (rule.id, heading)


def test_mynetworks_severity_depends_on_width(lint):
    wide = by_rule(lint(main=MODERN + "mynetworks = 198.51.0.0/16\n", master=SMTP), "postfix-mynetworks-too-wide")
    narrow = by_rule(lint(main=MODERN + "mynetworks = 198.51.100.0/28\n", master=SMTP),
                     "postfix-mynetworks-too-wide")
    assert [f.severity for f in wide] == [Severity.ERROR]
    assert [f.severity for f in narrow] == [Severity.WARNING]


def test_users_cannot_relay_where_smtpd_cannot_start_says_so_not_none(lint):
    main = MODERN + CERT + "smtpd_sasl_auth_enable = yes\nsmtpd_relay_restrictions = permit\n" \
        "smtpd_recipient_restrictions = permit\n"  # no reject_unauth_destination anywhere: smtpd exits
    [found] = by_rule(lint(main=main, master=SMTP), "postfix-users-cannot-relay")
    assert "gets no reply (smtpd cannot start)" in found.message and "None" not in found.message, found.message


def test_suppression_comment_silences_only_the_named_rule(lint):
    main = ("# mailcfg: ignore postfix-soft-bounce -- staging host, reviewed\n"
            "soft_bounce = yes\n"
            "# mailcfg: ignore postfix-soft-bounce\n\n"
            "smtpd_banner = $myhostnme\n")
    findings = lint(main=main)
    assert by_rule(findings, "postfix-soft-bounce") == []
    assert len(by_rule(findings, "postfix-undefined-variable")) == 1


def test_suppression_covers_continuation_lines(lint):
    main = ("# mailcfg: ignore postfix-syntax\n"
            "smtpd_recipient_restrictions = permit_mynetworks,\n    no_such_restriction\n")
    assert by_rule(lint(main=main), "postfix-syntax") == []
    assert len(by_rule(lint(main=main.split("\n", 1)[1]), "postfix-syntax")) == 1
