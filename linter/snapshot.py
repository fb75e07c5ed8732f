"""Snapshots: the one input of every analysis, read here from local paths.

A snapshot mirrors the host's filesystem for the files that matter plus facts about the host
(.mailcfg-host/facts.json). A mail system's config directory, a copy of /etc or a single file is
accepted too and seen as a snapshot whose host directory (/etc/postfix, /etc/exim4) is that directory:
which system's, each system says (mailcfg.systems); nothing here knows one.

A snapshot may come from anyone (a pull request, a fetched host), so every file is looked up only
inside its root: no `..`, no symbolic link out of it, nothing but regular files.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from mailcfg.configkind import file_system
from mailcfg.errors import MailcfgError
from mailcfg.facts import Facts, read_facts
from mailcfg.facts import Interface as Interface  # re-exported: where the analysis finds it
from mailcfg.systems import mail_systems

FACTS = ".mailcfg-host/facts.json"


@dataclass(frozen=True)
class Mount:
    """A local directory or file standing for a host path, in a target that is not a snapshot."""

    host: str  # absolute host path: a directory ("/etc/postfix") or one file ("/etc/postfix/main.cf")
    local: Path
    shown: str | None = None  # how findings name a file mount (None: relative to the target's root)


@dataclass(frozen=True)
class Refusal:
    """Why a file the analysis asked for was not read."""

    outside: bool  # it is (or may be) outside the snapshot; else it is no regular file
    reason: str


@dataclass
class Snapshot:
    """A host's files as collected (or a local configuration directory) and its facts."""

    target: str  # as the user named it
    root: Path  # the directory that stands for the host's "/"
    mounts: list[Mount] = field(default_factory=list)  # not a snapshot: what stands for which host path
    systems: list[str] = field(default_factory=list)  # names of the mail systems found (mailcfg.systems)
    facts: Facts = field(default_factory=Facts)
    is_snapshot: bool = False  # a full snapshot, not a bare config directory
    overrides: dict[str, Path | None] = field(default_factory=dict)  # host path -> another file, or absent
    # host path -> why it was not read; shared with the snapshots `with_files` derives
    refused: dict[str, Refusal] = field(default_factory=dict)

    def with_files(self, overrides: dict[str, Path | None]) -> Snapshot:
        """The same snapshot with some host files replaced (or gone): a configuration as it would be."""
        return dataclasses.replace(self, overrides={**self.overrides, **overrides})

    def resolve(self, host_path: str) -> Path | None:
        """The snapshot file standing for `host_path` on the host, if the snapshot has it.

        Only a regular file inside the snapshot root is ever returned: a path naming `..`, a symbolic
        link leading out of the root and a FIFO, device or socket are recorded in `refused` instead
        and count as absent, so nothing outside the snapshot is read and nothing can hang a read."""
        if host_path in self.overrides:
            return self.overrides[host_path]
        named = next((m.local for m in self.mounts if m.host == host_path and m.shown is not None), None)
        if named is not None:  # the file the user named as the target, wherever it leads
            return named
        local = self.local_path(host_path)
        return self._checked(host_path, local, directory=False) if local is not None else None

    def local_path(self, host_path: str) -> Path | None:
        """Where `host_path` is or would be in the snapshot, before any check: not to be read as such."""
        if not host_path.startswith("/"):
            return None
        if self.is_snapshot:
            return self.root / host_path.lstrip("/")
        mount = self._mount(host_path)
        return mount.local / host_path[len(mount.host) + 1:] if mount is not None else None

    def _mount(self, host_path: str) -> Mount | None:
        """The mount `host_path` is in: a file mount before the directory holding it."""
        return next((m for m in self.mounts if host_path == m.host), None) or \
            next((m for m in self.mounts if host_path.startswith(m.host + "/")), None)

    def mounted(self, host_dir: str) -> bool:
        """Whether a local directory given as the target stands for `host_dir` as a whole."""
        return any(m.host == host_dir for m in self.mounts)

    def host_path(self, local: Path) -> str | None:
        """The host path a snapshot file stands for: the inverse of `local_path`."""
        if self.is_snapshot:
            return "/" + local.relative_to(self.root).as_posix() if local.is_relative_to(self.root) else None
        for m in self.mounts:
            if local == m.local:
                return m.host
        for m in self.mounts:
            if local.is_relative_to(m.local):
                return f"{m.host}/{local.relative_to(m.local).as_posix()}"
        return None

    def host_of(self, shown: str) -> str | None:
        """The host path of a file the way findings name it: the inverse of `display`."""
        if self.is_snapshot:
            return "/" + shown
        return next((m.host for m in self.mounts if m.shown == shown), None) or self.host_path(self.root / shown)

    @cached_property
    def _real_root(self) -> str:
        return os.path.realpath(self.root)

    def _checked(self, host_path: str, local: Path, directory: bool) -> Path | None:
        found, refusal = self._inspected(host_path, local, directory)
        if refusal is not None:
            self.refused[host_path] = refusal
        return found

    def _inspected(self, host_path: str, local: Path, directory: bool) -> tuple[Path | None, Refusal | None]:
        """`local` if it is what is asked for (a regular file or a directory) inside the snapshot; else None,
        with why it is refused when it is there but may not be read."""
        if "\0" in host_path:  # no file has such a name
            return None, None
        if ".." in host_path.split("/"):
            return None, Refusal(True, "the path names '..', which could lead outside the snapshot")
        real = os.path.realpath(local)
        if os.path.commonpath([real, self._real_root]) != self._real_root:
            return None, Refusal(True, "a symbolic link leads outside the snapshot")
        try:
            mode = os.stat(real).st_mode
        except OSError:
            return None, None  # absent, or a dangling link: the snapshot does not have it
        if directory or stat.S_ISDIR(mode):
            return (local if directory and stat.S_ISDIR(mode) else None), None
        if not stat.S_ISREG(mode):
            return None, Refusal(False, f"it is {file_kind(mode)}, not a regular file")
        return local, None

    def meta(self, name: str) -> Path | None:
        """A file of the snapshot's own (.mailcfg-host/...), checked like `resolve`; None outside a snapshot."""
        return self._checked(name, self.root / name, directory=False) if self.is_snapshot else None

    def display(self, host_path: str) -> str:
        """How findings name the file that stands for `host_path`."""
        if self.is_snapshot:
            return host_path.lstrip("/")
        mount = self._mount(host_path)
        if mount is None:
            return host_path
        if mount.shown is not None and host_path == mount.host:
            return mount.shown
        # relative to the target's root, like every other file (a copied /etc: postfix/main.cf)
        return self.local_path(host_path).relative_to(self.root).as_posix()

    def directory(self, host_path: str) -> list[str] | None:
        """The names in directory `host_path` on the host, if the snapshot has it."""
        real = self.resolve_dir(host_path)
        return sorted(p.name for p in real.iterdir()) if real is not None else None

    def names_in(self, host_path: str) -> frozenset[str] | None:
        """The names in directory `host_path`, checked like `resolve_dir` but recording no refusal: for telling
        that a name is absent without a look-up of its own (what the configuration asks about is looked up,
        and refused, as it is asked). None when the snapshot does not have the directory or cannot list it."""
        host_path = host_path.rstrip("/")
        local = self.local_path(host_path)
        real = self._inspected(host_path, local, directory=True)[0] if local is not None else None
        try:
            return frozenset(os.listdir(real)) if real is not None else None
        except OSError:
            return None

    def resolve_dir(self, host_path: str) -> Path | None:
        """The snapshot directory standing for `host_path`, checked like `resolve`."""
        host_path = host_path.rstrip("/")
        local = self.local_path(host_path)
        return self._checked(host_path, local, directory=True) if local is not None else None


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a regular file"


