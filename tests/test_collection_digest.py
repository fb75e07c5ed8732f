"""A collection's digest: a fleet's hosts share a plan and an analysis when, and only when, what was
collected from them is the same (mailcfg.remote.collection.digest)."""

from __future__ import annotations

import copy

from hypothesis import given
from hypothesis import strategies as st
from mailcfg.remote.collect import Collected
from mailcfg.remote.collection import digest
from mailcfg.remote.redact import Redaction

paths = st.text(alphabet="/abc.\n\0é\udcff", max_size=6)  # \udcff: a byte a path held that is not UTF-8
contents = st.binary(max_size=12)
collections = st.builds(
    Collected,
    files=st.dictionaries(paths, contents, max_size=3),
    commands=st.dictionaries(paths, st.tuples(st.integers(-1, 300), contents), max_size=2),
    errors=st.lists(st.tuples(paths, paths), max_size=2),
    asked=st.sets(paths, max_size=2),
    links=st.dictionaries(paths, paths, max_size=2),
    redacted=st.lists(st.builds(Redaction, paths, st.integers(1, 9), paths), max_size=2))


def _same(a: Collected, b: Collected) -> bool:
    return (a.files, a.commands, a.errors, a.asked, a.links, a.redacted) == \
        (b.files, b.commands, b.errors, b.asked, b.links, b.redacted)


@given(collections, collections, st.sampled_from([(), (None,), (["mx"],), (["mx", "submission"],)]))
def test_two_collections_share_a_digest_exactly_when_they_are_the_same(a, b, more):
    assert (digest(a, *more) == digest(b, *more)) == _same(a, b)
    assert digest(a, *more) == digest(copy.deepcopy(a), *more)


def test_no_boundary_between_parts_can_be_moved():
    assert digest(Collected(files={"/a": b"bc"})) != digest(Collected(files={"/ab": b"c"}))
    assert digest(Collected(files={"/a": b"", "/b": b""})) != digest(Collected(files={"/a": b"/b"}))
    assert digest(Collected(asked={"/a"})) != digest(Collected(links={"/a": ""}))
    assert digest(Collected(errors=[("/a", "b")])) != digest(Collected(errors=[("/a", ""), ("b", "")]))


def test_what_the_host_is_linted_as_is_part_of_it():
    c = Collected(files={"/etc/postfix/main.cf": b"mynetworks = 127.0.0.0/8\n"})
    assert len({digest(c), digest(c, None), digest(c, ["mx"]), digest(c, ["submission"])}) == 4
