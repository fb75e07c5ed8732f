"""The address scanner (one regular expression) splits text exactly as the character loop it replaced."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from mailcfg.postfix.address import OPERATORS, Tok, scan


def _loop(text: str) -> list[Tok]:
    """The reference: the scanner as a character loop (what the regular expression must reproduce)."""
    toks: list[Tok] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == '"':
            j, buf = i + 1, []
            while j < len(text) and text[j] != '"':
                if text[j] == "\\" and j + 1 < len(text):
                    j += 1
                buf.append(text[j])
                j += 1
            toks.append(Tok("qstring", "".join(buf)))
            i = j + 1
        elif ch == "[":
            j = text.find("]", i)
            j = len(text) - 1 if j < 0 else j
            toks.append(Tok("domlit", text[i:j + 1]))
            i = j + 1
        elif ch in OPERATORS:
            toks.append(Tok(ch, ch))
            i += 1
        else:
            j = i
            while j < len(text) and text[j] not in OPERATORS and text[j] != '"' and not text[j].isspace():
                j += 1
            toks.append(Tok("atom", text[i:j]))
            i = j
    return toks


CASES = ['"a b"@example.com', '""@x', '"a\\"b"@c', '"unclosed', '"ends\\', '"\\', '[1.2.3.4]', "[IPv6:::1", "a]b",
         "@a,@b:user@c", "user%relay@host", "host!user", "a . b", "\t\x1c\u2003x\u00a0y", '"a\nb"',
         "x\\y", "é@ü.example"]


def test_known_shapes_scan_as_the_loop_scans_them():
    for text in CASES:
        assert scan(text) == _loop(text), text


@given(st.text(alphabet=OPERATORS + '"ab \t\n\x1c\u2003é', max_size=12))
@settings(max_examples=2000, deadline=None)
def test_any_text_scans_as_the_loop_scans_it(text):
    assert scan(text) == _loop(text)
