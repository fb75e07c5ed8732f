"""Secrets written inline in collected configuration, replaced on the controller before anything is
written, analysed or printed.

The allow-list (mailcfg.remote.plan) keeps files that hold credentials off the controller; this
removes the credentials a configuration spells out itself:

- Postfix: the `inline:{...}` and `static:...` tables of a password setting (a parameter whose name
  has `passw`, or one such a setting names through `$name`), in main.cf, in master.cf's `-o`, and in
  the saved `postconf -n`, `-M` and `-P` outputs;
- Exim: the value of every option marked `hide`, except the options the analysis reads (READ), and
  an authenticator's client-side secrets (CLIENT_SECRETS). Server-side options (server_condition...)
  are read by the engine and stay as written: `hide` on them is not honoured here either.

Only the secret itself becomes PLACEHOLDER: each physical line keeps its place, the parameter name
and what else the value names, so files stay parseable and findings keep their line numbers. Pure:
collected data in, redacted copy and the list of what was redacted out.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass

from mailcfg.remote.collect import Collected
from mailcfg.source import BLANKS, LogicalLine, SourceFile, logical_lines

PLACEHOLDER = "mailcfg-redacted"
SECRET_TABLES = {"inline": "inline:{" + PLACEHOLDER + "=" + PLACEHOLDER + "}", "static": "static:" + PLACEHOLDER}
POSTFIX_SECRET = re.compile(r"passw", re.I)
REFERENCE = re.compile(r"\$(?:\{([A-Za-z0-9_]+)|\(([A-Za-z0-9_]+)|([A-Za-z0-9_]+))")
TABLE = re.compile(r"(?<![\w:])(inline|static):")
MASTER_OPTION = re.compile(r"(?:^|(?<=[" + BLANKS + r"]))-o[" + BLANKS + r"]+(\{[" + BLANKS + r"]*)?"
                           r"([A-Za-z0-9_]+)[" + BLANKS + r"]*=[" + BLANKS + r"]*")
POSTCONF_MAIN = ("postconf-n", "postconf-P")  # `name = value` lines, as main.cf
POSTCONF_MASTER = ("postconf-M",)  # master.cf lines

# Exim options whose values the analysis reads (mailcfg.exim, rules/exim_*), by name and by family: never
# redacted, `hide` or not (server-side authenticator options among them).
READ = re.compile(r"acl_\w+|hosts_\w+|\w+_hosts|\w+_domains|\w+_ports?|\w+_interfaces|server_\w+|local_part_\w+"
                  r"|route_\w+|sender_\w+|driver|public_name|condition|data|require_files|pipe_transport"
                  r"|primary_hostname")
CLIENT_SECRETS = frozenset({"client_send", "client_secret", "client_password"})
EXIM_PREFIXES = ("/etc/exim4/", "/etc/exim/", "/etc/exim.conf", "/usr/local/etc/exim/", "/var/lib/exim4/")
EXIM_OPTION = re.compile(r"(hide[ \t]+)?([A-Za-z][A-Za-z0-9_]*)[ \t]*=[ \t]*")
BEGIN = re.compile(r"begin[ \t]+(\S+)", re.I)


@dataclass(frozen=True)
class Redaction:
    path: str  # host path, or `.mailcfg-host/cmd/<name>.txt` for a command's output
    line: int  # physical line, from 1
    setting: str

    def as_json(self) -> dict:
        return {"path": self.path, "line": self.line, "setting": self.setting}


def redact(collected: Collected) -> tuple[Collected, list[Redaction]]:
    """A copy of `collected` without the inline secrets, and where they were."""
    out = dataclasses.replace(collected, files=dict(collected.files), commands=dict(collected.commands))
    done: list[Redaction] = []
    postfix = {p: _text(b) for p, b in collected.files.items() if p.endswith(("/main.cf", "/master.cf"))}
    postfix |= {f".mailcfg-host/cmd/{n}.txt": _text(collected.commands[n][1])
                for n in (*POSTCONF_MAIN, *POSTCONF_MASTER) if n in collected.commands}
    settings = {path: list(_settings(path, text)) for path, text in postfix.items()}
    names = _credential_names([s for found in settings.values() for s in found])
    for path, text in postfix.items():
        spans = [(line, name, a, b) for name, line, start, end in settings[path] if name in names
                 for a, b in _tables(line.text, start, end)]
        if not spans:
            continue
        body = _rewrite(text, spans, done, path)
        if path.startswith(".mailcfg-host/cmd/"):
            name = path.removeprefix(".mailcfg-host/cmd/").removesuffix(".txt")
            out.commands[name] = (collected.commands[name][0], body)
        else:
            out.files[path] = body
    config_file = _exim_config_file(collected)
    for path, raw in collected.files.items():
        if path.startswith(EXIM_PREFIXES) or path == config_file:
            body, found = _redact_exim(path, _text(raw))
            if found:
                out.files[path], done = body, done + found
    out.redacted = list(dict.fromkeys(done))  # two secrets on one line: one entry
    return out, out.redacted


def _text(body: bytes) -> str:
    return body.decode("utf-8", "surrogateescape")


def _exim_config_file(collected: Collected) -> str | None:
    rc, out = collected.commands.get("exim-bP-config_file", (1, b""))
    return _text(out).strip() if rc == 0 else None


def _settings(path: str, text: str) -> Iterator[tuple[str, LogicalLine, int, int]]:
    """(name, logical line, value start, value end) of each setting in a main.cf- or master.cf-like text."""
    master = path.endswith(("/master.cf", "postconf-M.txt"))
    for line in logical_lines(SourceFile.from_text(path, text)):
        if not isinstance(line, LogicalLine):
            continue
        if master:
            for m in MASTER_OPTION.finditer(line.text):
                yield m[2], line, m.end(), _value_end(line.text, m.end(), braced=m[1] is not None)
            continue
        m = re.match(r"([^" + BLANKS + r"=]+)[" + BLANKS + r"]*=[" + BLANKS + r"]*", line.text)
        if m:
            yield m[1].rsplit("/", 1)[-1], line, m.end(), len(line.text)  # postconf -P: service/type/name


def _value_end(text: str, start: int, braced: bool) -> int:
    """Where a master.cf `-o` value ends: at a blank outside braces, or at the `}` of `-o { ... }`."""
    depth = 0
    for i in range(start, len(text)):
        ch = text[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0 and braced:
                return i
            depth -= 1
        elif ch in BLANKS and depth <= 0 and not braced:
            return i
    return len(text)


def _credential_names(settings: list[tuple[str, LogicalLine, int, int]]) -> set[str]:
    """Password settings, and the parameters their values name through `$name` (whatever the depth)."""
    values: dict[str, list[str]] = {}
    for name, line, start, end in settings:
        values.setdefault(name, []).append(line.text[start:end])
    names = {n for n in values if POSTFIX_SECRET.search(n)}
    todo = list(names)
    while todo:
        for value in values.get(todo.pop(), []):
            for m in REFERENCE.finditer(value):
                ref = m[1] or m[2] or m[3]
                if ref not in names:
                    names.add(ref)
                    todo.append(ref)
    return names


def _tables(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Spans of the `inline:{...}` and `static:...` tables in text[start:end]."""
    pos = start
    while (m := TABLE.search(text, pos, end)) is not None:
        i = m.end()
        if i < end and text[i] == "{":
            depth = 0
            while i < end:
                depth += {"{": 1, "}": -1}.get(text[i], 0)
                i += 1
                if depth == 0:
                    break
        else:
            while i < end and text[i] not in BLANKS and text[i] not in ",}":
                i += 1
        yield m.start(), i
        pos = i


