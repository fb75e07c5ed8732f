"""Writing files: always atomic (temporary file in the same directory, then rename), and a target's
files only inside the target."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from mailcfg.errors import MailcfgError


def _special(path: Path) -> bool:
    """Whether `path` is there and is no regular file (a device, a FIFO, or a link to one)."""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _temporary(directory: Path, name: str) -> tuple[int, str]:
    """A new file beside the target, created with the mode open() gives a new file (0666 less the umask),
    not mkstemp's 0600: a new report, baseline or patch must be as readable as any file the user writes."""
    while True:
        tmp = directory / f".{name}.{os.urandom(6).hex()}"  # not `secrets`: it loads OpenSSL (~20 ms a start)
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), str(tmp)
        except FileExistsError:
            continue


def write_atomic(path: Path, text: str) -> None:
    if _special(path):  # /dev/null, /dev/stdout, a FIFO: written into, never replaced by a file
        try:
            with open(path, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
                fh.write(text)
        except OSError as exc:
            raise MailcfgError(f"{path}: cannot write: {exc.strerror or exc}") from exc
        return
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = _temporary(directory, path.name)
    except OSError as exc:
        raise MailcfgError(f"{path}: cannot write: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())  # the rename must never expose an empty or partial file after a crash
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise MailcfgError(f"{path}: cannot write: {exc.strerror or exc}") from exc


def write_inside(root: Path, relative: str, text: str) -> None:
    """Atomically replace file `relative` of directory `root` only if it lies inside `root`: a path with
    `..`, or one that a symbolic link leads out of `root`, is refused; a link that stays inside is
    written through (the file it names is replaced, the link kept)."""
    shown = root / relative
    if relative.startswith("/") or ".." in relative.split("/"):
        raise MailcfgError(f"{shown}: not written: the path leads outside {root}")
    base = os.path.realpath(root)
    real = os.path.realpath(shown)
    if os.path.commonpath([real, base]) != base:
        raise MailcfgError(f"{shown}: not written: a symbolic link leads outside {root}")
    if os.path.lexists(real) and not os.path.isfile(real):
        raise MailcfgError(f"{shown}: not written: not a regular file")
    write_atomic(Path(real), text)
