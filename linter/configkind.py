"""Which mail system a single file given as a target belongs to: by its name, else by what it holds.

A README, an inventory, a policy file or a lookup table is no mail configuration, and linting one
as some system's configuration only produced false syntax errors. Each system says what marks its
files (mailcfg.system.Layout); this module weighs that, knowing no system.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from mailcfg.errors import MailcfgError
from mailcfg.source import read_text
from mailcfg.systems import mail_systems

if TYPE_CHECKING:
    from mailcfg.system import MailSystem

_SETTING = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)[ \t]*=", re.M)
_HINTS = ((re.compile(r"^probes[ \t]*:|\"probes\"[ \t]*:", re.M),
           "a policy file? run `mailcfg test TARGET --policy FILE`"),
          (re.compile(r"^\[[^\]]+\][ \t]*$|ansible_host|^[ \t]*hosts[ \t]*:", re.M),
           "an inventory? give it with -i FILE and name hosts or groups"))


def file_system(path: Path, shown: str) -> MailSystem:
    """The system whose configuration file `path` is; raises for anything else."""
    systems = mail_systems()
    named = next((s for s in systems if s.layout.by_name(path.name)), None)
    if named is not None:
        return named
    text = read_text(path, shown)
    found = _by_content(text, systems)
    if found is None:
        hints = (*_HINTS, *(h for s in systems for h in s.layout.hints))
        hint = next((h for pattern, h in hints if pattern.search(text)),
                    f"give a {', '.join(s.layout.looked_for for s in systems)}, or a directory holding them")
        raise MailcfgError(f"{shown}: not a mail configuration ({hint})")
    return found


def _by_content(text: str, systems: tuple[MailSystem, ...]) -> MailSystem | None:
    """The system by a line only it has; else, for a file of settings (nearly every line that starts a
    statement is `name = value`), the one knowing most names no other knows (the first on a tie)."""
    sure = next((s for s in systems if s.layout.sure(text)), None)
    if sure is not None:
        return sure
    starts = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
              and not line[0].isspace()]
    names = [m[1] for line in starts if (m := _SETTING.match(line))]
    if not names or len(names) < 0.8 * len(starts):
        return None
    known = [{n for n in names if s.layout.knows(n)} for s in systems]
    own = [len(k - set().union(*(o for o in known if o is not k))) for k in known]
    best = max(range(len(systems)), key=lambda i: (own[i], -i))
    if own[best] > 0 and sum(1 for o in own if o == own[best]) == 1:
        return systems[best]
    return next((s for s, k in zip(systems, known, strict=True) if k), None)
