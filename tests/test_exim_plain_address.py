"""The shortcut for a plain <local@domain> gives what Exim's parser (address._parse) reads in it, with
every syntax option; anything near it (dots, hyphens, comments, quotes, blanks, other letters, literals,
a length over the limit) is left to the parser, whose answer extract then gives."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mailcfg.exim.address import _PLAIN, MAX_ADDRESS, Syntax, _parse, extract

SYNTAXES = [Syntax(a, b, c) for a in (False, True) for b in (False, True) for c in (False, True)]

_WORD = st.text(alphabet="aZ09-+_!'`~", min_size=1, max_size=4)  # of a plain local part
_LABEL = st.text(alphabet="aZ09-", min_size=1, max_size=4)  # of a plain domain, or one led by a hyphen
_ODD = ".-\\\"() \t\xa0é@<>[]:,;"  # a character that may make it something else


@given(st.lists(_WORD, min_size=1, max_size=3), st.lists(_LABEL, min_size=1, max_size=3),
       st.sampled_from(["", *_ODD]), st.integers(0, 30), st.booleans())
@settings(max_examples=1000, deadline=None)
def test_shortcut_reads_as_the_parser(words: list[str], labels: list[str], odd: str, at: int,
                                      allow_null: bool) -> None:
    mailbox = f"<{'.'.join(words)}@{'.'.join(labels)}>"
    mailbox = mailbox[:at] + odd + mailbox[at:]
    for syntax in SYNTAXES:
        assert extract(mailbox, allow_null, syntax) == _parse(mailbox, allow_null, syntax), mailbox


@pytest.mark.parametrize("mailbox, plain", [
    ("<alice@example.com>", True), ("<A.b+tag!#$%&'*/=?^_`{|}~-@EX-AMPLE.co9>", True), ("<a@b->", True),
    ("<a..b@c>", False), ("<.a@c>", False), ("<a.@c>", False), ("<a@-b>", False), ("<a@b.>", False),
    ("<a@b..c>", False), ("<a(x)@b>", False), ('<"a"@b>', False), ("< a@b>", False), ("<a@b >", False),
    ("<a@[192.0.2.1]>", False), ("<@r:a@b>", False), ("<<a@b>>", False), ("a@b", False), ("<a@b>\n", False),
    (f"<{'a' * (MAX_ADDRESS - 2)}@b>", True), (f"<{'a' * (MAX_ADDRESS - 1)}@b>", False),
])
def test_which_arguments_take_the_shortcut(mailbox: str, plain: bool) -> None:
    taken = bool(_PLAIN.fullmatch(mailbox)) and len(mailbox) - 2 <= MAX_ADDRESS
    assert taken == plain
    for syntax in SYNTAXES:
        for allow_null in (False, True):
            assert extract(mailbox, allow_null, syntax) == _parse(mailbox, allow_null, syntax)
