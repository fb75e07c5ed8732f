"""master.cf: eight columns per service, `-o name=value` and `-o { name = value }` overrides."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from functools import cached_property

from mailcfg.asciidigits import digits
from mailcfg.findings import Location
from mailcfg.postfix.maincf import Problem
from mailcfg.postfix.tokens import BLANK_SEPARATORS, Token, split
from mailcfg.source import LogicalLine, OrphanLine, SourceFile, logical_lines

FIELDS = ("service", "type", "private", "unpriv", "chroot", "wakeup", "maxproc", "command")
TYPES = ("inet", "unix", "unix-dgram", "fifo", "pass")
# Well-known port names, so that the answer does not depend on this machine's /etc/services.
PORTS = {"smtp": 25, "submission": 587, "submissions": 465, "smtps": 465, "urd": 465, "lmtp": 24}
# Postfix daemons whose service function refuses any non-option word ("unexpected
# command-line argument"); smtp, lmtp, pipe, spawn and postscreen do not check.
OPTIONS_ONLY = {"anvil", "bounce", "cleanup", "discard", "dnsblog", "error", "flush", "local", "qmgr",
                "oqmgr", "pickup", "postlogd", "proxymap", "qmqpd", "scache", "showq", "smtpd",
                "tlsmgr", "tlsproxy", "trivial-rewrite", "verify", "virtual"}
# Options of Postfix's server skeletons (single/multi/trigger_server.c) that take a value.
OPTIONS_WITH_VALUE = set("imnost")
COMMENTED_SERVICE = re.compile(
    r"^\s*#\s*(\S+)\s+(inet|unix|unix-dgram|fifo|pass)\s+[-yn]\s+[-yn]\s+[-yn]\s+\S+\s+\S+\s+\S+")


@dataclass
class Override:
    """One `-o name=value` given to a service's daemon."""

    name: str
    value: str
    location: Location  # of the name
    value_location: Location

    def at(self, offset: int) -> Location:
        """Location of the character `offset` into the value."""
        v = self.value_location
        return Location(v.file, v.line, (v.column or 1) + offset)


@dataclass
class Service:
    """One master.cf entry, with its `-o` overrides."""

    name: str
    type: str
    private: str
    unpriv: str
    chroot: str
    wakeup: str
    maxproc: str
    command: str
    args: list[str]
    overrides: list[Override]
    line: LogicalLine
    file: str

    @property
    def key(self) -> str:
        """How postconf names it: `name/type`."""
        return f"{self.name}/{self.type}"

    @property
    def daemon(self) -> str:
        return self.command.rsplit("/", 1)[-1]

    @property
    def location(self) -> Location:
        return Location(self.file, self.line.first_line, 1)

    def override(self, name: str) -> Override | None:
        """The `-o` the daemon uses for `name`: the last one given."""
        return self._last_overrides.get(name)

    @cached_property  # asked for every parameter a decision reads
    def _last_overrides(self) -> dict[str, Override]:
        return {o.name: o for o in self.overrides}

    @property
    def listen_host(self) -> str | None:
        if self.type != "inet":
            return None
        host, sep, _port = self.name.rpartition(":")
        return host.strip("[]") if sep else None

    @property
    def port(self) -> int | None:
        if self.type != "inet":
            return None
        port = self.name.rpartition(":")[2]
        return int(port) if digits(port) else PORTS.get(port)

    @property
    def loopback_only(self) -> bool:
        host = self.listen_host
        if host is None:
            return False
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False


@dataclass
class MasterCf:
    """master.cf, parsed."""

    source: SourceFile
    services: list[Service] = field(default_factory=list)  # every entry, in file order
    problems: list[Problem] = field(default_factory=list)

    @property
    def path(self) -> str:
        return self.source.path

    @property
    def effective(self) -> list[Service]:
        """Services as master runs them: for a duplicate name/type the last entry wins."""
        by_key = {s.key: s for s in self.services}
        return [s for s in self.services if by_key[s.key] is s]


def parse_master_cf(source: SourceFile) -> MasterCf:
    result = MasterCf(source)
    for item in logical_lines(source):
        if isinstance(item, OrphanLine):
            result.problems.append(Problem(
                "line starts with whitespace but continues no service; Postfix skips it",
                Location(source.path, item.line, 1)))
            continue
        service = _parse_service(item, source, result.problems)
        if service is not None:
            result.services.append(service)
    seen: dict[str, Service] = {}
    for s in result.services:
        if s.key in seen:
            result.problems.append(Problem(
                f"duplicate master.cf entry for service {s.name!r} ({s.type}); master uses this one "
                f"and ignores line {seen[s.key].line.first_line}", s.location))
        seen[s.key] = s
    return result


