"""Expanded values are remembered across configurations (postfix/expand.py `expanded`): an answer is reused
only where every name the expansion read has the same raw value again."""

from __future__ import annotations

from pathlib import Path

from mailcfg.postfix import defaults
from mailcfg.postfix.config import load_postfix
from mailcfg.postfix.expand import expand, expanded
from mailcfg.postfix.services import views
from mailcfg.snapshot import load_local
from postfix_generator import generate_batch


def test_a_value_read_differently_gives_its_own_answer():
    text = "${a?{$b}:{$c}}, localhost.$d"  # which of b and c is read depends on a
    for values in ({"a": "1", "b": "x", "c": "y", "d": "z"}, {"a": "", "b": "x", "c": "y", "d": "z"},
                   {"a": "1", "b": "$d.$d", "c": "y", "d": "z"}, {"a": "", "b": "x", "c": "w", "d": "z"},
                   {"a": "1", "b": "x", "c": "y", "d": "q"}, {"a": "1", "b": "x", "c": "y", "d": "z"}):
        assert expanded(text, values.get) == expand(text, values.get).value, values


def test_every_lookup_is_still_made():
    """A value's lookup may note an assumption (an unknown host name): the reused answer makes it too."""
    values = {"a": "$b", "b": "x"}
    first: list[str] = []
    again: list[str] = []
    assert expanded("$a-$b", lambda n: first.append(n) or values.get(n)) == "x-x"
    assert expanded("$a-$b", lambda n: again.append(n) or values.get(n)) == "x-x"
    assert again == first == ["a", "b", "b"]


def test_generated_configurations_get_what_a_fresh_expansion_gives(tmp_path: Path):
    """Sixty configurations one after the other: each service's values, many of them answers another
    configuration expanded first, equal the expander's own."""
    names = [*defaults.STATIC, "smtpd_relay_restrictions", "smtpd_recipient_restrictions", "relay_domains",
             "mynetworks_style", "mynetworks", "append_dot_mydomain", "smtpd_relay_before_recipient_restrictions"]
    checked = 0
    for g in generate_batch(tmp_path, 7, 60):
        config = load_postfix(load_local(str(g.root)))
        for _service, view in views(config):
            for name in names:
                raw = view.raw(name) or ""
                assert view.get(name) == (expand(raw, view.raw).value if "$" in raw else raw), (g.root, name)
                checked += "$" in raw
    assert checked > 1000  # the defaults with `$` were really expanded, again and again
