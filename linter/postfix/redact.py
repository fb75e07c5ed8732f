"""Postfix's secrets written inline, replaced before anything is written, analysed or printed
(mailcfg.remote.redact): the `inline:{...}` and `static:...` tables of a password setting (a parameter
whose name has `passw`, or one such a setting names through `$name`), in main.cf, in master.cf's `-o`,
and in the saved `postconf -n`, `-M` and `-P` outputs. Only the table becomes the placeholder: each
physical line keeps its place, so files stay parseable and findings keep their line numbers."""

from __future__ import annotations

import re
from collections.abc import Iterator

from mailcfg.remote.collect import Collected
from mailcfg.remote.redact import PLACEHOLDER, Redacted, Redaction
from mailcfg.source import BLANKS, LogicalLine, SourceFile, logical_lines

SECRET_TABLES = {"inline": "inline:{" + PLACEHOLDER + "=" + PLACEHOLDER + "}", "static": "static:" + PLACEHOLDER}
SECRET = re.compile(r"passw", re.I)
REFERENCE = re.compile(r"\$(?:\{([A-Za-z0-9_]+)|\(([A-Za-z0-9_]+)|([A-Za-z0-9_]+))")
TABLE = re.compile(r"(?<![\w:])(inline|static):")
MASTER_OPTION = re.compile(r"(?:^|(?<=[" + BLANKS + r"]))-o[" + BLANKS + r"]+(\{[" + BLANKS + r"]*)?"
                           r"([A-Za-z0-9_]+)[" + BLANKS + r"]*=[" + BLANKS + r"]*")
POSTCONF_MAIN = ("postconf-n", "postconf-P")  # `name = value` lines, as main.cf
POSTCONF_MASTER = ("postconf-M",)  # master.cf lines


def redact(collected: Collected) -> Redacted:
    """main.cf, master.cf and postconf's outputs without the inline tables of password settings."""
    out = Redacted()
    texts = {p: _text(b) for p, b in collected.files.items() if p.endswith(("/main.cf", "/master.cf"))}
    texts |= {f".mailcfg-host/cmd/{n}.txt": _text(collected.commands[n][1])
              for n in (*POSTCONF_MAIN, *POSTCONF_MASTER) if n in collected.commands}
    settings = {path: list(_settings(path, text)) for path, text in texts.items()}
    names = _credential_names([s for found in settings.values() for s in found])
    for path, text in texts.items():
        spans = [(line, name, a, b) for name, line, start, end in settings[path] if name in names
                 for a, b in _tables(line.text, start, end)]
        if not spans:
            continue
        body = _rewrite(text, spans, out.found, path)
        if path.startswith(".mailcfg-host/cmd/"):
            out.commands[path.removeprefix(".mailcfg-host/cmd/").removesuffix(".txt")] = body
        else:
            out.files[path] = body
    return out


def _text(body: bytes) -> str:
    return body.decode("utf-8", "surrogateescape")


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
    names = {n for n in values if SECRET.search(n)}
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
