"""known_hosts files read as OpenSSH reads them, to decide whether a host's key is trusted.

A line is `[@marker] patterns keytype base64 [comment]`. Patterns are comma-separated names with
`*` and `?` wildcards and `!` negation (a negated match excludes the host whatever else
matches), or one hashed name `|1|salt|hmac-sha1`; a host on a port other than 22 is named
`[host]:port`. `@revoked` keys are refused for the hosts they match; `@cert-authority` keys sign
host certificates. Lines that cannot be read are skipped, as OpenSSH does: a skipped line can
only make fewer keys trusted.

Files are read once per run (shared by the threads of a fleet run) and kept in memory.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mailcfg.errors import MailcfgError

if TYPE_CHECKING:
    import paramiko

# OpenSSH's defaults for UserKnownHostsFile and GlobalKnownHostsFile.
USER_FILES = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
GLOBAL_FILES = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")
MARKERS = ("@revoked", "@cert-authority")
# A name a new line may record: a host name, an address, `[host]:port`, or a HostKeyAlias of the same
# characters. Never a pattern (`*`, `?`, `!`, `,`), a marker or a hashed name, whitespace or a line break,
# which would make the line trust the key for other hosts or add lines of its own.
RECORDABLE = re.compile(r"[A-Za-z0-9_.:-]+|\[[A-Za-z0-9_.:-]+\]:[0-9]+")


@dataclass(frozen=True)
class Entry:
    """One line of a known_hosts file."""

    where: str  # file:line, for messages
    marker: str | None  # None, "@revoked" or "@cert-authority"
    patterns: tuple[str, ...]
    key_type: str
    blob: bytes

    def matches(self, name: str) -> bool:
        name = name.lower()
        hit = False
        for pattern in self.patterns:
            negated = pattern.startswith("!")
            if _pattern_matches(pattern[1:] if negated else pattern, name):
                if negated:
                    return False
                hit = True
        return hit

    def pkey(self) -> paramiko.PKey | None:
        from mailcfg.remote.sshlib import paramiko  # only once a host is connected to: naming hosts must not load it

        try:
            return paramiko.PKey.from_type_string(self.key_type, self.blob)
        except Exception:  # a key type paramiko does not know: it can never be offered to it either
            return None


def _pattern_matches(pattern: str, name: str) -> bool:
    if pattern.startswith("|1|"):
        salt, _, digest = pattern[3:].partition("|")
        try:
            mac = hmac.new(base64.b64decode(salt, validate=True), name.encode(), hashlib.sha1).digest()
            return hmac.compare_digest(mac, base64.b64decode(digest, validate=True))
        except (binascii.Error, ValueError):
            return False
    return _wildcard(pattern.lower()).fullmatch(name) is not None


@functools.lru_cache(maxsize=4096)
def _wildcard(pattern: str) -> re.Pattern:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.S)


@dataclass
class _File:
    """One file's entries, in file order: those naming hosts plainly by name indexed by name, the
    others (wildcards, negations, hashed names) tried one by one."""

    named: dict[str, list[tuple[int, Entry]]] = field(default_factory=dict)
    others: list[tuple[int, Entry]] = field(default_factory=list)
    count: int = 0

    def add(self, entry: Entry) -> None:
        self.count += 1
        if any(p.startswith(("!", "|")) or "*" in p or "?" in p for p in entry.patterns):
            self.others.append((self.count, entry))
        else:
            for pattern in dict.fromkeys(p.lower() for p in entry.patterns):
                self.named.setdefault(pattern, []).append((self.count, entry))

    def matching(self, name: str) -> list[Entry]:
        found = self.named.get(name.lower(), []) + [(n, e) for n, e in self.others if e.matches(name)]
        return [e for _, e in sorted(found, key=lambda pair: pair[0])]

    def entries(self) -> list[Entry]:
        every = {n: e for pairs in (*self.named.values(), self.others) for n, e in pairs}
        return [every[n] for n in sorted(every)]


def parse(text: str, where: str) -> list[Entry]:
    """The usable entries of one known_hosts file's text; `where` names the file."""
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        fields = raw.split()
        if not fields or fields[0].startswith("#"):
            continue
        marker = None
        if fields[0].startswith("@"):
            if fields[0] not in MARKERS:
                continue
            marker, fields = fields[0], fields[1:]
        if len(fields) < 3:
            continue
        try:
            blob = base64.b64decode(fields[2], validate=True)
        except (binascii.Error, ValueError):
            continue
        entries.append(Entry(f"{where}:{number}", marker, tuple(fields[0].split(",")), fields[1], blob))
    return entries


