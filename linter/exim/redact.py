"""Exim's secrets written inline, replaced before anything is written, analysed or printed
(mailcfg.remote.redact): the value of every option marked `hide`, except the options the analysis
reads (READ), and an authenticator's client-side secrets (CLIENT_SECRETS). Server-side options
(server_condition...) are read by the engine and stay as written: `hide` on them is not honoured here
either. Only the value becomes the placeholder: each physical line keeps its place."""

from __future__ import annotations

import re

from mailcfg.remote.collect import Collected
from mailcfg.remote.redact import PLACEHOLDER, Redacted, Redaction
from mailcfg.source import BLANKS, SourceFile

# Exim options whose values the analysis reads (mailcfg.exim, rules/exim_*), by name and by family: never
# redacted, `hide` or not (server-side authenticator options among them).
READ = re.compile(r"acl_\w+|hosts_\w+|\w+_hosts|\w+_domains|\w+_ports?|\w+_interfaces|server_\w+|local_part_\w+"
                  r"|route_\w+|sender_\w+|driver|public_name|condition|data|require_files|pipe_transport"
                  r"|primary_hostname")
CLIENT_SECRETS = frozenset({"client_send", "client_secret", "client_password"})
EXIM_PREFIXES = ("/etc/exim4/", "/etc/exim/", "/etc/exim.conf", "/usr/local/etc/exim/", "/var/lib/exim4/")
EXIM_OPTION = re.compile(r"(hide[ \t]+)?([A-Za-z][A-Za-z0-9_]*)[ \t]*=[ \t]*")
BEGIN = re.compile(r"begin[ \t]+(\S+)", re.I)


def redact(collected: Collected) -> Redacted:
    """Exim's files (and the one `exim -bP config_file` names) without hidden values and client secrets."""
    out = Redacted()
    config_file = _exim_config_file(collected)
    for path, raw in collected.files.items():
        if path.startswith(EXIM_PREFIXES) or path == config_file:
            body, found = _redact_exim(path, _text(raw))
            if found:
                out.files[path] = body
                out.found += found
    return out


def _text(body: bytes) -> str:
    return body.decode("utf-8", "surrogateescape")


def _exim_config_file(collected: Collected) -> str | None:
    rc, out = collected.commands.get("exim-bP-config_file", (1, b""))
    return _text(out).strip() if rc == 0 else None


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
