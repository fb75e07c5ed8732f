"""What this host's `plesk bin mailserver` offers, read from its `--help` text.

The switch names are [V-3p] at best (no reference page of the utility was found), so a fix uses a
switch only when this host's help lists it.
"""

from __future__ import annotations

import re

# Long switches (`--set-relay`) and their parameters (`-auth-type`), as Plesk's CLI spells them.
_SWITCH = re.compile(r"(?<![\w-])(--?[a-z][a-z0-9]*(?:-[a-z0-9]+)*)")


def switches(help_text: str) -> frozenset[str]:
    return frozenset(m[1] for m in _SWITCH.finditer(help_text))