def load_local(target: str, name: str | None = None) -> Snapshot:
    """The snapshot at local path `target`; reports and messages call it `name` when given."""
    path = Path(target)
    target = name or target
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        missing = "a dangling symbolic link" if path.is_symlink() else "no such file or directory"
        raise MailcfgError(f"{target}: {missing if isinstance(exc, FileNotFoundError) else exc.strerror}") from None
    if stat.S_ISREG(mode):
        return _checked_files(_single_file(target, path))
    if not stat.S_ISDIR(mode):
        raise MailcfgError(f"{target}: {file_kind(mode)}, not a configuration file or directory")
    kind = dir_kind(path)
    if kind == "snapshot":
        return _snapshot_dir(target, path)
    if kind == "etc":
        return _checked_files(_etc_dir(target, path))
    if kind is not None:
        return _checked_files(_config_dir(target, path, path))
    marks = ", ".join(s.layout.looked_for for s in mail_systems())
    dirs = ", ".join(d.lstrip("/") for s in mail_systems() for d in s.layout.directories)
    raise MailcfgError(f"{target}: no mail configuration found (looked for {marks}, or a snapshot with {dirs} "
                       f"or {FACTS})")


def dir_kind(path: Path) -> str | None:
    """What a directory is as a target: a snapshot, a mail system's config directory (its name), a copy
    of a host's /etc ("etc"), or None when it is none of them."""
    if os.path.lexists(path / FACTS) or any(any((path / d.lstrip("/")).is_dir() for d in s.layout.directories)
                                            for s in mail_systems()):
        return "snapshot"
    system = _config_dir(str(path), path, path)
    if system.systems:
        return system.systems[0]
    if _etc_dir(str(path), path).systems:
        return "etc"
    return None


