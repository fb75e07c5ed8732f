"""${lookup{key}lsearch{file}} finds what a scan of the file for the key finds (expand._lsearch reads each
file into an index once)."""

from __future__ import annotations

import random
import re

from mailcfg.exim import expand


def _scan(lines: list[str], key: str) -> str | None:
    """The first entry of `key`, read line by line as Exim's lsearch does."""
    found: list[str] | None = None
    for line in lines:
        if found is not None:
            if line[:1].isspace() and line.strip():
                found.append(line.strip())
                continue
            break
        if not line.strip() or line.lstrip().startswith("#") or line[:1].isspace():
            continue
        if line.startswith('"'):
            end = line.find('"', 1)
            name, rest = line[1:end], line[end + 1:]
        else:
            m = re.match(r"([^\s:]+)\s*:?\s*(.*)", line)
            if not m:
                continue
            name, rest = m[1], m[2]
        if name.lower() == key.lower():
            found = [rest.lstrip(": ").strip()] if rest.lstrip().startswith(":") else [rest.strip()]
    return None if found is None else " ".join(p for p in found if p)


def test_index_finds_what_a_scan_finds():
    rng = random.Random(11)
    pieces = ["alice", "Alice", "bob", '"a b"', '"x', ":", " ", "  ", "\t", "#", "data", "x@y", ",", "", "é", "İ"]
    keys = ["alice", "ALICE", "bob", "a b", "x", "", "data", "é", "i̇", "İ", ":"]
    for _ in range(3000):
        lines = ["".join(rng.choice(pieces) for _ in range(rng.randrange(4))) for _ in range(rng.randrange(8))]
        for key in keys + [line.split(":")[0].strip() for line in lines]:
            assert expand._lsearch(lines, key) == _scan(lines, key), (lines, key)
