"""The remote side of a fetch: the POSIX sh scripts, the parser of what they print, and the
writer of the snapshot.

A fetch is steps on one SSH connection. Phase 1 (`SCRIPT`) is fixed: the read-only commands that
give facts and effective values, and the configuration files read by name (main.cf, master.cf,
Exim's files, Debian's conf.d parts, /etc/passwd, /etc/hosts, /etc/mailname, /etc/aliases). Then
mailcfg.remote.plan runs mailcfg's own parsers on what came back and lists the files the analysis
reads (lookup tables and list files the configuration names, Exim includes), minus every file a
credential setting names, whatever the indirection; `send_script` sends exactly those (phase 2). A
further round is planned from the result (an included file or an access table may name more), up to
MAX_ROUNDS. Scripts, planner and parser are pure (data in, data out), so other transports
(Ansible) can drive the same steps.

Each script is sent on the standard input of `sh -s` (so it works whatever the login shell is, and
no local value is ever placed in the remote command line); phase 2's paths are data in a quoted
here-document with a random delimiter, never interpreted by the shell. Every command inside runs
with its standard input from /dev/null, so none can eat the rest of the script.

The output is a framed archive on stdout:

    === MAILCFG 1
    === FILE <size> <abs path>      followed by exactly <size> bytes and one newline
    === CMD <rc> <size> <name>      followed by exactly <size> bytes (stdout and stderr) and one newline
    === LINK <size> <abs path>      before the FILE of a path that symbolic links lead elsewhere: exactly
                                    <size> bytes naming where, and one newline
    === ERR <reason> <abs path>     a file that could not be sent (missing, permission-denied, too-large,
                                    credentials-not-collected, ...)
    === END

`exim -bP config` is not run: as root it prints `hide` option values and macros (checked with Exim
4.96). `exim -bP config_file` names the file instead, which is then read like any other.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import secrets
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mailcfg import jsontext
from mailcfg.asciidigits import digits
from mailcfg.errors import MailcfgError

if TYPE_CHECKING:
    from mailcfg.remote.redact import Redaction

MAX_FILE = 16 * 1024 * 1024  # bigger files are reported (=== ERR too-large), not sent
MAX_ROUNDS = 6  # phase-2 rounds: includes (each level a round of its own) and access tables that name more files

# Names that hold passwords or keys whatever refers to them (shell `case` patterns, also matched on the
# controller): shadow files, Exim's passwd files, Postfix's usual sasl_passwd, Plesk's password
# database and its key, private keys, SSH and sudo material, and the kernel's views of processes
# (environments, memory), none of which is mail configuration.
NEVER_GLOBS = ("*/shadow", "*/gshadow", "*/shadow-", "*/passwd.client", "*/sasl_passwd", "*/sasl_passwd.*",
               "*/passwd.db", "*/passwd_db_key", "*/.psa.shadow", "*.key", "*_key", "*.p12", "*.pfx",
               "/etc/exim/passwd", "/etc/exim4/passwd", "*/private/*", "*/.ssh/*", "/root/*", "/etc/ssh/*",
               "/etc/sudoers*", "/proc/*", "/sys/*", "/dev/*")

PRELUDE = r"""PATH="$PATH:/usr/sbin:/sbin:/usr/local/sbin:/usr/bin:/bin"
export PATH
LC_ALL=C
export LC_ALL
MAX=__MAX__
NL='
'
sent="$NL"

deny="$NL"

# a credential by name (NEVER_GLOBS), or named by a credential setting (phase 2's `s` lines)
denied() {
  case "$deny" in *"$NL$1$NL"*) return 0 ;; esac
  case "$1" in __NEVER__) return 0 ;; esac
  return 1
}

