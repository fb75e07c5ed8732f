"""Snapshots: the one input of every analysis, read here from local paths.

A snapshot mirrors the host's filesystem for the files that matter plus facts about the host
(.mailcfg-host/facts.json). A Postfix or Exim config directory, a copy of /etc or a single file is
accepted too and seen as a snapshot whose /etc/postfix (/etc/exim4) is that directory.

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

from mailcfg.configkind import EXIM_FILES, config_kind
from mailcfg.errors import MailcfgError
from mailcfg.facts import Facts, read_facts
from mailcfg.facts import Interface as Interface  # re-exported: where the analysis finds it

FACTS = ".mailcfg-host/facts.json"
POSTFIX_DIR = "/etc/postfix"
EXIM_DIR = "/etc/exim4"


@dataclass(frozen=True)
class Refusal:
    """Why a file the analysis asked for was not read."""

    outside: bool  # it is (or may be) outside the snapshot; else it is no regular file
    reason: str


@dataclass
class Snapshot:
    target: str  # as the user named it
    root: Path  # the directory that stands for the host's "/"
    postfix_dir: Path | None = None  # real directory standing for /etc/postfix
    main_cf: Path | None = None
    master_cf: Path | None = None
    display_prefix: str = ""  # prefix of reported paths for files in postfix_dir
    exim_dir: Path | None = None  # a bare Exim config directory given as the target: stands for /etc/exim4
    exim_file: Path | None = None  # a single Exim file given as the target, standing for exim_file_host
    exim_file_host: str = EXIM_DIR + "/exim4.conf"
    systems: list[str] = field(default_factory=list)
    facts: Facts = field(default_factory=Facts)
    is_snapshot: bool = False  # a full snapshot, not a bare config directory
    overrides: dict[str, Path | None] = field(default_factory=dict)  # host path -> another file, or absent
    # host path -> why it was not read; shared with the snapshots `with_files` derives
    refused: dict[str, Refusal] = field(default_factory=dict)
    postfix_names: dict[str, str] = field(default_factory=dict)  # "main.cf" -> a single file's own name

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
        local = self.local_path(host_path)
        return self._checked(host_path, local, directory=False) if local is not None else None

    def local_path(self, host_path: str) -> Path | None:
        """Where `host_path` is or would be in the snapshot, before any check: not to be read as such."""
        if not host_path.startswith("/"):
            return None
        if self.is_snapshot:
            return self.root / host_path.lstrip("/")
        if self.postfix_dir is not None and host_path.startswith(POSTFIX_DIR + "/"):
            return self.postfix_dir / host_path[len(POSTFIX_DIR) + 1:]
        if self.exim_dir is not None and (host_path + "/").startswith(EXIM_DIR + "/"):
            return self.exim_dir / host_path[len(EXIM_DIR) + 1:]
        if self.exim_file is not None and host_path == self.exim_file_host:
            return self.exim_file
        return None

    def host_path(self, local: Path) -> str | None:
        """The host path a snapshot file stands for: the inverse of `local_path`."""
        if self.exim_file is not None and local == self.exim_file:
            return self.exim_file_host
        for base, host in ((self.postfix_dir, POSTFIX_DIR), (self.exim_dir, EXIM_DIR),
                           (self.root if self.is_snapshot else None, "")):
            if base is not None and local.is_relative_to(base):
                return f"{host}/{local.relative_to(base).as_posix()}"
        return None

    @cached_property
    def _real_root(self) -> str:
        return os.path.realpath(self.root)

    def _checked(self, host_path: str, local: Path, directory: bool) -> Path | None:
        if "\0" in host_path:  # no file has such a name
            return None
        if ".." in host_path.split("/"):
            self.refused[host_path] = Refusal(True, "the path names '..', which could lead outside the snapshot")
            return None
        real = os.path.realpath(local)
        if os.path.commonpath([real, self._real_root]) != self._real_root:
            self.refused[host_path] = Refusal(True, "a symbolic link leads outside the snapshot")
            return None
        try:
            mode = os.stat(real).st_mode
        except OSError:
            return None  # absent, or a dangling link: the snapshot does not have it
        if directory or stat.S_ISDIR(mode):
            return local if directory and stat.S_ISDIR(mode) else None
        if not stat.S_ISREG(mode):
            self.refused[host_path] = Refusal(False, f"it is {file_kind(mode)}, not a regular file")
            return None
        return local

    def meta(self, name: str) -> Path | None:
        """A file of the snapshot's own (.mailcfg-host/...), checked like `resolve`; None outside a snapshot."""
        return self._checked(name, self.root / name, directory=False) if self.is_snapshot else None

    def config_display(self, name: str) -> str:
        """How findings name main.cf or master.cf (a single file given as the target keeps its own name)."""
        return self.display_prefix + self.postfix_names.get(name, name)

    def display(self, host_path: str) -> str:
        """How findings name the file that stands for `host_path`."""
        if self.is_snapshot:
            return host_path.lstrip("/")
        if host_path.startswith(POSTFIX_DIR + "/") and self.postfix_dir is not None:
            return self.display_prefix + host_path[len(POSTFIX_DIR) + 1:]
        if self.exim_file is not None and host_path == self.exim_file_host:
            return self.target
        if host_path.startswith(EXIM_DIR + "/") and self.exim_dir is not None:
            # relative to the target's root, like every other file (a copied /etc: exim4/...)
            return (self.exim_dir / host_path[len(EXIM_DIR) + 1:]).relative_to(self.root).as_posix()
        return host_path

    def directory(self, host_path: str) -> list[str] | None:
        """The names in directory `host_path` on the host, if the snapshot has it."""
        real = self.resolve_dir(host_path)
        return sorted(p.name for p in real.iterdir()) if real is not None else None

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
        return _single_file(target, path)
    if not stat.S_ISDIR(mode):
        raise MailcfgError(f"{target}: {file_kind(mode)}, not a configuration file or directory")
    kind = dir_kind(path)
    if kind == "snapshot":
        return _snapshot_dir(target, path)
    if kind == "postfix":
        return _with_postfix(Snapshot(target, path, postfix_dir=path, systems=["postfix"]))
    if kind == "exim":
        return Snapshot(target, path, systems=["exim"], exim_dir=path)
    if kind == "etc":
        return _etc_dir(target, path)
    raise MailcfgError(f"{target}: no mail configuration found (looked for main.cf, master.cf, "
                       f"an Exim configuration, or a snapshot with etc/postfix or {FACTS})")