@dataclass
class Trust:
    """What the known_hosts files say about one host name."""

    name: str
    keys: dict[str, list[paramiko.PKey]] = field(default_factory=dict)  # trusted plain keys by type, none revoked
    revoked: list[Entry] = field(default_factory=list)
    authorities: list[Entry] = field(default_factory=list)  # @cert-authority lines for this host

    def trusts(self, key: paramiko.PKey) -> bool:
        return key in self.keys.get(key.get_name(), [])

    def revocation(self, key: paramiko.PKey) -> Entry | None:
        """The @revoked line that names `key`, if any."""
        blob = key.asbytes()
        return next((e for e in self.revoked if e.blob == blob), None)


class KnownHosts:
    """The known_hosts files of a run: `extra` (--known-hosts) is always consulted besides each
    host's UserKnownHostsFile and GlobalKnownHostsFile files (OpenSSH's defaults when unset)."""

    def __init__(self, extra: Path | None = None):
        self.extra = extra
        self._files: dict[Path, _File] = {}
        self._revoked: dict[Path, list[Entry]] = {}
        self._lock = threading.Lock()

    def _file(self, path: Path) -> _File:
        with self._lock:
            if path not in self._files:
                self._files[path] = _File()
                for entry in _read(path):
                    self._files[path].add(entry)
            return self._files[path]

    def _revoked_file(self, path: Path) -> list[Entry]:
        with self._lock:
            if path not in self._revoked:
                self._revoked[path] = _read_revoked(path)
            return self._revoked[path]

    def entries(self, path: Path) -> list[Entry]:
        """Every entry of one file (read on first use)."""
        return self._file(path).entries()

    def trust(self, name: str, user_files: Iterable[Path], global_files: Iterable[Path],
              revoked_file: Path | None = None) -> Trust:
        """What the files say about `name` (`host`, `[host]:port`, or a HostKeyAlias); every key in
        `revoked_file` (ssh_config's RevokedHostKeys) is revoked for every host."""
        result = Trust(name)
        paths = [p for p in (self.extra, *user_files, *global_files) if p is not None]
        matching = [e for path in dict.fromkeys(paths) for e in self._file(path).matching(name)]
        if revoked_file is not None:
            matching += self._revoked_file(revoked_file)
        result.revoked = [e for e in matching if e.marker == "@revoked"]
        result.authorities = [e for e in matching if e.marker == "@cert-authority"]
        revoked = {e.blob for e in result.revoked}
        for entry in matching:
            if entry.marker is None and entry.blob not in revoked:
                key = entry.pkey()
                known = result.keys.setdefault(entry.key_type, [])
                if key is not None and key not in known:
                    known.append(key)
        result.keys = {t: keys for t, keys in result.keys.items() if keys}
        return result

    def remember(self, path: Path, name: str, key: paramiko.PKey) -> None:
        """Append `name`'s new key to `path` (as `StrictHostKeyChecking accept-new` does) and to what this run knows."""
        if not recordable(name):
            raise ValueError(f"not a host name known_hosts can record: {name!r}")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(f"{name} {key.get_name()} {key.get_base64()}\n")
        self._file(path).add(Entry(f"{path}:new", None, (name,), key.get_name(), key.asbytes()))


def recordable(name: str) -> bool:
    return RECORDABLE.fullmatch(name) is not None


def expand(paths: Iterable[str]) -> tuple[Path, ...]:
    return tuple(Path(os.path.expanduser(p)) for p in paths)


def _read(path: Path) -> list[Entry]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise MailcfgError(f"{path}: cannot read known_hosts: {exc.strerror or exc}") from None
    return parse(text, str(path))


KRL_MAGIC = b"SSHKRL\n\0"


def _read_revoked(path: Path) -> list[Entry]:
    """A RevokedHostKeys file: public keys, one a line. ssh refuses every host when it cannot
    check this file, and so does mailcfg; a binary KRL is a file it cannot check."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MailcfgError(f"{path}: cannot read RevokedHostKeys: {exc.strerror or exc}") from None
    if data.startswith(KRL_MAGIC):
        raise MailcfgError(f"{path}: RevokedHostKeys is a binary KRL, which mailcfg cannot check (list the revoked "
                           f"public keys one a line instead)")
    lines = data.decode("utf-8", "replace").splitlines()  # one line each, so that line numbers hold
    text = "\n".join(f"* {line}" if line.strip() and not line.lstrip().startswith("#") else "" for line in lines)
    return [Entry(e.where, "@revoked", e.patterns, e.key_type, e.blob) for e in parse(text, str(path))]