def _config_dir(target: str, root: Path, directory: Path) -> Snapshot:
    """`directory` as the configuration directory of the first system that finds its files there."""
    for system in mail_systems():
        snap = Snapshot(target, root, mounts=[Mount(system.layout.directories[0], directory)])
        if system.detect(snap):
            snap.systems.append(system.name)
            return snap
    return Snapshot(target, root)


def _checked_files(snap: Snapshot) -> Snapshot:
    """The snapshot, once every file its systems cannot be linted without is readable where it is there:
    linting a configuration without it would show defaults as the host's settings."""
    for system in mail_systems():
        if system.name not in snap.systems:
            continue
        for host_path in system.layout.essential:
            local = snap.local_path(host_path)
            if local is None or not os.path.lexists(local) or snap.resolve(host_path) is not None:
                continue
            refusal = snap.refused.pop(host_path, None)
            why = refusal.reason if refusal else "a dangling symbolic link" if local.is_symlink() else \
                "not a regular file"
            raise MailcfgError(f"{snap.target}: {snap.display(host_path)}: not read: {why}")
    return snap


def _single_file(target: str, path: Path) -> Snapshot:
    """A configuration file with what the system reads beside it (each system says which by its name,
    else by what it holds)."""
    system = file_system(path, target)
    return Snapshot(target, path.parent, mounts=system.layout.single(target, path), systems=[system.name])


def _etc_dir(target: str, path: Path) -> Snapshot:
    """A copy of a host's /etc: its postfix/, exim4/... directories stand for the host's."""
    snap = Snapshot(target, path)
    for system in mail_systems():
        host_dir = system.layout.directories[0]
        found = _config_dir(target, path, path / host_dir.removeprefix("/etc/")) \
            if host_dir.startswith("/etc/") else None
        if found is not None and found.systems == [system.name]:
            snap.mounts += found.mounts
            snap.systems.append(system.name)
    return snap


def _snapshot_dir(target: str, path: Path) -> Snapshot:
    snap = Snapshot(target, path, is_snapshot=True)
    facts = snap.meta(FACTS)
    if FACTS in snap.refused:
        raise MailcfgError(f"{target}: {FACTS}: not read: {snap.refused[FACTS].reason}")
    if facts is not None:
        snap.facts = read_facts(facts, f"{target}: {FACTS}")
    snap.systems = [s.name for s in mail_systems() if s.detect(snap)]
    essential = {p for s in mail_systems() for p in s.layout.essential}
    for host_path, reason in snap.facts.unreadable:
        if host_path in essential or not snap.systems:
            # a half-read configuration would be linted as something it is not
            raise MailcfgError(f"{target}: {host_path} could not be read on the host ({reason})"
                               + ("; fetch it with --become" if reason == "permission-denied" else ""))
    if not snap.systems:
        raise MailcfgError(f"{target}: snapshot holds no {' or '.join(s.title for s in mail_systems())} "
                           f"configuration")
    return _checked_files(snap)
