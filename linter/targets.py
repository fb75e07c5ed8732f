"""What the user named on the command line, turned into things to check: local paths and hosts.

`ssh://user@host:port` is a host; with `-i INVENTORY`, a word that is no local path is a host
pattern (a group, a host, `mx*`, `a:&b`, `a:!b`), narrowed by `--limit`; a word with no slash that
is no local path is a host name when a `Host` block of ~/.ssh/config names it (no DNS lookup, no
connection for a typo); anything else is a local path. A directory that is no target itself stands
for the targets below it: a directory of snapshots, of hosts, or a copied /etc.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mailcfg.errors import MailcfgError

if TYPE_CHECKING:
    from mailcfg.remote.hosts import HostSpec

MAX_DEPTH = 4  # hosts/<site>/<host>/etc/... is as deep as fleets of snapshots go
MAX_DIRECTORIES = 10000  # per level: `lint /` must not walk the whole filesystem


@dataclass(frozen=True)
class Target:
    """One thing to check: a local path or a host, and how reports name it."""

    label: str  # how reports name it
    host: HostSpec | None = None
    path: str | None = None


def expand(words: list[str], inventory_file: Path | None = None, limit: str | None = None) -> list[Target]:
    from mailcfg.remote import is_ssh_target

    inv = None
    if inventory_file is not None:  # the inventory reader (and its YAML library) only for a run that names one
        from mailcfg.remote import inventory

        inv = inventory.load(inventory_file)
    if limit is not None and inv is None:
        raise MailcfgError("--limit selects hosts of an inventory: give one with -i FILE")
    allowed = {h.name for h in inventory.select(inv, limit)} if inv is not None and limit else None
    targets: list[Target] = []
    for word in words:
        if is_ssh_target(word):
            from mailcfg.remote.hosts import HostSpec  # SSH's modules only for a run that names a host

            targets.append(Target(word, host=HostSpec.from_url(word)))
        elif os.path.lexists(word) or "/" in word:
            targets += [Target(path, path=path) for path in _below(word)]
        elif inv is not None:
            targets += [Target(h.name, host=h) for h in inventory.select(inv, word)
                        if allowed is None or h.name in allowed]
        elif _ssh_config_names(word):
            from mailcfg.remote import sshconfig  # paramiko's parser: only for a run that names hosts

            targets.append(Target(word, host=sshconfig.resolve(word)))
        else:
            raise MailcfgError(f"{word}: no such file or directory (use ssh://{word} for a host)")
    return targets


def _ssh_config_names(word: str) -> bool:
    """Whether a `Host` block of ~/.ssh/config names `word` ([user@]host) by more than `*`."""
    from mailcfg.remote import sshconfig  # paramiko's parser: only for a run that names hosts

    config = sshconfig.load()
    host = word.rpartition("@")[2].lower()
    if config is None or not host:
        return False
    patterns = {p.lower() for p in config.get_hostnames()}
    return any(not p.startswith("!") and p.strip("*?") and fnmatch.fnmatchcase(host, p) for p in patterns)


def _below(word: str) -> list[str]:
    """`word` itself, or the targets below a directory that is none: each snapshot, host directory or
    copied /etc, without entering one found, following no symbolic link, MAX_DEPTH levels down."""
    from mailcfg.snapshot import dir_kind  # the systems' layouts: not loaded for `--help`

    if not os.path.isdir(word) or dir_kind(Path(word)) is not None:
        return [word]
    found: list[str] = []
    level = [word]
    for _ in range(MAX_DEPTH):
        deeper = []
        for directory in level:
            for sub in _subdirectories(directory):
                (found if dir_kind(Path(sub)) is not None else deeper).append(sub)
        level = deeper[:MAX_DIRECTORIES]
    return sorted(found) or [word]  # none: loading `word` says what it lacks


def _subdirectories(directory: str) -> list[str]:
    try:
        with os.scandir(directory) as entries:
            return [os.path.join(directory, e.name) for e in entries
                    if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)]
    except OSError:
        return []
