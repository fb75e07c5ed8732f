"""The remote side of a fetch: one POSIX sh script, and the parser of what it prints.

The script is sent on the standard input of `sh -s` (so it works whatever the login shell is,
and no local value is ever placed in the remote command line). It only reads: files, and the
read-only commands that give effective values and facts. Every command inside runs with its
standard input from /dev/null, so none can eat the rest of the script.

Its output is a framed archive on stdout:

    === MAILCFG 1
    === FILE <size> <abs path>      followed by exactly <size> bytes and one newline
    === CMD <rc> <size> <name>      followed by exactly <size> bytes (stdout and stderr) and one newline
    === ERR <reason> <abs path>     a file that could not be sent (missing, permission-denied, too-large, ...)
    === END

Lookup-table sources are found by the script itself (one round trip): every `type:/abs/path`
token of a file-based type (hash, lmdb, btree, cdb, dbm, sdbm, texthash, cidr, regexp, pcre, also
behind proxy:) in main.cf, master.cf and `postconf -x` / `postconf -Mx` (which add the expanded
defaults, such as alias_maps). Lines naming password maps are skipped: their files hold relay
credentials, which a snapshot must not carry. So are Postfix's own caches (postscreen, address
verification, TLS sessions): databases it writes, not configuration.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from mailcfg.errors import MailcfgError

MAX_FILE = 16 * 1024 * 1024  # bigger files are reported (=== ERR too-large), not sent

SCRIPT = r"""{
PATH="$PATH:/usr/sbin:/sbin:/usr/local/sbin:/usr/bin:/bin"
export PATH
LC_ALL=C
export LC_ALL
MAX=__MAX__
NL='
'
sent="$NL"

file() {
  f=$1
  case "$sent" in *"$NL$f$NL"*) return 0 ;; esac
  sent="$sent$f$NL"
  if [ ! -e "$f" ]; then printf '=== ERR missing %s\n' "$f"; return 0; fi
  if [ -d "$f" ]; then
    find "$f" -type f 2>/dev/null | sort | while IFS= read -r g; do file "$g"; done
    return 0
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

refs() {
  grep -Ev 'password_maps|_cache_map|_cache_database|address_verify_map|proxy_write_maps' \
    | tr ' \t,{}=' '\n\n\n\n\n\n' \
    | sed -n 's|^\(proxy:\)*\([a-z][a-z0-9_]*:/[^[:space:]]*\)$|\2|p' \
    | while IFS= read -r tok; do
        case "$tok" in
          hash:*|lmdb:*|btree:*|cdb:*|dbm:*|sdbm:*|texthash:*|cidr:*|regexp:*|pcre:*) printf '%s\n' "${tok#*:}" ;;
        esac
      done
}

printf '=== MAILCFG 1\n'
run hostname-f hostname -f
run hostname hostname
if command -v ip >/dev/null 2>&1; then run ip-addr ip -o addr; else run ifconfig ifconfig -a; fi
run uname uname -a
optional /etc/mailname
optional /etc/hosts
optional /etc/passwd
optional /etc/aliases

