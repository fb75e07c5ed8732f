"""Baselines: the findings a project has accepted for now, hidden until they change.

`mailcfg lint --write-baseline FILE` records each finding's fingerprint (with its rule, target,
file and subject, for people reading the file); `--baseline FILE` hides the findings whose
fingerprint is recorded. Fingerprints hold no line numbers, so moving settings or adding comments
keeps a finding hidden. A recorded entry of a target linted in this run that is no longer found
is reported as `mailcfg-stale-baseline` (the file should be rewritten); entries of targets not
linted in this run are left alone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Container, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from mailcfg.errors import MailcfgError
from mailcfg.findings import Finding, Location, Severity

VERSION = 1
STALE = "mailcfg-stale-baseline"


@dataclass(frozen=True)
class Entry:
    """A finding accepted in the baseline file, known by its fingerprint."""

    fingerprint: str
    rule: str
    target: str
    file: str | None
    subject: str | None
    reason: str | None = None  # written by people into the file; kept when the baseline is written again

    def to_json(self) -> dict:
        data = asdict(self)
        if self.reason is None:
            del data["reason"]
        return data


@dataclass
class Baseline:
    """The baseline file's accepted findings."""

    path: str
    entries: dict[str, Entry]  # by fingerprint

    def split(self, target: str, findings: Iterable[Finding], rules: set[str]) -> tuple[list[Finding], int,
                                                                                      list[Finding]]:
        """(the findings not in the baseline, how many were hidden, a stale-entry finding for each entry
        of `target` no longer found among those of `rules`, the rules the run checked)."""
        kept: list[Finding] = []
        found: set[str] = set()
        for f in findings:
            if f.fingerprint in self.entries:
                found.add(f.fingerprint)
            else:
                kept.append(f)
        stale = [_stale(e, self.path) for fp, e in sorted(self.entries.items())
                 if e.target == target and e.rule in rules and fp not in found]
        return kept, len(found), stale


def _stale(entry: Entry, path: str) -> Finding:
    """The finding about a stale entry, placed in the baseline file (CI annotations need a file)."""
    where = f" in {entry.file}" + (f" ({entry.subject})" if entry.subject else "") if entry.file else ""
    relative = os.path.relpath(path)
    return Finding(STALE, Severity.INFO,
                   f"entry {entry.fingerprint} ({entry.rule}{where}) is no longer found; "
                   f"write the baseline again to drop it", Location(path if relative.startswith("..") else relative),
                   subject=entry.fingerprint)


def render(findings: Iterable[tuple[str, Finding]], earlier: Baseline | None = None,
           judged: Container[tuple[str, str]] = ()) -> str:
    """The baseline file for (target, finding) pairs: JSON, entries sorted, one stable text for the
    same findings; the reasons `earlier` gives its entries are kept, and so are its entries of a
    (target, rule) the run did not judge (`judged`): a target not linted, or not reached, keeps them."""
    reasons = {fp: e.reason for fp, e in earlier.entries.items()} if earlier is not None else {}
    entries = {fp: e for fp, e in (earlier.entries.items() if earlier is not None else ())
               if (e.target, e.rule) not in judged}
    entries.update({f.fingerprint: Entry(f.fingerprint, f.rule, target, f.location.file, f.subject,
                                         reasons.get(f.fingerprint))
                    for target, f in findings if f.fingerprint is not None and f.rule != STALE})
    ordered = sorted(entries.values(), key=lambda e: (e.target, e.file or "", e.rule, e.subject or "", e.fingerprint))
    return json.dumps({"version": VERSION, "tool": "mailcfg", "entries": [e.to_json() for e in ordered]},
                      indent=2, sort_keys=True) + "\n"


def load(path: str | Path) -> Baseline:
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MailcfgError(f"{name}: baseline not found (write one with `mailcfg lint --write-baseline FILE`)") \
            from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MailcfgError(f"{name}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    return parse(text, name)


def parse(text: str, name: str) -> Baseline:
    """A baseline file's text; `name` names it in errors. An empty file (`--baseline /dev/null`, as
    `--config /dev/null`) accepts nothing: a run can show every finding whatever the project's baseline."""
    if not text.strip():
        return Baseline(name, {})
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MailcfgError(f"{name}:{exc.lineno}:{exc.colno}: not a mailcfg baseline (invalid JSON)") from None
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("entries"), list):
        raise MailcfgError(f"{name}: not a mailcfg baseline of version {VERSION} "
                           f"(expected {{\"version\": {VERSION}, \"entries\": [...]}})")
    entries: dict[str, Entry] = {}
    for i, item in enumerate(data["entries"]):
        try:
            entry = Entry(**{k: item.get(k) for k in Entry.__dataclass_fields__})
        except AttributeError:
            entry = None
        if entry is None or not all(isinstance(v, str) for v in (entry.fingerprint, entry.rule, entry.target)) \
                or not isinstance(entry.reason, str | None):
            raise MailcfgError(f"{name}: entry {i + 1}: expected an object with fingerprint, rule and target")
        entries[entry.fingerprint] = entry
    return Baseline(name, entries)
