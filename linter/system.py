"""The one interface every mail system plugs in through (Postfix, Exim, Plesk).

Nothing outside a system's own folder (linter/postfix/, linter/exim/, linter/plesk/) knows a
system by name: lint, explain/test, fix, fetch and the CLI ask the systems listed in
mailcfg.systems, in that order, through a `MailSystem`:

- find it: `detect(snapshot)` for a snapshot, and its `Layout` for local targets that are not one
  (a config directory, a copy of /etc, a single file);
- load it: `load(snapshot, models)` gives its configuration model (a `Model`: the sources
  findings point into, the assumptions made); `models` holds the models of the systems it
  `requires`, loaded first (Plesk judges the Postfix configuration Plesk generated);
- its rules are the rules whose `system` is its name, run on its model;
- `decider(model)` decides one SMTP transaction for explain/test; the first system of the
  snapshot that has one decides (a host with Postfix and Exim: Postfix; Plesk has none, its
  host's decisions are Postfix's);
- fetch: `collect` is its part of the first collection step (sh: its files and read-only commands;
  `first_files` what that reads), `host_facts` its facts.json entry, `redact` blanks the secrets its
  files spell out, and `wanted(snapshot, commands)` names the further host files its analysis reads;
- fix --apply: `mta(run)` for the file-based commit-confirmed apply (mailcfg.remote.apply: the
  files checked, backed up, written, checked with the MTA's own tool, reloaded, confirmed or
  restored), or `applier()` for a system that changes a host another way (Plesk: its CLI).

Adding a mail system
--------------------
1. Make its folder, linter/<name>/, with its parser and model (a class with `sources` and
   `assumptions`), and linter/<name>/system.py exporting `SYSTEM = MailSystem(...)`.
2. Add "mailcfg.<name>.system" to `SYSTEMS` in linter/systems.py (order matters: earlier
   systems decide first and claim a config directory first).
3. Write its rules in rules/<name>_*.py with `system="<name>"`, each with a doc page.
4. Say how a host is read (`collect`, `first_files`, `host_facts`, `redact`, `wanted`), how its fixes
   reach a host (`mta` or `applier`), what a fix leaves to run (Fix.after, Fix.commands), and in
   which order its fixes go (`fix_order`, `fix_first`).
5. tests/test_seam.py checks that no module outside its folder branches on its name.
Never import another system's package: what two systems share goes to a neutral module (the SMTP
transaction model is mailcfg.transaction).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from mailcfg.dependence import Dependency
from mailcfg.source import SourceFile
from mailcfg.transaction import Decision, Probe

if TYPE_CHECKING:
    from mailcfg.findings import Finding
    from mailcfg.fix import Fix
    from mailcfg.fixer import FixRun
    from mailcfg.lint import TargetResult
    from mailcfg.remote.apply import Applied
    from mailcfg.remote.applyscript import Mta
    from mailcfg.remote.collect import Collected
    from mailcfg.remote.hosts import HostSpec
    from mailcfg.remote.knownhosts import KnownHosts
    from mailcfg.remote.redact import Redacted
    from mailcfg.remote.ssh import SshOptions
    from mailcfg.snapshot import Mount, Snapshot

Decider = Callable[[Probe], tuple[Decision, list[Dependency]]]


class Model(Protocol):
    """What a system's `load` returns (PostfixConfig, EximConfig, PleskConfig...)."""

    sources: dict[str, SourceFile]  # snapshot-relative path -> source, for showing lines and suppressions
    assumptions: list[str]


class HostApplier(Protocol):
    """Changes a host as a fix run says, checks it with `recheck()` (a fresh fetch and lint), and keeps
    the change only when that is what the run predicted; restores the host otherwise."""

    def __call__(self, spec: HostSpec, options: SshOptions, run: FixRun, recheck: Callable[[], TargetResult],
                 known: KnownHosts | None, *, confirm_seconds: int, redacted: frozenset[str]) -> Applied: ...


@dataclass
class Wanted:
    """Host files a system's analysis reads, as its parsers find them in what was collected so far."""

    reads: set[str] = field(default_factory=set)  # read by the analysis: an absent one is reported
    optional: set[str] = field(default_factory=set)  # looked for: absence is normal
    loads: set[str] = field(default_factory=set)  # configuration files still to read (they may name secrets)
    secrets: set[str] = field(default_factory=set)  # named by credential settings: never collected