file() {
  f=$1
  case "$sent" in *"$NL$f$NL"*) return 0 ;; esac
  sent="$sent$f$NL"
  if denied "$f"; then printf '=== ERR credentials-not-collected %s\n' "$f"; return 0; fi
  if [ ! -e "$f" ]; then printf '=== ERR missing %s\n' "$f"; return 0; fi
  # a symbolic link is judged by where it leads, and the controller is told where that is
  t=$(readlink -f "$f" 2>/dev/null)
  if [ -z "$t" ] && [ -h "$f" ]; then printf '=== ERR unresolved-link %s\n' "$f"; return 0; fi
  if [ -n "$t" ] && [ "$t" != "$f" ]; then
    if denied "$t"; then printf '=== ERR credentials-not-collected %s\n' "$f"; return 0; fi
    printf '=== LINK %s %s\n%s\n' "$(printf '%s' "$t" | wc -c | tr -d ' ')" "$f" "$t"
  fi
  if [ ! -f "$f" ]; then printf '=== ERR not-a-regular-file %s\n' "$f"; return 0; fi
  if [ ! -r "$f" ]; then printf '=== ERR permission-denied %s\n' "$f"; return 0; fi
  size=$(wc -c <"$f" 2>/dev/null | tr -d ' ')
  case "$size" in ''|*[!0-9]*) printf '=== ERR unreadable %s\n' "$f"; return 0 ;; esac
  if [ "$size" -gt "$MAX" ]; then printf '=== ERR too-large %s\n' "$f"; return 0; fi
  printf '=== FILE %s %s\n' "$size" "$f"
  # exactly $size bytes, padded with newlines should the file shrink while it is read
  { head -c "$size" "$f" 2>/dev/null; yes '' 2>/dev/null | head -c "$size"; } | head -c "$size"
  printf '\n'
}

optional() { if [ -e "$1" ]; then file "$1"; fi; }
""".replace("__MAX__", str(MAX_FILE)).replace("__NEVER__", "|".join(NEVER_GLOBS))

SYSTEM_FILES = ("/etc/mailname", "/etc/hosts", "/etc/passwd", "/etc/aliases")

# The output leaves the host in a few large writes: sh writes each printf and each command's output
# on its own, and every write would be an SSH packet the controller decrypts and parses in Python (a
# fleet controller's CPU). POSIX dd aggregates its input into obs-sized output blocks; where dd is
# missing or refuses, it has read nothing and cat passes the output on as written.
GATHER = "mailcfg_out() { dd obs=1048576 2>/dev/null || cat; }\n"


def _whole(body: str) -> str:
    """`body` as one compound command (`sh -s` reads all of it before running any, so no command in it
    can read the rest of the script), with /dev/null as its standard input, its output gathered."""
    return GATHER + "{\n" + body + "} </dev/null | mailcfg_out\n"


SCRIPT = _whole(PRELUDE + r"""
run() {
  name=$1
  shift
  if command -v "$1" >/dev/null 2>&1; then
    out=$("$@" 2>&1)
    rc=$?
  else
    out="$1: command not found"
    rc=127
  fi
  size=$(printf '%s\n' "$out" | wc -c | tr -d ' ')
  printf '=== CMD %s %s %s\n' "$rc" "$size" "$name"
  printf '%s\n\n' "$out"
}

printf '=== MAILCFG 1\n'
run hostname-f hostname -f
run hostname hostname
if command -v ip >/dev/null 2>&1; then run ip-addr ip -o addr; else run ifconfig ifconfig -a; fi
run uname uname -a
for f in __SYSTEM__; do optional "$f"; done

__SYSTEMS__
printf '=== END\n'
""".replace("__SYSTEM__", " ".join(SYSTEM_FILES)))



@functools.cache  # the same for every host of a run
def first_script() -> str:
    """Phase 1 with each mail system's own files and commands (MailSystem.collect: postconf, exim -bV,
    Plesk's `plesk db`...)."""
    from mailcfg.systems import mail_systems  # lazily: the systems' modules import this package

    return SCRIPT.replace("__SYSTEMS__\n", "".join(s.collect for s in mail_systems()))


def first_files() -> tuple[frozenset[str], tuple[str, ...]]:
    """The host files phase 1 reads by name, and the directories it reads whole (prefixes ending in /):
    never asked for again."""
    from mailcfg.systems import mail_systems

    named = [p for s in mail_systems() for p in s.first_files]
    return frozenset((*SYSTEM_FILES, *(p for p in named if not p.endswith("/")))), \
        tuple(p for p in named if p.endswith("/"))