def _rewrite(text: str, spans: list[tuple[LogicalLine, str, int, int]], done: list[Redaction], path: str) -> bytes:
    """`text` with each span's table replaced by its placeholder on its first physical line and removed from
    the lines it continues on (their leading blanks stay, so they still continue: a line left blank-only
    is skipped like any blank line)."""
    lines = SourceFile.from_text(path, text).lines
    edits: dict[int, list[tuple[int, int, str]]] = {}  # physical line -> (from, to, replacement) in its content
    for line, name, a, b in spans:
        kind = line.text[a:line.text.index(":", a)]
        first = True
        for k, seg in enumerate(line.segments):
            seg_end = line.segments[k + 1].offset if k + 1 < len(line.segments) else len(line.text)
            blanks = len(line.text[seg.offset:seg_end]) - len(line.text[seg.offset:seg_end].lstrip(BLANKS))
            lo, hi = max(a, seg.offset + blanks), min(b, seg_end)  # a continuation keeps its leading blanks
            if lo >= hi:
                continue
            edits.setdefault(seg.line, []).append((lo - seg.offset, hi - seg.offset,
                                                   SECRET_TABLES[kind] if first else ""))
            if first:
                done.append(Redaction(path, seg.line, name))
            first = False
    for number, changes in edits.items():
        raw = lines[number - 1]
        ending = raw[len(raw.rstrip("\n")):]
        content = raw[:len(raw) - len(ending)]
        for lo, hi, new in sorted(changes, reverse=True):
            content = content[:lo] + new + content[hi:]
        lines[number - 1] = content + ending
    return "".join(lines).encode("utf-8", "surrogateescape")


