"""The open-relay search tries each outside client only while the configuration can tell it from
those tried before (postfix/clientfacts.py): what a table or list knows of one client's address
keeps that client in the search, and leaving out the clients it cannot tell apart changes no
finding."""

from __future__ import annotations

import pytest
from conftest import by_rule, make_snapshot
from mailcfg.lint import lint_snapshot
from mailcfg.postfix import probes
from mailcfg.postfix.config import load_postfix
from mailcfg.postfix.services import views
from mailcfg.snapshot import load_local
from postfix_generator import generate_batch

MAIN = """myhostname = mx.example.com
mydestination = $myhostname localhost
mynetworks = 127.0.0.0/8
inet_protocols = ipv4, ipv6
smtpd_relay_restrictions = {relay}
"""
CIDR = "/etc/postfix/clients.cidr"


@pytest.mark.parametrize("table, entry, client", [
    (f"cidr:{CIDR}", "203.0.113.0/24 OK", "203.0.113.77"),
    (f"cidr:{CIDR}", "2001:db8:77::/48 OK", "2001:db8:77::77"),
    ("cidr:$config_directory/clients.cidr", "203.0.113.0/24 OK", "203.0.113.77"),  # named through a $parameter
])
def test_a_client_that_only_a_table_lets_relay_is_still_tried(lint, table, entry, client):
    findings = by_rule(lint(main=MAIN.format(relay=f"check_client_access {table}, reject_unauth_destination"),
                            files={CIDR: f"{entry}\n"}), "postfix-open-relay")
    assert len(findings) == 1 and f"({client})" in findings[0].message


def _clients(tmp_path, relay: str, files: dict[str, str] | None = None) -> list[str]:
    root = make_snapshot(tmp_path / "s", main=MAIN.format(relay=relay), files=files)
    view = next(v for s, v in views(load_postfix(load_local(str(root)))) if s.name == "smtp")
    assert probes.outside_clients(view) == ["198.51.100.77", "203.0.113.77", "2001:db8:77::77"]
    return probes.distinct_clients(view)


def test_clients_nothing_tells_apart_are_tried_once(tmp_path):
    assert _clients(tmp_path, "permit_mynetworks, reject_unauth_destination") == ["198.51.100.77"]


@pytest.mark.parametrize("relay, files, kept", [
    # the address literal a client says HELO with is looked up in the HELO table
    ("check_helo_access texthash:/etc/postfix/helo, reject_unauth_destination",
     {"/etc/postfix/helo": "[203.0.113.77] REJECT\n"}, ["198.51.100.77", "203.0.113.77"]),
    # a parent network key (partial) of one address only
    ("check_client_access texthash:/etc/postfix/c, reject_unauth_destination",
     {"/etc/postfix/c": "198.51 REJECT\n"}, ["198.51.100.77", "203.0.113.77"]),
    ("permit_mynetworks, reject_unauth_destination\nmynetworks = [2001:db8::]/32",
     None, ["198.51.100.77", "2001:db8:77::77"]),
])
def test_what_a_table_or_list_knows_of_an_address_keeps_its_client(tmp_path, relay, files, kept):
    assert _clients(tmp_path, relay, files) == kept


def test_a_class_left_at_its_default_names_its_tables(tmp_path):
    # alias_maps as a restriction class: its built-in value names hash:/etc/aliases, which answers
    # for one outside client only
    root = make_snapshot(tmp_path / "s", main=MAIN.format(relay="permit_mynetworks, reject_unauth_destination")
                         + "mynetworks = 0.0.0.0/0\nsmtpd_restriction_classes = alias_maps\n"
                         "smtpd_client_restrictions = alias_maps\n",
                         files={"/etc/aliases": "198.51.100.77 REJECT\n203.0.113.77 OK\n"})
    findings = by_rule(lint_snapshot(load_local(str(root))).findings, "postfix-open-relay")
    assert len(findings) == 1 and "(203.0.113.77)" in findings[0].message


def test_leaving_out_clients_changes_no_finding(tmp_path, monkeypatch):
    """On generated configurations (cidr and access tables, mynetworks, HELO and sender tables), the
    findings are the same as when every outside client is tried."""
    roots = [g.root for g in generate_batch(tmp_path, 77, 60)]
    reduced = [lint_snapshot(load_local(str(r))).to_json() for r in roots]
    monkeypatch.setattr(probes, "distinct_clients", probes.outside_clients)
    every = [lint_snapshot(load_local(str(r))).to_json() for r in roots]
    assert reduced == every
    assert any(len(probes.outside_clients(v)) > 1 for r in roots
               for _, v in views(load_postfix(load_local(str(r)))))