HEADER = b"=== MAILCFG 1\n"


@dataclass
class Collected:
    """What a fetch brought back from a host: files, command outputs, and what failed."""

    files: dict[str, bytes] = field(default_factory=dict)  # absolute host path -> content
    commands: dict[str, tuple[int, bytes]] = field(default_factory=dict)  # name -> (exit code, output)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (host path, reason)
    asked: set[str] = field(default_factory=set)  # host paths a phase-2 script was asked to send
    links: dict[str, str] = field(default_factory=dict)  # host path -> where its symbolic links lead
    redacted: list[Redaction] = field(default_factory=list)  # inline secrets replaced (mailcfg.remote.redact)

    def merge(self, more: Collected) -> None:
        """Add what a later round sent (commands and files of the first round stay as they were)."""
        for path, body in more.files.items():
            self.files.setdefault(path, body)
        for path, target in more.links.items():
            self.links.setdefault(path, target)
        self.errors += [e for e in more.errors if e[0] not in self.files]


def sendable(path: str) -> bool:
    """A host path a phase-2 script may name: absolute, inside a snapshot, one line."""
    return _safe_relative(path) is not None and "\n" not in path and "\r" not in path


def send_script(wanted: list[str], optional: list[str] | None = None, denied: set[str] | None = None) -> str:
    """Phase 2: send these files (`wanted` ones said missing when absent, `optional` ones silently),
    none that is or leads to one of `denied`.

    The paths are data in a here-document whose delimiter is random and quoted, so the shell never
    expands, splits or runs anything in them."""
    optional = optional or []
    denied_lines = [f"s {p}" for p in sorted(denied or ()) if "\n" not in p]
    lines = denied_lines + [f"f {p}" for p in wanted] + [f"o {p}" for p in optional]
    for path in [*wanted, *optional]:
        if not sendable(path):
            raise ValueError(f"not a host path a script may name: {path!r}")
    delimiter = f"MAILCFG_{secrets.token_hex(16)}"
    return _whole(PRELUDE + "printf '=== MAILCFG 1\\n'\n"
            + 'while IFS= read -r line <&3; do\n'
            + '  case "$line" in\n'
            # a credential is denied by its name and by where its links lead (the file it is)
            + '    "s "*) d=${line#s }; deny="$deny$d$NL"; c=$(readlink -f "$d" 2>/dev/null)\n'
            + '      if [ -n "$c" ]; then deny="$deny$c$NL"; fi ;;\n'
            + '    "f "*) file "${line#f }" ;;\n'
            + '    "o "*) optional "${line#o }" ;; esac\n'
            + f"done 3<<'{delimiter}'\n" + "".join(f"{line}\n" for line in lines) + f"{delimiter}\n"
            + "printf '=== END\\n'\n")


class StreamError(MailcfgError):
    """The remote collection's output is not what the script prints."""

    exit_code = 3


def parse_stream(data: bytes) -> Collected:
    """Parse the script's framed output (text a login shell printed before it is skipped)."""
    start = data.find(HEADER)
    if start < 0:
        raise StreamError("the remote collection printed nothing mailcfg understands (no POSIX sh on the host?)")
    pos = start + len(HEADER)
    out = Collected()
    while True:
        end = data.find(b"\n", pos)
        if end < 0:
            raise StreamError("the remote collection's output ends early (interrupted or killed?)")
        line = data[pos:end].decode("utf-8", "surrogateescape")
        pos = end + 1
        if line == "=== END":
            return out
        parts = line.split(" ", 4)
        kind = parts[1] if len(parts) > 1 and parts[0] == "===" else ""
        if kind == "ERR" and len(parts) >= 4:
            out.errors.append((" ".join(parts[3:]), parts[2]))
            continue
        if kind in ("FILE", "LINK") and len(parts) >= 4 and digits(parts[2]):
            size, name = int(parts[2]), " ".join(parts[3:])
        elif kind == "CMD" and len(parts) == 5 and digits(parts[2]) and digits(parts[3]):
            size, name = int(parts[3]), parts[4]
        else:
            raise StreamError(f"the remote collection's output is garbled near {line[:60]!r}")
        body = data[pos:pos + size]
        if len(body) != size or data[pos + size:pos + size + 1] != b"\n":
            raise StreamError(f"the remote collection's output is garbled in {name!r}")
        pos += size + 1
        if kind == "FILE":
            out.files[name] = body
        elif kind == "LINK":
            out.links[name] = body.decode("utf-8", "surrogateescape")
        else:
            out.commands[name] = (int(parts[2]), body)