def _parse_service(line: LogicalLine, source: SourceFile, problems: list[Problem]) -> Service | None:
    path = source.path
    tokens = split(line.text, BLANK_SEPARATORS)
    words = [t.text for t in tokens]

    def at(token: Token) -> Location:
        ln, col = line.position(token.start)
        return Location(path, ln, col)

    if len(tokens) < len(FIELDS):
        missing = FIELDS[len(tokens)]
        problems.append(Problem(
            f"missing {missing!r} field: a master.cf service line has 8 columns "
            f"(service type private unpriv chroot wakeup maxproc command), this one has {len(tokens)}",
            Location(path, line.first_line, 1), fatal=True))
        return None
    name, type_, private, unpriv, chroot, wakeup, maxproc = words[:7]
    bad: list[tuple[Token, str]] = []
    if type_ not in TYPES:
        bad.append((tokens[1], f"bad transport type {type_!r} (expected one of {', '.join(TYPES)})"))
    for i, label in ((2, "private"), (3, "unpriv"), (4, "chroot")):
        if words[i] not in ("y", "n", "-"):
            bad.append((tokens[i], f"field {label!r}: bad value {words[i]!r} (expected y, n or -)"))
    if type_ == "inet" and private == "y":
        bad.append((tokens[2], "inet service cannot be private"))
    if not re.fullmatch(r"-|[0-9]+[?]?", wakeup):
        bad.append((tokens[5], f"field 'wakeup': bad value {wakeup!r}"))
    if not re.fullmatch(r"-|[0-9]+", maxproc):
        bad.append((tokens[6], f"field 'maxproc': bad value {maxproc!r}"))
    for token, message in bad:
        problems.append(Problem(message, at(token), fatal=True))
    _check_commented_service_trap(line, source, name, problems)

    overrides: list[Override] = []
    args = tokens[8:]
    daemon = words[7].rsplit("/", 1)[-1]
    i = 0
    stray_reported = False
    while i < len(args):
        tok = args[i]
        word = tok.text
        if tok.unbalanced:
            problems.append(Problem(f"unbalanced {tok.unbalanced!r} in {word!r}", at(tok), fatal=True))
        if word == "-o" or (word.startswith("-o") and len(word) > 2):
            value_tok = tok if word != "-o" else (args[i + 1] if i + 1 < len(args) else None)
            i += 1 if word != "-o" else 2
            if value_tok is None:
                problems.append(Problem("'-o' at the end of the command has no name=value", at(tok),
                                        fatal=True))
                break
            # Offsets in line.text where the name=value text starts, for positions.
            text_start = value_tok.start + 2 if value_tok is tok else value_tok.start
            text = word[2:] if value_tok is tok else value_tok.inner()
            if value_tok is not tok and value_tok.braced:
                text_start += value_tok.text.index(text[:1]) if text else 1
            name_part, eq, value = text.partition("=")
            if not eq or not name_part.strip():
                problems.append(Problem(f"invalid \"-o\" option value {text!r}: expected name=value",
                                        at(value_tok), fatal=True))
                continue
            value_start = text_start + len(name_part) + 1 + len(value) - len(value.lstrip())
            ln, col = line.position(text_start)
            vln, vcol = line.position(value_start)
            overrides.append(Override(name_part.strip(), value.strip(), Location(path, ln, col),
                                      Location(path, vln, vcol)))
            continue
        if word.startswith("-") and len(word) == 2 and word[1] in OPTIONS_WITH_VALUE:
            i += 2
            continue
        if not word.startswith("-") and daemon in OPTIONS_ONLY and not stray_reported:
            stray_reported = True  # the daemon dies at the first one
            problems.append(Problem(
                f"{daemon} takes no argument {word!r}: it will exit with \"unexpected command-line "
                f"argument\" (a '-o name=value' without braces cannot contain spaces; "
                f"write -o {{ name = value with spaces }})", at(tok), fatal=True))
        i += 1
    return Service(name, type_, private, unpriv, chroot, wakeup, maxproc, words[7], words[8:], overrides,
                   line, path)


def _check_commented_service_trap(line: LogicalLine, source: SourceFile, name: str,
                                  problems: list[Problem]) -> None:
    """A continuation after a commented-out service line still belongs to the service above it."""
    for prev, seg in zip(line.segments, line.segments[1:], strict=False):
        for number in range(prev.line + 1, seg.line):
            m = COMMENTED_SERVICE.match(source.line_text(number))
            if m:
                problems.append(Problem(
                    f"this line continues service {name!r}, not the commented-out {m.group(1)!r} "
                    f"service on line {number}: Postfix applies it to {name!r}",
                    Location(source.path, seg.line, 1)))
                break
