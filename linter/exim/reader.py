"""Exim's configuration reader: physical lines in, logical lines out, as readconf.c's get_config_line.

Per physical line, in Exim's order: macro substitution, the `#` comment test, `.ifdef` and friends,
the conditional skip, `.include`/`.include_if_exists`, then backslash continuation. Macro definitions
are recognised on logical lines (they change how later lines read), and so are section changes
(`begin acl` and the rest), because where a definition may appear depends on the section.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache

from mailcfg import packaged
from mailcfg.exim.lines import Origin, PhysicalLine

SECTIONS = ("acls", "authenticators", "local_scans", "retrys", "rewrites", "routers", "transports")
# Sections where a macro may be defined between drivers or ACLs (not retry, rewrite, local_scan).
MACRO_SECTIONS = ("main", "acls", "authenticators", "routers", "transports")

# (name, state if a macro was substituted on the line, state if not, stack action): readconf.c's cond_list
_CONDITIONALS = (("ifdef", 0, 1, 1), ("ifndef", 1, 0, 1), ("elifdef", 2, 3, 0), ("elifndef", 3, 2, 0),
                 ("else", 2, 2, 0), ("endif", 0, 0, -1))
# State 0 reads lines, 1 skips to the next .else/.elif, 2 skips to .endif; columns as in _CONDITIONALS' actions.
_NEXT_STATE = ((0, 1, 2, 2), (2, 2, 0, 1), (2, 2, 2, 2))

# Real configurations nest includes a few levels; a cycle (a file that includes itself) is cut here,
# where Exim goes on until open() fails for want of file descriptors.
MAX_INCLUDE_DEPTH = 64
MAX_INCLUDES = 10_000

Opener = Callable[[str], "list[PhysicalLine] | None"]  # host path -> its lines, None when the file is absent


class ConfigError(Exception):
    """What stops Exim reading its configuration, where it happens."""

    def __init__(self, message: str, origin: Origin | None) -> None:
        super().__init__(message)
        self.message = message
        self.origin = origin

    def __str__(self) -> str:
        return f"{self.origin}: {self.message}" if self.origin else self.message


@dataclass
class Macro:
    """A macro definition, with where it is redefined."""

    name: str
    value: str
    origin: Origin | None  # None: built into Exim
    redefined: list[Origin] = field(default_factory=list)  # later `==` definitions, in order


@dataclass(frozen=True)
class LogicalLine:
    """A line as Exim reads it: macros substituted, continuations joined."""

    text: str  # macros substituted, continuations joined, leading and trailing blanks removed
    origin: Origin  # the first physical line
    section: str  # "main" or one of SECTIONS
    physical: tuple[Origin, ...] = ()  # every physical line it was joined from


@dataclass
class ReadConfig:
    """The configuration's logical lines, macros and sections, as Exim's reader leaves them."""

    lines: list[LogicalLine] = field(default_factory=list)  # without macro definitions and `begin` lines
    macros: dict[str, Macro] = field(default_factory=dict)  # user macros in definition order
    sections: dict[str, Origin] = field(default_factory=dict)  # section -> its `begin` line
    files: list[str] = field(default_factory=list)  # every file read, as findings name them
    error: ConfigError | None = None  # the first thing Exim would refuse; reading stops there


@cache
def builtin_macros() -> dict[str, str]:
    text = packaged.text("mailcfg.exim", "data", "builtin-macros.txt")
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {name: value for name, value in pairs}


def read_config(top: list[PhysicalLine], top_path: str, opener: Opener) -> ReadConfig:
    """Read the configuration whose first file is `top` (host path `top_path`); includes come from `opener`."""
    result = ReadConfig(files=[top[0].origin.file] if top else [])
    reader = _Reader(result, opener)
    try:
        reader.run(top, top_path)
    except ConfigError as exc:
        result.error = exc
    return result


class _Reader:
    def __init__(self, result: ReadConfig, opener: Opener) -> None:
        self.result = result
        self.opener = opener
        self.section = "main"
        self.state = 0
        self.stack: list[int] = []
        self.depth = 0  # includes open
        self.opened = 0  # includes read in all

    def run(self, top: list[PhysicalLine], top_path: str) -> None:
        for text, origins in self._logical(top, top_path):
            self._take(text, origins)
        if self.stack:
            raise ConfigError("Unexpected end of configuration file: .endif missing",
                              top[-1].origin if top else None)

    def _take(self, text: str, origins: tuple[Origin, ...]) -> None:
        origin = origins[0]
        if text[:6].lower() == "begin ":
            self._begin(text[6:].strip(), origin)
        elif self.section in MACRO_SECTIONS and _is_definition(text, self.section):
            define(self.result.macros, text, origin)
        else:
            self.result.lines.append(LogicalLine(text, origin, self.section, origins))

    def _begin(self, name: str, origin: Origin) -> None:
        key = name.lower() if name.lower().endswith("s") else name.lower() + "s"
        if key not in SECTIONS:
            raise ConfigError(f'"{name}" is not a known configuration section name', origin)
        if key in self.result.sections:
            raise ConfigError(f'"{name}" section is repeated in the configuration file', origin)
        self.result.sections[key] = origin
        self.section = key

    def _logical(self, lines: list[PhysicalLine], host_path: str) -> Iterator[tuple[str, tuple[Origin, ...]]]:
        """Logical lines from one file and what it includes, with the physical lines of each."""
        text, origins = "", []
        for line in self._physical(lines, host_path):
            if line is None:  # a blank line ends a continuation
                if text.rstrip():
                    yield text.rstrip(), tuple(origins)
                text, origins = "", []
                continue
            piece, origin = line
            text += piece
            origins.append(origin)
            if text.endswith("\\"):
                text = text[:-1]
            elif text:
                yield text, tuple(origins)
                text, origins = "", []
        if text.rstrip():
            yield text.rstrip(), tuple(origins)

    def _physical(self, lines: list[PhysicalLine], host_path: str) -> Iterator[tuple[str, Origin] | None]:
        """Each physical line that survives comments, conditionals and includes, stripped; None for a blank.

        Substitution needs to know whether a line starts a logical line (a macro definition's name is
        not substituted), which the caller's state says; it is tracked here through `continuing`."""
        continuing = False
        for line in lines:
            raw = line.text
            text, found = substitute(self.result.macros, raw, at_start=not continuing)
            stripped = text.strip()
            if stripped.startswith("#"):
                continue
            if stripped.startswith(".") and self._conditional(stripped, found, line.origin):
                continue
            if self.state != 0:
                continue
            include = _include(stripped)
            if include is not None:
                yield from self._included(include, stripped, host_path, line.origin)
                continue
            if not stripped:
                if continuing:
                    yield None
                    continuing = False
                continue
            yield stripped, line.origin
            continuing = stripped.endswith("\\")

    def _conditional(self, text: str, found: bool, origin: Origin) -> bool:
        for name, if_found, if_not, stack in _CONDITIONALS:
            if not text.startswith(name, 1):
                continue
            after = text[1 + len(name):2 + len(name)]
            # readconf.c tests for ' ', 't' (its '\t' lacks the backslash) or end of line; any other
            # character still counts as the directive having been dealt with, and the line is dropped.
            if after not in ("", " ", "t"):
                return True
            action = if_found if found else if_not
            if stack > 0:
                self.stack.append(self.state)
                self.state = _NEXT_STATE[self.state][action]
            elif not self.stack:
                raise ConfigError(f".{name} without matching .ifdef", origin)
            elif stack < 0:
                self.state = self.stack.pop()
            else:
                self.state = _NEXT_STATE[self.state][action]
            return True
        return False

    def _included(self, include: tuple[str, bool], text: str, host_path: str, origin: Origin
                  ) -> Iterator[tuple[str, Origin] | None]:
        path, if_exists = include
        if not path.startswith("/"):
            if if_exists:
                raise ConfigError(f'.include specifies a non-absolute path "{path}"', origin)
            path = posixpath.join(posixpath.dirname(host_path), path)
        self.opened += 1
        if self.opened > MAX_INCLUDES:  # files including each other many times over: exponential work
            raise ConfigError(f"more than {MAX_INCLUDES} files included: mailcfg reads no further (Exim would, "
                              "for as long as the repetition takes)", origin)
        if self.depth >= MAX_INCLUDE_DEPTH:
            # Exim opens includes until it runs out of file descriptors, then says it cannot open the next
            raise ConfigError(f"failed to open included configuration file {path} (includes nested "
                              f"{MAX_INCLUDE_DEPTH} deep: a file that includes itself?)", origin)
        lines = self.opener(path)
        if lines is None:
            if if_exists:
                return
            raise ConfigError(f"failed to open included configuration file {path}", origin)
        if lines:
            self.result.files.append(lines[0].origin.file)
        self.depth += 1
        try:
            yield from self._physical(lines, path)
        finally:
            self.depth -= 1