def _safe_relative(host_path: str) -> str | None:
    """`/etc/postfix/main.cf` -> `etc/postfix/main.cf`; None for a path that could leave the snapshot."""
    if not host_path.startswith("/") or "\0" in host_path:
        return None
    parts = [p for p in host_path.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts) or parts[0] == ".mailcfg-host":
        return None
    return "/".join(parts)


def _text(collected: Collected, name: str) -> str | None:
    """A command's output when it succeeded."""
    if name not in collected.commands:
        return None
    rc, body = collected.commands[name]
    return body.decode("utf-8", "replace") if rc == 0 else None


IP_ADDR = re.compile(r"^[0-9]+:\s+([^\s@:]+)\S*\s+inet6?\s+([0-9A-Fa-f.:]+)/([0-9]+)", re.M)


def _addresses(collected: Collected) -> list[dict] | None:
    text = _text(collected, "ip-addr")
    if text is not None:
        return [{"interface": m[1], "address": m[2], "prefix": int(m[3])} for m in IP_ADDR.finditer(text)]
    text = _text(collected, "ifconfig")
    if text is None:
        return None
    found, iface = [], ""
    for line in text.splitlines():
        if line and not line[0].isspace():
            iface = re.split(r"[\s:]", line, maxsplit=1)[0]
            continue
        m = re.search(r"\binet (?:addr:)?([0-9.]+)\s+.*?(?:netmask|Mask:)\s*(\S+)", line)
        if m:
            mask = m[2]
            bits = int(mask, 16) if mask.startswith("0x") else \
                sum(int(o) << (24 - 8 * i) for i, o in enumerate(mask.split(".")))
            found.append({"interface": iface, "address": m[1], "prefix": bin(bits).count("1")})
            continue
        m = re.search(r"\binet6 (?:addr: ?)?([0-9A-Fa-f:]+)(?:%\S+)?(?:/([0-9]+)|\s+prefixlen ([0-9]+))", line)
        if m:
            found.append({"interface": iface, "address": m[1], "prefix": int(m[2] or m[3])})
    return found


