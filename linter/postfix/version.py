"""Postfix release numbers, compared as tuples."""

from __future__ import annotations

import functools
import re

Version = tuple[int, int]

# What the analysis assumes when the snapshot's facts do not name the version.
ASSUMED = (3, 6)


@functools.lru_cache(maxsize=256)  # the data files name a few dozen releases, a thousand times
def parse_version(text: str | None) -> Version | None:
    if not text:
        return None
    m = re.match(r"\s*([0-9]+)\.([0-9]+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def show(version: Version) -> str:
    return f"{version[0]}.{version[1]}"