def _nothing(_: str) -> bool:
    return False


def output(commands: Mapping[str, tuple[int, bytes]], name: str) -> str | None:
    """A collected command's output when it succeeded."""
    rc, body = commands.get(name, (1, b""))
    return body.decode("utf-8", "replace") if rc == 0 else None


@dataclass(frozen=True)
class Layout:
    """Where a system's configuration lives, for local targets that are no snapshot."""

    directories: tuple[str, ...]  # host directories; a config directory given as the target stands for the first
    looked_for: str  # what marks it, for the message when nothing is found ("main.cf, master.cf")
    single: Callable[[str, Path], list[Mount]]  # (target, file) given alone: what stands for which host path
    by_name: Callable[[str], bool] = _nothing  # a file name only its configuration files have
    sure: Callable[[str], bool] = _nothing  # a file's text has a line only its configuration has
    knows: Callable[[str], bool] = _nothing  # a name of one of its settings (`name = value` files)
    hints: tuple[tuple[re.Pattern[str], str], ...] = ()  # a file that is none: what it may be instead
    essential: tuple[str, ...] = ()  # host files that, there but unreadable, stop the lint
    creatable: tuple[str, ...] = ()  # host files a fix may create where the snapshot has none


@dataclass(frozen=True)
class MailSystem:
    """One mail system's seam: how it is found, loaded, collected and decided, and how its fixes are applied."""

    name: str  # "postfix", "exim", "plesk": Rule.system of its rules
    title: str  # as people write it: "Postfix"
    detect: Callable[[Snapshot], bool]  # is its configuration in the snapshot
    load: Callable[[Snapshot, Mapping[str, Model]], Model]  # gets the models of `requires`
    layout: Layout
    requires: tuple[str, ...] = ()  # systems loaded first and passed to `load` (Plesk: ("postfix",))
    decider: Callable[[Model], Decider] | None = None  # explain/test
    # fix --apply: the MTA the file-based apply checks and reloads, or an applier of its own
    mta: Callable[[FixRun], Mta] | None = None
    applier: Callable[[], HostApplier] | None = None
    owns: tuple[str, ...] = ()  # host path prefixes of its configuration: a changed file there is its to apply
    # fetch: more files to read, given the snapshot so far (None when it holds none of this system's
    # configuration) and the output of the first step's commands (name -> (exit code, output))
    wanted: Callable[[Snapshot | None, Mapping[str, tuple[int, bytes]]], Wanted] | None = None
    # fetch: its entry in facts.json's "systems" ({"version": ...}), from the files (host path -> content)
    # and command outputs the first step collected; None when the host does not run it
    host_facts: Callable[[Mapping[str, bytes], Mapping[str, tuple[int, bytes]]], dict | None] | None = None
    is_setting: Callable[[str], bool] = _nothing  # a trace step naming one, with no file, is its built-in default
    # fetch: POSIX sh the first step also runs (mailcfg.remote.collect's `run`, `file` and `denied` at hand):
    # commands whose output its analysis reads (Plesk: `plesk db`), files only such a command can give
    collect: str = ""
    # host files its `collect` reads by name, and directories it reads whole (ending in "/"): not asked again
    first_files: tuple[str, ...] = ()
    # fetch: its secrets written inline in what was collected, replaced line for line (mailcfg.remote.redact)
    redact: Callable[[Collected], Redacted] | None = None
    # lint: a system built on another (Plesk on the Postfix it writes) sees each finding of the systems it
    # `requires` with its fix: (its model, finding, fix) -> the finding as it explains it, and the fix it allows
    review: Callable[[Model, Finding, Fix | None], tuple[Finding, Fix | None]] | None = None
    # what a finding at (file, line) of its model is about: the setting, service or statement that
    # names it in fingerprints (mailcfg.fingerprint), never a line number or a value
    subject: Callable[[Model, str, int], str | None] | None = None
    # fix: when several of its findings have a fix, the one that unblocks the others goes first (a server
    # that cannot run, then relaying, then authentication, then the rest)
    fix_order: tuple[str, ...] = ()
    # rule ids whose fewer findings mean a fix closed an open relay or let a server run that could not:
    # such a fix is kept whatever it reveals (inbound mail that only came in through the hole...)
    fix_first: tuple[str, ...] = ()