def facts(collected: Collected, collected_at: datetime | None = None, roles: list[str] | None = None) -> dict:
    """facts.json as mailcfg.snapshot reads it."""
    hostname = None
    for name in ("hostname-f", "hostname"):
        text = (_text(collected, name) or "").strip()
        if text and " " not in text:
            hostname = text
            break
    from mailcfg.systems import mail_systems  # lazily: the systems' modules import this package

    systems = {s.name: entry for s in mail_systems() if s.host_facts is not None
               and (entry := s.host_facts(collected.files, collected.commands)) is not None}
    data: dict = {"hostname": hostname}
    addresses = _addresses(collected)
    if addresses is not None:
        data["addresses"] = addresses
    data["systems"] = systems
    data["collected"] = (collected_at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    data["unreadable"] = [{"path": p, "reason": r} for p, r in collected.errors]
    data["redacted"] = [r.as_json() for r in collected.redacted]  # inline secrets replaced by a placeholder
    # what the host was asked for: a file not there is absent on the host; any other is not known
    data["asked"] = sorted(first_files()[0] | collected.asked | set(collected.files) | {p for p, _ in collected.errors})
    if roles is not None:  # what the inventory says the host is for
        data["roles"] = list(roles)
    return data


def write_snapshot(collected: Collected, root: Path, roles: list[str] | None = None) -> dict:
    """Write the snapshot under `root` (absent, empty, or an earlier snapshot); return its facts.

    Only the collected files and the .mailcfg-host metadata are (re)written, each atomically, mode
    0600 in 0700 directories, never through a symbolic link; anything else already there stays,
    except a copy of a file the host now says is missing. Whether `root` may be written to is the
    caller's decision."""
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(root, 0o700)
    data = facts(collected, roles=roles)
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for host_path, body in collected.files.items():
            rel = _safe_relative(host_path)
            if rel is None:
                data["unreadable"].append({"path": host_path, "reason": "unsafe-path"})
            elif not _write(root_fd, rel, body):
                data["unreadable"].append({"path": host_path, "reason": "conflicting-path"})
        for host_path, reason in collected.errors:
            rel = _safe_relative(host_path)
            if reason == "missing" and rel is not None:
                _remove(root_fd, rel)  # an earlier fetch's copy would be analysed as if it were there
        # a command named NAME.tsv gives a table (Plesk's `plesk db` rows): kept only when it succeeded
        commands = {name if name.endswith(".tsv") else f"{name}.txt": body
                    for name, (rc, body) in collected.commands.items()
                    if re.fullmatch(r"[A-Za-z0-9_.-]+", name) and not name.startswith(".")
                    and (rc == 0 or not name.endswith(".tsv"))}
        data["unreadable"] += [{"path": f".mailcfg-host/cmd/{name}", "reason": "command-failed"}
                               for name, (rc, _body) in collected.commands.items() if name.endswith(".tsv") and rc]
        for name, body in commands.items():
            _write(root_fd, f".mailcfg-host/cmd/{name}", body)
        _remove_stale_commands(root_fd, set(commands))
        _write(root_fd, ".mailcfg-host/facts.json", (jsontext.dumps(data) + "\n").encode())
    finally:
        os.close(root_fd)
    return data


def _open_dir(root_fd: int, parts: list[str], create: bool) -> int | None:
    """A descriptor of directory root/parts (made 0700 where created), None if it is not a plain directory."""
    fd = os.dup(root_fd)
    for name in parts:
        try:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o700, dir_fd=fd)
            sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        except OSError:  # a symbolic link, a file in the way, or absent
            os.close(fd)
            return None
        os.close(fd)
        fd = sub
        if create:
            os.fchmod(fd, 0o700)
    return fd


def _write(root_fd: int, rel: str, body: bytes) -> bool:
    """Replace root/rel by `body` atomically (a temporary file renamed over it); False if the path is blocked."""
    *dirs, name = rel.split("/")
    fd = _open_dir(root_fd, dirs, create=True)
    if fd is None:
        return False
    tmp = f".{name}.mailcfg-{secrets.token_hex(6)}"
    try:
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=fd)
        with os.fdopen(out, "wb") as fh:
            fh.write(body)
        try:
            os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)  # replaces a link itself, never its target
        except OSError:  # a directory in the way
            os.unlink(tmp, dir_fd=fd)
            return False
        return True
    finally:
        os.close(fd)


def _remove(root_fd: int, rel: str) -> None:
    """Remove root/rel if it is a regular file reached without following links."""
    *dirs, name = rel.split("/")
    fd = _open_dir(root_fd, dirs, create=False)
    if fd is None:
        return
    try:
        if stat.S_ISREG(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
            os.unlink(name, dir_fd=fd)
    except FileNotFoundError:
        pass
    finally:
        os.close(fd)


def _remove_stale_commands(root_fd: int, keep: set[str]) -> None:
    """Command outputs of an earlier fetch that this one did not produce (metadata, not the user's files)."""
    fd = _open_dir(root_fd, [".mailcfg-host", "cmd"], create=False)
    if fd is None:
        return
    try:
        for name in os.listdir(fd):
            if name.endswith((".txt", ".tsv")) and name not in keep and \
                    stat.S_ISREG(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                os.unlink(name, dir_fd=fd)
    finally:
        os.close(fd)