def _include(text: str) -> tuple[str, bool] | None:
    """(path, is .include_if_exists) for an include line."""
    for directive, if_exists in ((".include_if_exists", True), (".include", False)):
        rest = text[len(directive):]
        if text.startswith(directive) and rest[:1].isspace():
            path = rest.strip()
            if len(path) >= 2 and path[0] == '"' and path[-1] == '"':
                path = path[1:-1]
            return path, if_exists
    return None


def _is_definition(text: str, section: str) -> bool:
    if section == "main":
        return text[:1].isupper()
    # between ACLs and drivers: a name starting with an upper-case letter followed by `=`
    name = _leading_name(text)
    return bool(name) and name[0].isupper() and text[len(name):].lstrip().startswith("=")


def _leading_name(text: str) -> str:
    if not text[:1].isalpha():
        return ""
    end = 1
    while end < len(text) and (text[end].isalnum() or text[end] == "_"):
        end += 1
    return text[:end]


def define(macros: dict[str, Macro], text: str, origin: Origin) -> None:
    """A macro definition line, checked as macro_read_assignment checks it."""
    name = ""
    while name != text and (text[len(name)].isalnum() or text[len(name)] == "_"):
        name += text[len(name)]
    rest = text[len(name):].lstrip()
    if not rest.startswith("="):
        raise ConfigError("malformed macro definition", origin)
    redefine = rest.startswith("==")
    value = rest[2 if redefine else 1:].strip()
    for other in macros.values():
        if other.name == name:
            break
        if len(other.name) < len(name) and other.name in name:
            raise ConfigError(f'"{name}" cannot be defined as a macro because previously defined macro '
                              f'"{other.name}" is a substring', origin)
    if name in macros:
        if not redefine:
            raise ConfigError(f'macro "{name}" is already defined (use "==" if you want to redefine it)', origin)
        macros[name].value = value
        macros[name].redefined.append(origin)
    elif redefine:
        raise ConfigError(f'can\'t redefine an undefined macro "{name}"', origin)
    else:
        macros[name] = Macro(name, value, origin)


