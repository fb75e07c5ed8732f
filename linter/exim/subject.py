"""What an Exim finding is about, from where it is: the subject of its fingerprint.

A main option by its name, a named list by kind and name, an ACL statement by its ACL, verb
and the names of its conditions (`acl acl_check_rcpt: accept hosts`), a driver option by driver
and option, a Debian update-exim4.conf.conf variable by its name. Line numbers and values never
enter it.
"""

from __future__ import annotations

from mailcfg.exim.config import EximConfig
from mailcfg.exim.lines import Origin
from mailcfg.exim.reader import LogicalLine


def subject(config: EximConfig, file: str, line: int) -> str | None:
    return config.remember(("subject-index",), lambda: _index(config)).get((file, line))


def _index(config: EximConfig) -> dict[tuple[str, int], str]:
    parsed = config.parsed
    index: dict[tuple[str, int], str] = {}
    for s in parsed.main.values():
        _cover(index, s.line, s.name)
    for n in parsed.lists.values():
        _cover(index, n.line, f"{n.kind}list {n.name}")
    for acl in parsed.acls.values():
        _at(index, acl.origin, f"acl {acl.name}")
        for statement in acl.statements:
            text = f"acl {acl.name}: {' '.join([statement.verb, *(i.name for i in statement.items)])}"
            for origin in (statement.origin, *(i.origin for i in statement.items)):
                _at(index, origin, text)
    for d in parsed.drivers:
        _at(index, d.origin, f"{d.kind} {d.name}")
        for s in d.settings.values():
            _cover(index, s.line, f"{d.kind} {d.name}: {s.name}")
    if config.debian is not None:  # update-exim4.conf.conf's dc_* variables
        for dc in config.debian.settings.values():
            _at(index, dc.origin, dc.name)
    return index


def _at(index: dict[tuple[str, int], str], origin: Origin, name: str) -> None:
    index[(origin.file, origin.line)] = name


def _cover(index: dict[tuple[str, int], str], line: LogicalLine, name: str) -> None:
    for origin in line.physical or (line.origin,):
        _at(index, origin, name)
