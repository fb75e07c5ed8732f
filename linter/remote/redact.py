"""Secrets written inline in collected configuration, replaced on the controller before anything is
written, analysed or printed.

The allow-list (mailcfg.remote.plan) keeps files that hold credentials off the controller; this
removes the credentials a configuration spells out itself, as each mail system knows them
(MailSystem.redact: Postfix's inline password tables, Exim's `hide` options and client secrets).
Only the secret itself becomes PLACEHOLDER: each physical line keeps its place, the setting's name
and what else the value names, so files stay parseable and findings keep their line numbers. Pure:
collected data in, redacted copy and the list of what was redacted out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from mailcfg.remote.collect import Collected

PLACEHOLDER = "mailcfg-redacted"


@dataclass(frozen=True)
class Redaction:
    """One secret replaced in what was collected: where, and which setting held it."""

    path: str  # host path, or `.mailcfg-host/cmd/<name>.txt` for a command's output
    line: int  # physical line, from 1
    setting: str

    def as_json(self) -> dict:
        return {"path": self.path, "line": self.line, "setting": self.setting}


@dataclass
class Redacted:
    """What one system's pass replaced: files by host path, command outputs by name, and where."""

    files: dict[str, bytes] = field(default_factory=dict)
    commands: dict[str, bytes] = field(default_factory=dict)
    found: list[Redaction] = field(default_factory=list)


def redact(collected: Collected) -> tuple[Collected, list[Redaction]]:
    """A copy of `collected` without the inline secrets, and where they were."""
    from mailcfg.systems import mail_systems  # lazily: the systems' modules import this one

    out = dataclasses.replace(collected, files=dict(collected.files), commands=dict(collected.commands))
    done: list[Redaction] = []
    for system in mail_systems():
        if system.redact is None:
            continue
        found = system.redact(collected)
        out.files |= found.files
        out.commands |= {name: (collected.commands[name][0], body) for name, body in found.commands.items()}
        done += found.found
    out.redacted = list(dict.fromkeys(done))  # two secrets on one line: one entry
    return out, out.redacted