def _can_start(text: str, i: int) -> bool:
    return text[i].isupper() or (text[i] == "_" and i + 1 < len(text) and text[i + 1].isupper())


def substitute(macros: dict[str, Macro], text: str, at_start: bool = True) -> tuple[str, bool]:
    """`text` with macros replaced as macros_expand does, and whether any was.

    Plain substring replacement, macro by macro in definition order; a replacement is not rescanned for
    the same macro but is for later ones. At the start of a logical line, a macro definition's name is
    left alone. Built-in macros are tried only when the first candidate starts with `_`."""
    start = len(text) - len(text.lstrip())
    if at_start and text[start:start + 1].isupper():
        end = start
        while end < len(text) and (text[end].isalnum() or text[end] == "_"):
            end += 1
        if text[end:].lstrip().startswith("="):
            start = end
    while start < len(text) and not _can_start(text, start):
        start += 1
    if start >= len(text):
        return text, False
    if text[start] == "_":
        candidates = [(n, v) for n, v in builtin_macros().items()] + [(m.name, m.value) for m in macros.values()]
    else:
        candidates = [(m.name, m.value) for m in macros.values()]
    found = False
    for name, value in candidates:
        while start < len(text) and not _can_start(text, start):
            start += 1
        if start >= len(text):
            break
        at = text.find(name, start)
        while at >= 0:
            text = text[:at] + value + text[at + len(name):]
            found = True
            nxt = at + len(value)
            while nxt < len(text) and not _can_start(text, nxt):
                nxt += 1
            at = text.find(name, nxt)
    return text, found
