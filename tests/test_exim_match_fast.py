"""The shortcuts of Exim's list matching answer as the item-by-item walk does: a list whose answer needs
nothing of the subject (Ready.fixed), network items compared as integers, regex items compiled once."""

from __future__ import annotations

import ipaddress
import random

from mailcfg.exim import match
from mailcfg.exim.expand import Context

_SUBJECTS = {"host": [match.Host("192.0.2.7"), match.Host("::ffff:10.1.2.3", "mx.example.com"),
                      match.Host("2001:db8::5"), match.Host("")],
             "domain": ["example.com", "EXAMPLE.com", "[192.0.2.1]", ""],
             "localpart": ["postmaster", "a.b", ".x", "", "x|y"],
             "address": ["a@example.com", "", "postmaster@[192.0.2.1]"]}
_LISTS = [":", "", "*", "!*", ": *", "! : 192.0.2.0/24", "dnsdb;x : *", "@mx_any : *", "* : dnsdb;x", "!192.0.2.7 : *",
          "^[.] : ^.*[@%!/|] : *", "^( : *", "postmaster : ^a", "<; 2001:db8::/32 ; 10.0.0.0/8", "192.0.2.7",
          "*.example.com : example.com", "lsearch;/nowhere : *"]


def _env() -> match.Environment:
    return match.Environment(match.Scope({}), Context())


def test_fixed_answers_are_the_walks():
    fixed = 0
    for kind, subjects in _SUBJECTS.items():
        for text in _LISTS:
            ready = match._ready_list(kind, text)
            if ready.fixed is None:
                continue
            fixed += 1
            for subject in subjects:
                assert match._match_items(_env(), kind, ready, subject, ()) == ready.fixed, (kind, text, subject)
    assert fixed >= 12


def test_network_items_compare_as_ipaddress_does():
    rng = random.Random(3)
    nets = ["192.0.2.0/24", "10.0.0.0/8", "0.0.0.0/0", "192.0.2.7", "2001:db8::/32", "::/0", "::ffff:0:0/96",
            "::ffff:192.0.2.0/120", "fe80::/10"]
    hosts = ["192.0.2.7", "10.9.8.7", "2001:db8::1", "::ffff:192.0.2.9", "fe80::1%eth0", "not an address", "::1"]
    hosts += [".".join(str(rng.randrange(256)) for _ in range(4)) for _ in range(500)]
    for net_text in nets:
        test, argument = match._host_test(net_text)
        net = match._network(net_text)
        for host in hosts:
            client = match._address(host)
            expected = client is not None and client.version == net.version and client in net
            assert test(_env(), argument, match.Host(host)) == (expected, ""), (net_text, host)
    assert isinstance(match._network("192.0.2.0/24"), ipaddress.IPv4Network)


def test_regex_items_search_as_re_does():
    for pattern in ("^[.]", "^.*[@%!/|]", "^a+$", "^(?i:post)"):
        test, argument = match._local_part_test(pattern)
        assert test is match._compiled_regex
        for local in ("a.b", ".x", "aaa", "postmaster", "x|y", ""):
            assert test(_env(), argument, local) == match._regex(_env(), pattern, local)
    assert match._local_part_test("^(") == (match._regex, "^(")  # fails only when reached, as before