def dir_kind(path: Path) -> str | None:
    """What a directory is as a target: a snapshot, a Postfix or an Exim config directory, a copy of a
    host's /etc ("etc"), or None when it is none of them."""
    if os.path.lexists(path / FACTS) or any((path / d).is_dir() for d in ("etc/postfix", "etc/exim4", "etc/exim")):
        return "snapshot"
    kind = _config_dir_kind(path)
    if kind is None and (_config_dir_kind(path / "postfix") == "postfix" or _config_dir_kind(path / "exim4") == "exim"):
        return "etc"
    return kind


def _config_dir_kind(path: Path) -> str | None:
    if os.path.lexists(path / "main.cf") or os.path.lexists(path / "master.cf"):
        return "postfix"
    if any(os.path.lexists(path / name) for name in EXIM_FILES) or (path / "conf.d").is_dir():
        return "exim"
    return None


def _with_postfix(snap: Snapshot) -> Snapshot:
    snap.main_cf = _config_file(snap, POSTFIX_DIR + "/main.cf")
    snap.master_cf = _config_file(snap, POSTFIX_DIR + "/master.cf")
    return snap


def _config_file(snap: Snapshot, host_path: str) -> Path | None:
    """main.cf or master.cf in the snapshot; one that is there but cannot be read stops the lint, since
    linting the configuration without it would show Postfix's defaults as the host's settings."""
    local = snap.local_path(host_path)
    if local is None or not os.path.lexists(local):
        return None
    real = snap.resolve(host_path)
    if real is None:
        refusal = snap.refused.pop(host_path, None)
        why = refusal.reason if refusal else "a dangling symbolic link" if local.is_symlink() else "not a regular file"
        raise MailcfgError(f"{snap.target}: {snap.display(host_path)}: not read: {why}")
    return real


def _single_file(target: str, path: Path) -> Snapshot:
    """A main.cf or master.cf with the files beside it; update-exim4.conf.conf with its directory (conf.d,
    the template); another Exim configuration alone."""
    kind = config_kind(path, target)
    parent = path.parent
    if kind == "debian-exim":
        return Snapshot(target, parent, systems=["exim"], exim_dir=parent)
    if kind == "exim":
        return Snapshot(target, parent, systems=["exim"], exim_file=path)
    snap = Snapshot(target, parent, postfix_dir=parent, systems=["postfix"])
    if kind == "master.cf":
        snap.master_cf, snap.main_cf = path, _config_file(snap, POSTFIX_DIR + "/main.cf")
    else:
        snap.main_cf, snap.master_cf = path, _config_file(snap, POSTFIX_DIR + "/master.cf")
    snap.postfix_names[kind] = path.name
    return snap


def _etc_dir(target: str, path: Path) -> Snapshot:
    """A copy of a host's /etc: its postfix/ and exim4/ directories stand for the host's."""
    snap = Snapshot(target, path)
    if _config_dir_kind(path / "postfix") == "postfix":
        snap.postfix_dir, snap.display_prefix = path / "postfix", "postfix/"
        snap.systems.append("postfix")
        _with_postfix(snap)
    if _config_dir_kind(path / "exim4") == "exim":
        snap.exim_dir = path / "exim4"
        snap.systems.append("exim")
    return snap


def _snapshot_dir(target: str, path: Path) -> Snapshot:
    snap = Snapshot(target, path, is_snapshot=True)
    facts = snap.meta(FACTS)
    if FACTS in snap.refused:
        raise MailcfgError(f"{target}: {FACTS}: not read: {snap.refused[FACTS].reason}")
    if facts is not None:
        snap.facts = read_facts(facts, f"{target}: {FACTS}")
    if any(os.path.lexists(path / "etc/postfix" / name) for name in ("main.cf", "master.cf")):
        snap.postfix_dir = path / "etc/postfix"
        snap.display_prefix = "etc/postfix/"
        snap.systems.append("postfix")
        _with_postfix(snap)
    if (path / "etc/exim4").is_dir() or (path / "etc/exim").is_dir():
        snap.systems.append("exim")
    for host_path, reason in snap.facts.unreadable:
        if host_path in (POSTFIX_DIR + "/main.cf", POSTFIX_DIR + "/master.cf") or not snap.systems:
            # a half-read configuration would be linted as something it is not
            raise MailcfgError(f"{target}: {host_path} could not be read on the host ({reason})"
                               + ("; fetch it with --become" if reason == "permission-denied" else ""))
    if not snap.systems:
        raise MailcfgError(f"{target}: snapshot holds no Postfix or Exim configuration")
    return snap