if command -v postconf >/dev/null 2>&1 || [ -d /etc/postfix ]; then
  cfg=/etc/postfix
  if command -v postconf >/dev/null 2>&1; then
    other=$(postconf -h config_directory 2>/dev/null)
    case "$other" in /*) cfg=$other ;; esac
  fi
  for d in /etc/postfix "$cfg"; do
    optional "$d/main.cf"
    optional "$d/master.cf"
  done
  run postconf-n postconf -n
  run postconf-d-mail_version postconf -d mail_version
  run postconf-M postconf -M
  run postconf-P postconf -P
  { cat "/etc/postfix/main.cf" "/etc/postfix/master.cf" "$cfg/main.cf" "$cfg/master.cf" 2>/dev/null
    postconf -x 2>/dev/null
    postconf -Mx 2>/dev/null
  } | refs | sort -u | while IFS= read -r t; do file "$t"; done
fi

for d in /etc/exim4 /etc/exim; do
  if [ -d "$d" ]; then file "$d"; fi
done
for x in exim4 exim; do
  if command -v "$x" >/dev/null 2>&1; then
    run exim-bV "$x" -bV
    run exim-bP-config "$x" -bP config
    break
  fi
done

if [ -e /usr/local/psa/version ]; then
  file /usr/local/psa/version
fi

printf '=== END\n'
} </dev/null
""".replace("__MAX__", str(MAX_FILE))

HEADER = b"=== MAILCFG 1\n"


@dataclass
class Collected:
    files: dict[str, bytes] = field(default_factory=dict)  # absolute host path -> content
    commands: dict[str, tuple[int, bytes]] = field(default_factory=dict)  # name -> (exit code, output)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (host path, reason)


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
        if kind == "FILE" and len(parts) >= 4 and parts[2].isdigit():
            size, name = int(parts[2]), " ".join(parts[3:])
        elif kind == "CMD" and len(parts) == 5 and parts[2].isdigit() and parts[3].isdigit():
            size, name = int(parts[3]), parts[4]
        else:
            raise StreamError(f"the remote collection's output is garbled near {line[:60]!r}")
        body = data[pos:pos + size]
        if len(body) != size or data[pos + size:pos + size + 1] != b"\n":
            raise StreamError(f"the remote collection's output is garbled in {name!r}")
        pos += size + 1
        if kind == "FILE":
            out.files[name] = body
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


IP_ADDR = re.compile(r"^\d+:\s+([^\s@:]+)\S*\s+inet6?\s+([0-9A-Fa-f.:]+)/(\d+)", re.M)


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
        m = re.search(r"\binet (?:addr:)?([\d.]+)\s+.*?(?:netmask|Mask:)\s*(\S+)", line)
        if m:
            mask = m[2]
            bits = int(mask, 16) if mask.startswith("0x") else \
                sum(int(o) << (24 - 8 * i) for i, o in enumerate(mask.split(".")))
            found.append({"interface": iface, "address": m[1], "prefix": bin(bits).count("1")})
            continue
        m = re.search(r"\binet6 (?:addr: ?)?([0-9A-Fa-f:]+)(?:%\S+)?(?:/(\d+)|\s+prefixlen (\d+))", line)
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
    systems: dict[str, dict] = {}
    postfix = any(p.endswith(("/main.cf", "/master.cf")) for p in collected.files) or "postconf-n" in collected.commands
    if postfix:
        m = re.search(r"^mail_version\s*=\s*(\S+)", _text(collected, "postconf-d-mail_version") or "", re.M)
        systems["postfix"] = {"version": m[1]} if m else {}
    if any(p.startswith(("/etc/exim4/", "/etc/exim/")) for p in collected.files) or "exim-bV" in collected.commands:
        m = re.search(r"Exim version (\S+)", _text(collected, "exim-bV") or "")
        systems["exim"] = {"version": m[1]} if m else {}
    if "/usr/local/psa/version" in collected.files:
        words = collected.files["/usr/local/psa/version"].decode("utf-8", "replace").split()
        systems["plesk"] = {"version": words[0]} if words else {}
    data: dict = {"hostname": hostname}
    addresses = _addresses(collected)
    if addresses is not None:
        data["addresses"] = addresses
    data["systems"] = systems
    data["collected"] = (collected_at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    data["unreadable"] = [{"path": p, "reason": r} for p, r in collected.errors]
    if roles is not None:  # what the inventory says the host is for
        data["roles"] = list(roles)
    return data


def write_snapshot(collected: Collected, root: Path, roles: list[str] | None = None) -> dict:
    """Write the snapshot under `root` (which must be empty or absent); return its facts."""
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise MailcfgError(f"{root}: directory is not empty")
    data = facts(collected, roles=roles)
    for host_path, body in collected.files.items():
        rel = _safe_relative(host_path)
        if rel is None:
            data["unreadable"].append({"path": host_path, "reason": "unsafe-path"})
            continue
        dest = root / rel
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(dest, "xb") as fh:  # never overwrite, never follow: the tree is new
                fh.write(body)
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            data["unreadable"].append({"path": host_path, "reason": "conflicting-path"})
    meta = root / ".mailcfg-host"
    (meta / "cmd").mkdir(parents=True, exist_ok=True)
    for name, (_rc, body) in collected.commands.items():
        if re.fullmatch(r"[A-Za-z0-9_.-]+", name) and not name.startswith("."):
            (meta / "cmd" / f"{name}.txt").write_bytes(body)
    (meta / "facts.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.chmod(root, 0o700)
    return data
