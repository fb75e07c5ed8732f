"""The fast policy reader reads exactly what the YAML parser reads, or leaves the file to it."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mailcfg import plainread
from mailcfg.policy import load_policy
from ruamel.yaml import YAML

VALUES = ["yes", "no", "on", "off", "1.5", "1e3", "0x1F", "0o17", "012", "0", "25", "-1", "+1", "2001:db8::1",
          "::1", "198.51.100.7", "a: b", "a:b", "a:", "a #b", "a#b", "'q'", "'it''s'", "'a #b'", '"dq"', '"a\\tb"',
          '"a #b" # c', "~", "null", "Null", "NULL", "nUll", "true", "True", "TRUE", "tRue", "false", "2024-01-02",
          "2024-1-2 10:00", ".inf", ".NaN", ".5", "5.", "1_000", "0b101", "@x", "`x", "%x", "&a x", "*a", "!x y", "|",
          ">", "[a]", "{a: b}", "a, b", "-a", "- a", "?x", "é", "ab  ", "1:20", "1.2.3", "a'b", 'a"b', "x\\y",
          "[IPv6:2001:db8::1]", "<>", "a@b.example", "''", '""', "'unclosed", "1e", "e1", "-", "_", "1-2",
          "\u0661\u0662", "\u00b2", "\uff12\uff15"]  # other scripts' digits, a superscript, full-width digits


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    kind = next((t for t in (bool, int, float, str, type(None)) if isinstance(value, t)), object)
    return kind.__name__, kind(value) if kind in (bool, int, str) else repr(value)


def _reference(text: str):
    """What the full parser reads: the probes (values with their types) and the line of each, or None."""
    try:
        data = YAML(typ="rt").load(text)
    except Exception:
        return None
    probes = data.get("probes") if isinstance(data, dict) else None
    if not isinstance(probes, list) or not probes:
        return None
    return _plain(list(probes)), [probes.lc.item(i)[0] + 1 for i in range(len(probes))]


def _same_or_declined(text: str) -> bool:
    """True when the fast reader read the text; it must then agree with the parser."""
    fast = plainread.read(text)
    if fast is None:
        return False
    probes, lines = fast
    assert (_plain(probes), lines) == _reference(text), text
    return True


@pytest.mark.parametrize("value", VALUES)
def test_a_value_is_read_as_the_yaml_parser_reads_it_or_left_to_it(value):
    _same_or_declined(f"probes:\n  - name: n\n    helo: {value}\n    client: 198.51.100.7\n")


@given(st.text(alphabet="ab1.:-#'\" @[]{},&*!|>%~_eE0x\\", min_size=1, max_size=8))
@settings(max_examples=300, deadline=None)
def test_any_short_value_is_read_as_the_yaml_parser_reads_it_or_left_to_it(value):
    _same_or_declined(f"probes:\n- name: n\n  helo: {value}\n")


LAYOUTS = {
    "indented": "# policy\nprobes:  # the list\n  - name: a\n    client: 1.2.3.4\n\n    # a comment\n  - name: b\n"
                "    tls: true\n    port: 587\n",
    "flush": "probes:\n- name: a\n  client: 1.2.3.4\n- name: b\n  sasl_user:\n",
    "wide": "probes:\n    -   name: a\n        rcpt: x@y\n",
    "crlf": "probes:\r\n  - name: a\r\n",
    "tab": "probes:\n\t- name: a\n",
    "nested": "probes:\n  - name: a\n    client:\n      x: 1\n",
    "continued": "probes:\n  - name: a\n    rcpt: x\n      y\n",
    "duplicate": "probes:\n  - name: a\n    name: b\n",
    "other key": "probes:\n  - name: a\nversion: 1\n",
    "key first": "version: 1\nprobes:\n  - name: a\n",
    "document": "---\nprobes:\n  - name: a\n",
    "dash alone": "probes:\n  -\n    name: a\n",
    "misaligned": "probes:\n  - name: a\n     client: b\n",
    "empty": "probes:\n",
    "flow": "probes: [{name: a}]\n",
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_layout_is_read_as_the_yaml_parser_reads_it_or_left_to_it(layout):
    read = _same_or_declined(LAYOUTS[layout])
    assert read == (layout in ("indented", "flush", "wide", "crlf"))  # the common ones are taken


@pytest.mark.parametrize("text", [
    json.dumps({"probes": [{"name": "a", "client": "1.2.3.4", "tls": True, "port": 25}, {"name": "b"}]}, indent=2),
    json.dumps({"probes": [{"name": "a"}, {"name": "b", "port": 2.5}]}),
    '{"x": [1, {"y": "]"}], "probes": [\n{"name": "a"},\n\n  {"name": "b"}], "z": {}}',
    '{"probes": [{"name": "a", "name": "b"}]}',
    '{"probes": []}',
    '{"probes": [{"name": "a"}]',
    '{"probes": ["text", 1, null, [1]]}',
    '{"probes": [\r{"name": "a"},\r{"name": "b"}]}',  # bare CRs end lines too
])
def test_json_is_read_as_the_yaml_parser_reads_it_or_left_to_it(text):
    _same_or_declined(text)


def test_a_big_policy_takes_the_fast_path_and_loads_what_the_parser_loads(tmp_path):
    probes = [{"name": f"p{i}", "client": f"198.51.100.{i % 250}", "helo": "client.example.net",
               "sender": f"a{i}@sender.test", "rcpt": f"v{i}@nowhere.test", "expect": "reject", "tls": i % 2 == 0,
               "port": 587, "expect_reply": "Relay access denied$"} for i in range(300)]
    as_json = tmp_path / "p.json"
    as_json.write_text(json.dumps({"probes": probes}, indent=1))
    as_yaml = tmp_path / "p.yml"
    as_yaml.write_text("probes:\n" + "".join(
        "  - " + "\n    ".join(f"{k}: {json.dumps(v) if isinstance(v, bool) else v}" for k, v in p.items()) + "\n"
        for p in probes))
    for path in (as_json, as_yaml):
        assert _same_or_declined(path.read_text())
        loaded = load_policy(path)
        assert [e.line for e in loaded] == _reference(path.read_text())[1]
        assert all(e.error is None for e in loaded) and loaded[1].probe.tls is False and loaded[2].probe.port == 587


def test_a_tagged_number_is_read_as_its_text(tmp_path):
    """`!!str 587` is the text 587 (ruamel.yaml gives a TaggedScalar): a port written so is port 587."""
    policy = tmp_path / "p.yml"
    policy.write_text("probes:\n  - client: 198.51.100.7\n    rcpt: a@example.org\n    expect: reject\n"
                      "    port: !!str 587\n    expect_code: !!str 554\n")
    [loaded] = load_policy(policy)
    assert loaded.error is None and loaded.probe.port == 587 and loaded.expect_code == 554
