"""The parsers read every real-world file, print it back byte for byte, and never crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CORPUS
from hypothesis import given, settings
from hypothesis import strategies as st
from mailcfg.postfix.expand import expand
from mailcfg.postfix.maincf import parse_main_cf
from mailcfg.postfix.mastercf import parse_master_cf
from mailcfg.postfix.tokens import BLANK_SEPARATORS, LIST_SEPARATORS, _grouped, _runs, split
from mailcfg.source import SourceFile

CORPUS_FILES = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "MANIFEST.tsv")


def test_corpus_is_there():
    assert len(CORPUS_FILES) == 41


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_round_trip(path: Path):
    source = SourceFile.read(path.name, path)
    assert source.text().encode("utf-8", "surrogateescape") == path.read_bytes()
    parsed = parse_master_cf(source) if "master" in path.name else parse_main_cf(source)
    # Every line the parse covers is a line of the file, and values keep their positions.
    for entry in getattr(parsed, "entries", []):
        line = source.line_text(entry.location.line)
        assert line.startswith(entry.name)
        if entry.value:
            loc = entry.at(0)
            assert source.line_text(loc.line)[loc.column - 1:].startswith(entry.value[:1])


def test_continuation_skips_comments_and_blank_lines():
    text = "smtpd_recipient_restrictions = permit_mynetworks\n#smtpd_relay_restrictions = x\n\n" \
           "    reject_unauth_destination\nmyhostname = a # b\n"
    main = parse_main_cf(SourceFile.from_text("main.cf", text))
    first = main.get("smtpd_recipient_restrictions")
    assert [t.text for t in split(first.value)] == ["permit_mynetworks", "reject_unauth_destination"]
    assert first.at(first.value.index("reject")).line == 4
    assert main.get("myhostname").value == "a # b"


def test_last_definition_wins():
    main = parse_main_cf(SourceFile.from_text("main.cf", "a = 1\nb = 2\na = 3\n"))
    assert main.get("a").value == "3" and len(main.definitions("a")) == 2


def test_master_overrides_short_and_long_form():
    text = ("submission inet n - y - - smtpd\n  -o smtpd_sasl_auth_enable=yes\n"
            "  -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }\n")
    service = parse_master_cf(SourceFile.from_text("master.cf", text)).services[0]
    assert [(o.name, o.value) for o in service.overrides] == [
        ("smtpd_sasl_auth_enable", "yes"),
        ("smtpd_client_restrictions", "permit_sasl_authenticated, reject")]
    assert service.override("smtpd_client_restrictions").location.line == 3
    assert service.port == 587


def test_braces_group_list_items():
    items = [t.text for t in split("check_policy_service { inet:127.0.0.1:9999, default_action=DUNNO }, "
                                   "inline:{ a=b, c=d } permit")]
    assert items == ["check_policy_service", "{ inet:127.0.0.1:9999, default_action=DUNNO }",
                     "inline:{ a=b, c=d }", "permit"]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab, \t\r\n:=")), max_size=40))
def test_values_without_braces_split_as_the_grouping_scanner_does(value):
    for separators in (LIST_SEPARATORS, BLANK_SEPARATORS):
        assert _runs(value, separators) == _grouped(value, separators)


config_text = st.text(alphabet=st.sampled_from(list("ab_=$#{}() \t\n\r,:/-ox.1")), max_size=300)


@settings(max_examples=300, deadline=None)
@given(config_text)
def test_main_cf_parser_round_trips_anything(text):
    source = SourceFile.from_text("main.cf", text)
    assert source.text() == text
    parsed = parse_main_cf(source)
    for entry in parsed.entries:
        expand(entry.value, lambda name: parsed.get(name).value if parsed.get(name) else None)


@settings(max_examples=300, deadline=None)
@given(config_text)
def test_master_cf_parser_round_trips_anything(text):
    source = SourceFile.from_text("master.cf", text)
    assert source.text() == text
    parse_master_cf(source)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_round_trip(data):
    text = data.decode("utf-8", "surrogateescape")
    assert SourceFile.from_text("main.cf", text).text().encode("utf-8", "surrogateescape") == data
