"""Files the analysis asked for but did not read: outside the snapshot, or no regular file.

A snapshot may come from anyone (a pull request, a fetched host): a table named
`cidr:/../../etc/shadow`, a symbolic link out of the snapshot or an `.include` of `/../x` must not
make mailcfg read, and print, a file of the machine it runs on; a FIFO must not make it hang. Such
a file counts as absent (what depends on it is undecided) and is reported at the line naming it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from mailcfg.findings import Finding, Location, Severity
from mailcfg.rule import Rule
from mailcfg.snapshot import Snapshot
from mailcfg.source import SourceFile

OUTSIDE = Rule("mailcfg-path-outside-snapshot", "File named by the configuration lies outside the snapshot, not read",
               Severity.ERROR, (), "snapshot")
SPECIAL = Rule("mailcfg-not-a-regular-file", "File named by the configuration is a FIFO, device or socket, not read",
               Severity.ERROR, (), "snapshot")


@dataclass
class SnapshotReads:
    """What the rules of this module look at: the snapshot's refusals and the files that were read."""

    snapshot: Snapshot
    sources: dict[str, SourceFile]


@OUTSIDE.checker
def check_outside(reads: SnapshotReads) -> Iterator[Finding]:
    yield from _findings(reads, outside=True)


@SPECIAL.checker
def check_special(reads: SnapshotReads) -> Iterator[Finding]:
    yield from _findings(reads, outside=False)


def _findings(reads: SnapshotReads, outside: bool) -> Iterator[Finding]:
    rule = OUTSIDE if outside else SPECIAL
    for host_path, refusal in sorted(reads.snapshot.refused.items()):
        if refusal.outside == outside:
            yield rule.finding(f"{host_path} is not read ({refusal.reason}): what depends on it is left undecided",
                               naming_line(host_path, reads.sources))


def naming_line(host_path: str, sources: dict[str, SourceFile]) -> Location:
    """The first line that names `host_path`: as written, else by its longest tail (a relative include
    is named without the including file's directory)."""
    parts = host_path.strip("/").split("/")
    for tail in (host_path, *("/".join(parts[i:]) for i in range(1, len(parts) - 1))):
        for source in sources.values():
            for number, line in enumerate(source.lines, 1):
                column = line.find(tail)
                if column >= 0:
                    return Location(source.path, number, column + 1)
    return Location()
