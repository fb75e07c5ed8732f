"""What Postfix knows: parameter names and smtpd restriction names, per release.

The data files are derived from Postfix's source (proto/postconf.proto per release branch,
src/smtpd/smtpd_check.c); their header comments say how.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from mailcfg import packaged
from mailcfg.postfix.mastercf import MasterCf
from mailcfg.postfix.version import Version, parse_version


@dataclass(frozen=True)
class Restriction:
    """An smtpd restriction as Postfix's releases know it."""

    name: str
    argument: str  # none, table, domain, policy, prefix, ...
    since: Version | None
    removed: Version | None
    deprecated: Version | None
    kind: str
    lists: tuple[str, ...]  # ("any",) or the lists it is valid in


def _rows(filename: str) -> list[list[str]]:
    text = packaged.text("mailcfg.postfix", "data", filename)
    return [line.split("\t") for line in text.splitlines() if line.strip() and not line.startswith("#")]


@cache
def _parameters() -> tuple[dict[str, str], tuple[str, ...]]:
    """Each name with the release that removed it ("" while known), and the per-service suffixes."""
    names: dict[str, str] = {}
    suffixes: list[str] = []
    for row in _rows("parameters.tsv"):
        if row[0] == "*":
            suffixes.append(row[1])
        else:
            names[row[0]] = row[2] if len(row) > 2 else ""
    return names, tuple(suffixes)


def parameter_names() -> set[str]:
    return set(_parameters()[0])


def is_known(name: str, master: MasterCf | None = None) -> bool:
    """True for a built-in parameter, or a per-service one such as `relay_destination_concurrency_limit`."""
    names, suffixes = _parameters()
    if name in names:
        return True
    if master is None:
        return False
    services = {s.name for s in master.services}
    return any(name.endswith(sfx) and name[: -len(sfx)] in services for sfx in suffixes)


def has_service_suffix(name: str) -> bool:
    return any(name.endswith(sfx) and len(name) > len(sfx) for sfx in _parameters()[1])


def parameter_removed(name: str) -> Version | None:
    return parse_version(_parameters()[0].get(name))


@cache
def restrictions() -> dict[str, Restriction]:
    result = {}
    for row in _rows("restrictions.tsv"):
        row += [""] * (7 - len(row))
        name, argument, since, removed, deprecated, kind, lists = row[:7]
        result[name.lower()] = Restriction(
            name, argument, parse_version(since), parse_version(removed), parse_version(deprecated),
            kind, tuple(x.strip() for x in (lists or "any").split(",")))
    return result
