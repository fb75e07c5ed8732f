"""Edited files laid over a snapshot: how `fix` changes a configuration without writing the user's files.

Each edited version of a file is a new file in a private directory, and the snapshot sees it through
`Snapshot.with_files`; nothing is copied, so a fix costs the files it edits whatever the target is
(a snapshot, a config directory, `/`). A state is the map of overlaid files: going back to an
earlier state undoes the fixes made since.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mailcfg.edits import Edit, apply
from mailcfg.errors import MailcfgError
from mailcfg.snapshot import Snapshot
from mailcfg.source import SourceFile, read_text
from mailcfg.systems import creatable

State = dict[str, Path | None]  # host path -> its edited text, or None: removed


@dataclass(frozen=True)
class FileChange:
    """One file's text before and after the fixes."""

    path: str  # relative to the target's root
    before: str
    after: str


@dataclass
class Overlay:
    """A snapshot seen with edited files in place of some of its own."""

    base: Snapshot
    directory: Path  # private, temporary: the edited texts
    files: State = field(default_factory=dict)
    made: int = 0  # edited texts written so far: each gets a new file, so earlier states stay intact

    def snapshot(self) -> Snapshot:
        """The configuration as the fixes so far leave it."""
        return self.base.with_files(self.files)

    def state(self) -> State:
        return dict(self.files)

    def restore(self, state: State) -> None:
        self.files = dict(state)

    def edit(self, edits: tuple[Edit, ...], sources: dict[str, SourceFile], rule: str) -> None:
        """Apply `edits` to the files `sources` names them by."""
        by_file: dict[str, list[Edit]] = {}
        for e in edits:
            by_file.setdefault(e.file, []).append(e)
        for name, file_edits in by_file.items():
            source = sources.get(name)
            host = self._host_path(source) if source is not None else None
            if source is None or host is None:
                raise MailcfgError(f"fix for {rule}: {name} is not a file of this target")
            edited = self.directory / str(self.made)
            self.made += 1
            edited.write_text("".join(apply(source.lines, file_edits)), encoding="utf-8",
                              errors="surrogateescape", newline="")
            self.files[host] = edited

    def remove(self, host_paths: tuple[str, ...] | list[str]) -> None:
        """Files the edited ones make stale (rebuilt from them on the host): gone from the configuration."""
        for host in host_paths:
            self.files[host] = None

    def _host_path(self, source: SourceFile) -> str | None:
        real = source.real_path
        if real is None:  # a file the snapshot lacks, which a fix may create (main.cf)
            host = self.base.host_of(source.path)
            return host if host is not None and creatable(host) else None
        for host, path in self.files.items():
            if path == real:
                return host
        return self.base.host_path(real)

    def changes(self) -> list[FileChange]:
        """Each file the fixes changed, before and after, relative to the target's root."""
        changes = []
        for host, edited in sorted(self.files.items()):
            original = self._original(host)
            if edited is None or original is None:
                continue  # removed (stale) files are rebuilt on the host, not patched
            before = read_text(original) if original.exists() else ""
            after = read_text(edited)
            if before != after:
                changes.append(FileChange(original.relative_to(self.base.root).as_posix(), before, after))
        return changes

    def _original(self, host: str) -> Path | None:
        """Where the file stands in the target (maybe not there yet)."""
        return self.base.local_path(host)
