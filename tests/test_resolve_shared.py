"""Services share trivial-rewrite's answers only where every setting it reads is the same
(postfix/address.py's REWRITE_PARAMS): what it reads is recorded here, and a `-o` that changes one
of those settings keeps that service's answers its own."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EXAMPLES, make_snapshot
from hypothesis import given, settings
from hypothesis import strategies as st
from mailcfg.postfix import address
from mailcfg.postfix.config import load_postfix
from mailcfg.postfix.effective import ParameterView
from mailcfg.postfix.services import views
from mailcfg.snapshot import load_local
from postfix_generator import generate_batch

RECIPIENTS = ("x@foreign.example", "postmaster@mx.example.com", "user%foreign.example@[127.0.0.1]",
              "foreign.example!user@mx.example.com", '"user@foreign.example"@localhost', "box@vmail.example",
              "user@[192.0.2.44]", "user@192.0.2.44", "root", "", "x@foreign.example.", "user@localhost",
              # plain addresses of domains resolved above: their domain's answers are shared
              "other.box@vmail.example", "y@foreign.example", "admin@192.0.2.44", "a+b@mx.example.com")


def _read_while_resolving(monkeypatch, configs) -> set[str]:
    """The settings `_resolve` reads itself (not those a value it reads was expanded from: the value covers them)."""
    read: set[str] = set()
    depth = {"resolve": 0, "get": 0}

    def recording(method):
        def wrapper(self, name, *args):
            if depth["resolve"] and not depth["get"]:
                read.add(name)
            depth["get"] += 1
            try:
                return method(self, name, *args)
            finally:
                depth["get"] -= 1
        return wrapper

    for method in ("get", "yes", "items", "location", "origin", "raw"):
        monkeypatch.setattr(ParameterView, method, recording(getattr(ParameterView, method)))
    plain = address._resolve

    def resolving(view, addr):
        depth["resolve"] += 1
        try:
            return plain(view, addr)
        finally:
            depth["resolve"] -= 1

    monkeypatch.setattr(address, "_resolve", resolving)
    for config in configs:
        for _, view in views(config):
            for recipient in RECIPIENTS:
                address.resolve(view, recipient)
    return read


def test_every_setting_trivial_rewrite_reads_is_among_those_compared(monkeypatch, tmp_path):
    configs = [load_postfix(load_local(str(g.root))) for g in generate_batch(tmp_path / "generated", 7, 60)]
    configs += [load_postfix(load_local(str(d))) for d in sorted(EXAMPLES.iterdir())
                if (d / "etc" / "postfix" / "main.cf").is_file()]
    read = _read_while_resolving(monkeypatch, configs)
    assert read <= set(address.REWRITE_PARAMS), sorted(read - set(address.REWRITE_PARAMS))
    assert {"mydestination", "relay_domains", "swap_bangpath", "inet_interfaces"} <= read  # the recording works


MASTER = """smtp      inet  n       -       y       -       -       smtpd
submission inet n       -       y       -       -       smtpd
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
other     inet  n       -       y       -       -       smtpd
  -o mydestination=elsewhere.example
"""


@pytest.mark.parametrize("recipient, smtp_class, other_class", [
    ("user@mx.example.com", "local", "default"),
    ("user%foreign.example@mx.example.com", "default", "default"),
])
def test_a_service_whose_rewrite_settings_differ_keeps_its_own_answers(tmp_path, recipient, smtp_class, other_class):
    root = make_snapshot(tmp_path / "s", "myhostname = mx.example.com\nmydestination = $myhostname\n", MASTER)
    by_name = {service.name: view for service, view in views(load_postfix(load_local(str(root))))}
    answers = {name: address.resolve(view, recipient) for name, view in by_name.items()}
    assert (answers["smtp"].klass, answers["other"].klass) == (smtp_class, other_class)
    assert answers["submission"] is answers["smtp"]  # its -o settings are not trivial-rewrite's: shared
    assert by_name["other"].memo["resolve"] is not by_name["smtp"].memo["resolve"]


def test_resolutions_are_the_same_shared_or_not(tmp_path):
    """Every generated configuration's services: each answer equals one worked out for that service alone."""
    for g in generate_batch(Path(tmp_path), 11, 40):
        config = load_postfix(load_local(str(g.root)))
        for _, view in views(config):
            for recipient in RECIPIENTS:
                assert address.resolve(view, recipient) == address._resolve(view, recipient), (g.root, recipient)


def test_plain_addresses_are_rewritten_as_the_token_loop_rewrites_them(tmp_path):
    """The shortcut for `local@domain.tld` gives what taking the address apart gives, local domains included."""
    configs = [load_postfix(load_local(str(g.root))) for g in generate_batch(tmp_path / "generated", 5, 30)]
    checked = 0
    for config in configs:
        for _, view in views(config):
            own = [view.get("myhostname"), f"localhost.{view.get('mydomain')}", "foreign.example", "a-b.c_d.example"]
            for domain in own:
                for local in ("user", "first.last", "a+tag", "x=y_z-1"):
                    plain = f"{local}@{domain}"
                    if address._PLAIN.fullmatch(plain):
                        assert address._plain_rewritten(view, plain) == address._rewritten(view, plain), plain
                        checked += 1
    assert checked > 500
    for not_plain in ("user@localhost", "a..b@x.example", "u%v@x.example", "u!v@x.example", '"u"@x.example',
                      "u@[192.0.2.1]", "u@x.example.", ".u@x.example", "u@@x.example", "u@x..example"):
        assert not address._PLAIN.fullmatch(not_plain), not_plain


@settings(max_examples=300, deadline=None)
@given(st.from_regex(address._PLAIN, fullmatch=True))
def test_a_plain_address_is_its_own_internal_form(plain):
    assert address.internalize(address.scan(plain)) == plain
    assert address.internal_form(f"<{plain}>") == plain
