"""Snapshots: the one input of every analysis, read here from local paths.

A snapshot mirrors the host's filesystem for the files that matter plus facts about the host
(.mailcfg-host/facts.json). A Postfix config directory or a single main.cf is accepted too and
seen as a snapshot whose /etc/postfix is that directory.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from dataclasses import dataclass, field
from pathlib import Path

from mailcfg.errors import MailcfgError
from mailcfg.roles import ROLES

FACTS = ".mailcfg-host/facts.json"
POSTFIX_DIR = "/etc/postfix"
EXIM_DIR = "/etc/exim4"
EXIM_FILES = ("exim4.conf", "exim4.conf.template", "update-exim4.conf.conf", "exim.conf", "configure")


@dataclass(frozen=True)
class Interface:
    address: str
    prefix: int
    name: str = ""

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_interface(f"{self.address}/{self.prefix}").network


@dataclass
class Facts:
    hostname: str | None = None
    interfaces: list[Interface] | None = None  # None: not collected
    versions: dict[str, str] = field(default_factory=dict)  # system -> version text
    collected: str | None = None
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (host path, reason) the fetch could not read
    roles: list[str] | None = None  # what the host is for (mailcfg.roles); None: not said


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

    def with_files(self, overrides: dict[str, Path | None]) -> Snapshot:
        """The same snapshot with some host files replaced (or gone): a configuration as it would be."""
        return dataclasses.replace(self, overrides={**self.overrides, **overrides})

    def resolve(self, host_path: str) -> Path | None:
        """The snapshot file standing for `host_path` on the host, if the snapshot has it."""
        if host_path in self.overrides:
            return self.overrides[host_path]
        if not host_path.startswith("/"):
            return None
        if self.is_snapshot:
            real = self.root / host_path.lstrip("/")
        elif self.postfix_dir is not None and host_path.startswith(POSTFIX_DIR + "/"):
            real = self.postfix_dir / host_path[len(POSTFIX_DIR) + 1:]
        elif self.exim_dir is not None and host_path.startswith(EXIM_DIR + "/"):
            real = self.exim_dir / host_path[len(EXIM_DIR) + 1:]
        elif self.exim_file is not None and host_path == self.exim_file_host:
            real = self.exim_file
        else:
            return None
        return real if real.is_file() else None

    def display(self, host_path: str) -> str:
        """How findings name the file that stands for `host_path`."""
        if self.is_snapshot:
            return host_path.lstrip("/")
        if host_path.startswith(POSTFIX_DIR + "/") and self.postfix_dir is not None:
            return self.display_prefix + host_path[len(POSTFIX_DIR) + 1:]
        if self.exim_file is not None and host_path == self.exim_file_host:
            return self.target
        if host_path.startswith(EXIM_DIR + "/") and self.exim_dir is not None:
            return host_path[len(EXIM_DIR) + 1:]
        return host_path

    def directory(self, host_path: str) -> list[str] | None:
        """The names in directory `host_path` on the host, if the snapshot has it."""
        real = self.resolve_dir(host_path)
        return sorted(p.name for p in real.iterdir()) if real is not None else None

    def resolve_dir(self, host_path: str) -> Path | None:
        host_path = host_path.rstrip("/")
        if self.is_snapshot:
            real = self.root / host_path.lstrip("/")
        elif self.exim_dir is not None and (host_path + "/").startswith(EXIM_DIR + "/"):
            real = self.exim_dir / host_path[len(EXIM_DIR) + 1:]
        else:
            return None
        return real if real.is_dir() else None


def load_local(target: str, name: str | None = None) -> Snapshot:
    """The snapshot at local path `target`; reports and messages call it `name` when given."""
    path = Path(target)
    target = name or target
    if not path.exists():
        raise MailcfgError(f"{target}: no such file or directory")
    if path.is_file():
        return _single_file(target, path)
    if not path.is_dir():
        raise MailcfgError(f"{target}: not a regular file or directory")
    if (path / FACTS).exists() or (path / "etc/postfix").is_dir() or (path / "etc/exim4").is_dir() \
            or (path / "etc/exim").is_dir():
        return _snapshot_dir(target, path)
    if (path / "main.cf").exists() or (path / "master.cf").exists():
        return _with_postfix(Snapshot(target, path, postfix_dir=path, systems=["postfix"]))
    if any((path / name).exists() for name in EXIM_FILES) or (path / "conf.d").is_dir():
        return Snapshot(target, path, systems=["exim"], exim_dir=path)
    raise MailcfgError(f"{target}: no mail configuration found (looked for main.cf, master.cf, "
                       f"an Exim configuration, or a snapshot with etc/postfix or {FACTS})")


def _with_postfix(snap: Snapshot) -> Snapshot:
    assert snap.postfix_dir is not None
    for attr, name in (("main_cf", "main.cf"), ("master_cf", "master.cf")):
        path = snap.postfix_dir / name
        if path.exists() and not path.is_file():
            raise MailcfgError(f"{path}: is not a regular file")
        if path.is_file():
            setattr(snap, attr, path)
    return snap


def _single_file(target: str, path: Path) -> Snapshot:
    """Only the named file is read: a main.cf (any name) or a master.cf."""
    snap = Snapshot(target, path.parent, postfix_dir=path.parent, systems=["postfix"])
    if path.name.startswith("master.cf"):
        snap.master_cf = path
    elif path.name.startswith("main.cf") or path.suffix == ".cf":
        snap.main_cf = path
    elif path.name == "update-exim4.conf.conf":
        return Snapshot(target, path.parent, systems=["exim"], exim_file=path,
                        exim_file_host=EXIM_DIR + "/update-exim4.conf.conf")
    else:
        return Snapshot(target, path.parent, systems=["exim"], exim_file=path)
    return snap


def _snapshot_dir(target: str, path: Path) -> Snapshot:
    snap = Snapshot(target, path, is_snapshot=True, facts=_read_facts(path / FACTS))
    if (path / "etc/postfix/main.cf").exists() or (path / "etc/postfix/master.cf").exists():
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


def _read_facts(path: Path) -> Facts:
    if not path.exists():
        return Facts()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise MailcfgError(f"{path}, line {exc.lineno}: invalid JSON: {exc.msg}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise MailcfgError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(data, dict):
        raise MailcfgError(f"{path}: expected a JSON object")
    interfaces = None
    if isinstance(data.get("addresses"), list):
        interfaces = []
        for item in data["addresses"]:
            try:
                iface = Interface(str(item["address"]), int(item["prefix"]), str(item.get("interface", "")))
                iface.network  # noqa: B018 - validates address and prefix
            except (KeyError, TypeError, ValueError) as exc:
                raise MailcfgError(f"{path}: bad entry in \"addresses\": {item!r}") from exc
            interfaces.append(iface)
    versions = {name: str(info.get("version")) for name, info in (data.get("systems") or {}).items()
                if isinstance(info, dict) and info.get("version")}
    unreadable = [(str(u.get("path")), str(u.get("reason"))) for u in data.get("unreadable") or []
                  if isinstance(u, dict) and u.get("path")]
    roles = data.get("roles")
    if roles is not None and (not isinstance(roles, list) or any(r not in ROLES for r in roles)):
        raise MailcfgError(f"{path}: \"roles\" must be a list of {', '.join(ROLES)}")
    return Facts(data.get("hostname"), interfaces, versions, data.get("collected"), unreadable, roles)
