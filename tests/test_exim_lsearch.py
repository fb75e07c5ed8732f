"""${lookup{key}lsearch{file}} answers what the real Exim answers (expand._lsearch_index reads each file into
an index of its keys once): random files of keys, quoted keys, colons, blanks, comments and continuation
lines, every key looked up by `exim -be`."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import realexim
from mailcfg.exim import expand

pytestmark = pytest.mark.skipif(realexim.available() is not None, reason=str(realexim.available()))

PIECES = ["alice", "Alice", "bob", '"a b"', '"x', ":", " ", "  ", "\t", "#", "data", "x@y", ",", ""]
KEYS = ["alice", "ALICE", "bob", "a b", "x", "data", ":", "x@y"]


def _exim_answers(config: Path, file: Path, keys: list[str]) -> list[str | None]:
    # Y<data> when found, N when not: the data itself may be empty
    asked = "".join(f"${{lookup{{{k}}}lsearch{{{file}}}{{Y$value}}{{N}}}}\n" for k in keys)
    out = realexim.run_exim(["-C", str(config), "-be"], stdin=asked).stdout.split("\n")
    answers = [line.removeprefix("> ") for line in out if line.startswith("> ")][:len(keys)]
    assert len(answers) == len(keys), out
    return [a[1:] if a.startswith("Y") else None for a in answers]


def test_lookups_answer_as_exim_does(tmp_path):
    config = realexim.write_config(tmp_path / "exim.conf", "primary_hostname = test.example\n")
    rng = random.Random(11)
    for n in range(60):
        lines = ["".join(rng.choice(PIECES) for _ in range(rng.randrange(4))) for _ in range(rng.randrange(1, 8))]
        file = tmp_path / f"data{n}"
        file.write_text("\n".join(lines) + "\n")
        keys = KEYS + sorted({w for line in lines if (w := line.split(":")[0].strip().strip('"'))
                              and not set(w) & set("{}$\\\"")})
        index = expand._lsearch_index(tuple(file.read_text().splitlines()))
        mine = [index.get(key.lower()) for key in keys]
        assert mine == _exim_answers(config, file, keys), (lines, keys)


def test_a_quoted_key_with_escapes_leaves_the_file_undecided():
    # Exim reads `\\"` and the like in a quoted key: such a file is not read offline rather than misread
    assert expand._lsearch_index(('"a\\"b": one', "c: two")) is None
    assert expand._lsearch_index(('"a b": one', "c: two")) == {"a b": "one", "c": "two"}
