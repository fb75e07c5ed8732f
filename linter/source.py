"""Config files kept byte for byte, and the logical lines Postfix reads from them.

Postfix's main.cf and master.cf share one reader (readllines): a line whose first
non-blank character is `#` is a comment, blank lines are skipped, and a line that starts
with whitespace continues the previous logical line even across comment and blank lines.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mailcfg.errors import MailcfgError

# Postfix's ISSPACE is C isspace(): these six characters.
BLANKS = " \t\r\n\v\f"


@dataclass
class SourceFile:
    """One configuration file: its physical lines with their line endings, never altered."""

    path: str  # snapshot-relative, as reported in findings
    lines: list[str]
    real_path: Path | None = None

    @classmethod
    def from_text(cls, path: str, text: str, real_path: Path | None = None) -> SourceFile:
        return cls(path, _split_on_newlines(text), real_path)

    @classmethod
    def read(cls, path: str, real_path: Path, shown: str | None = None) -> SourceFile:
        """The file at `real_path`, reported as `path`; a read error names it `shown` (default `path`)."""
        return cls.from_text(path, read_text(real_path, shown or path), real_path)

    def text(self) -> str:
        return "".join(self.lines)

    def line_text(self, number: int) -> str:
        """Physical line `number` (from 1) without its line ending."""
        return self.lines[number - 1].rstrip("\r\n")


def _split_on_newlines(text: str) -> list[str]:
    # Only \n ends a line for Postfix; str.splitlines would also split on \r, \v, \f and more.
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def read_text(real_path: Path, shown: str | None = None) -> str:
    """Read a config file as text, refusing binary files and anything but a regular file with a one-line
    reason naming the file as `shown` (default: its path). A FIFO or device is never read: opening does
    not wait for a writer, and the opened file is checked before a byte is read."""
    name = shown or str(real_path)
    try:
        fd = os.open(real_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise MailcfgError(f"{name}: cannot read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise MailcfgError(f"{name}: is a directory, expected a file")
        if not stat.S_ISREG(mode):
            raise MailcfgError(f"{name}: not a regular file, not read")
        try:
            data = fh.read()
        except OSError as exc:
            raise MailcfgError(f"{name}: cannot read: {exc.strerror or exc}") from None
    if b"\0" in data:
        raise MailcfgError(f"{name}: binary file (contains NUL bytes), not a configuration file")
    # surrogateescape keeps undecodable bytes so that printing the parse reproduces the file.
    return data.decode("utf-8", errors="surrogateescape")


@dataclass(frozen=True)
class Segment:
    """The part of a logical line that came from one physical line."""

    offset: int  # where it starts in the logical text
    line: int  # physical line number, from 1
    column: int  # column of its first character in that line, from 1


@dataclass
class LogicalLine:
    """A line as the configuration's reader sees it: continuation lines joined."""

    text: str
    segments: list[Segment]
    comments_above: list[int] = field(default_factory=list)  # comment lines directly above

    @property
    def first_line(self) -> int:
        return self.segments[0].line

    @property
    def last_line(self) -> int:
        return self.segments[-1].line

    @property
    def lines(self) -> list[int]:
        return [s.line for s in self.segments]

    def position(self, offset: int) -> tuple[int, int]:
        """Physical (line, column) of the character at `offset` in the logical text."""
        seg = self.segments[0]
        for s in self.segments:
            if s.offset <= offset:
                seg = s
            else:
                break
        return seg.line, seg.column + offset - seg.offset


@dataclass(frozen=True)
class OrphanLine:
    """A whitespace-led line with no logical line to continue: Postfix warns and skips it."""

    line: int
    text: str


def logical_lines(src: SourceFile) -> Iterator[LogicalLine | OrphanLine]:
    current: LogicalLine | None = None
    comments: list[int] = []
    for number, raw in enumerate(src.lines, start=1):
        content = raw[:-1] if raw.endswith("\n") else raw
        stripped = content.lstrip(BLANKS)
        if not stripped or stripped.startswith("#"):
            # A blank line ends a run of comments that could sit "directly above" a setting.
            comments = [*comments, number] if stripped else []
            continue
        if content[0] in BLANKS:
            if current is None:
                yield OrphanLine(number, content)
            else:
                current.segments.append(Segment(len(current.text), number, 1))
                current.text += content
            comments = []
            continue
        if current is not None:
            yield current
        current = LogicalLine(content, [Segment(0, number, 1)], comments_above=comments)
        comments = []
    if current is not None:
        yield current


def rstrip_blanks(text: str) -> str:
    return text.rstrip(BLANKS)