def _redact_exim(path: str, text: str) -> tuple[bytes, list[Redaction]]:
    """An Exim file with its hidden options' values and client secrets replaced, line for line."""
    lines = SourceFile.from_text(path, text).lines
    part = re.match(r"/etc/exim4/conf\.d/(\w+)/", path)  # Debian's parts hold no `begin` line
    section = {"auth": "authenticators"}.get(part[1], part[1]) if part else "main"
    found: list[Redaction] = []
    i = 0
    while i < len(lines):
        group = _continued(lines, i)
        logical = "".join(lines[j].strip(BLANKS)[:-1] if lines[j].strip(BLANKS).endswith("\\")
                          else lines[j].strip(BLANKS) for j in group)
        i = group[-1] + 1
        if (begin := BEGIN.fullmatch(logical)) is not None:
            section = begin[1].lower()
            continue
        m = EXIM_OPTION.match(logical)
        client = section.startswith("authenticator") and m is not None and m[2] in CLIENT_SECRETS
        if m is None or READ.fullmatch(m[2]) or not (m[1] or client):
            continue
        found.append(Redaction(path, group[0] + 1, m[2]))
        named = False  # the value starts after the line that has the `=`
        for j in group:
            raw = lines[j]
            ending = raw[len(raw.rstrip("\n")):]
            content = raw[:len(raw) - len(ending)]
            if not named and "=" not in content:
                continue
            keep = content[:content.index("=") + 1] + " " if not named else \
                content[:len(content) - len(content.lstrip(BLANKS))]
            named = True
            more = " \\" if content.rstrip(BLANKS).endswith("\\") else ""
            lines[j] = keep + PLACEHOLDER + more + ending
    return "".join(lines).encode("utf-8", "surrogateescape"), found


def _continued(lines: list[str], i: int) -> list[int]:
    """The physical lines of the logical line at `i` (comment lines between its parts are not its own);
    a comment or blank line alone is a group of one."""
    group = [i]
    j = i
    while lines[j].strip(BLANKS).endswith("\\") and not lines[j].lstrip(BLANKS).startswith("#"):
        j += 1
        while j < len(lines) and lines[j].lstrip(BLANKS).startswith("#"):
            j += 1
        if j >= len(lines) or not lines[j].strip(BLANKS):
            break
        group.append(j)
    return group
