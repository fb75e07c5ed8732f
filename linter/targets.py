"""What the user named on the command line, turned into things to check: local paths and hosts.

`ssh://user@host:port` is a host; with `-i INVENTORY`, a word that is no local path is a host
pattern (a group, a host, `mx*`, `a:&b`, `a:!b`), narrowed by `--limit`; a word with no slash that
is no local path is a host name resolved through ~/.ssh/config; anything else is a local path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mailcfg.errors import MailcfgError
from mailcfg.remote import inventory, sshconfig
from mailcfg.remote.hosts import HostSpec
from mailcfg.remote.ssh import is_ssh_target


@dataclass(frozen=True)
class Target:
    label: str  # how reports name it
    host: HostSpec | None = None
    path: str | None = None


def expand(words: list[str], inventory_file: Path | None = None, limit: str | None = None) -> list[Target]:
    inv = inventory.load(inventory_file) if inventory_file is not None else None
    if limit is not None and inv is None:
        raise MailcfgError("--limit selects hosts of an inventory: give one with -i FILE")
    allowed = {h.name for h in inventory.select(inv, limit)} if inv is not None and limit else None
    targets: list[Target] = []
    for word in words:
        if is_ssh_target(word):
            targets.append(Target(word, host=HostSpec.from_url(word)))
        elif Path(word).exists() or "/" in word:
            targets.append(Target(word, path=word))
        elif inv is not None:
            targets += [Target(h.name, host=h) for h in inventory.select(inv, word)
                        if allowed is None or h.name in allowed]
        else:
            targets.append(Target(word, host=sshconfig.resolve(word)))
    return targets
