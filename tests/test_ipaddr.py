"""mailcfg.ipaddr reads an address exactly as ipaddress does, whichever way it reads a dotted quad."""

from __future__ import annotations

import ipaddress
import random

from hypothesis import given
from hypothesis import strategies as st
from mailcfg.ipaddr import address


def _as_ipaddress_reads(text: str):
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _same(text: str) -> bool:
    found, expected = address(text), _as_ipaddress_reads(text)
    return found == expected and type(found) is type(expected)


def test_texts_near_a_dotted_quad():
    rng = random.Random(11)
    texts = ["1.2.3.4", "01.2.3.4", "1.2.3.04", "1.2.3.0", "0.0.0.0", "255.255.255.255", "1.2.3.256", "1.2.3",
             "1.2.3.4.5", "1..2.3", "", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4\n", "1.2.3.4\0", "\udcff", "0x1.2.3.4",
             "١.2.3.4", "1.2.3.4%eth0", "::ffff:192.0.2.1", "2001:db8::1", "::1", "[1.2.3.4]", "1.2.3.4/32"]
    texts += ["".join(rng.choice("0123456789.") for _ in range(rng.randrange(1, 17))) for _ in range(20000)]
    texts += [".".join(str(rng.randrange(300)).zfill(rng.choice((1, 1, 2, 3))) for _ in range(4)) for _ in range(5000)]
    assert [t for t in texts if not _same(t)] == []


@given(st.text(alphabet="0123456789.:abcdefx% \n", max_size=20))
def test_any_text(text):
    assert _same(text)
