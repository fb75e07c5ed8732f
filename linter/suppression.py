"""Own-line suppression comments, checked: `# mailcfg: ignore RULE[, RULE] -- reason`.

Main.cf, master.cf and Exim's configuration have no trailing comments, so a suppression is a
comment line in the block of comment lines directly above a setting (no blank line between). It
covers that line and the lines after it indented deeper than it (a Postfix continuation, the
conditions of an Exim ACL statement) or continued with a backslash.

Suppressions are checked, never trusted blindly: a rule id that names no rule, or a comment that
starts `mailcfg:` but is no suppression, is `mailcfg-invalid-suppression` (with the closest rule id);
a suppression that hides nothing is `mailcfg-unused-suppression`, which `mailcfg fix` removes; and
where the project asks for reasons (`require-reason: true`, applied by mailcfg.pipeline to local
targets and hosts alike), one without a reason is `mailcfg-suppression-missing-reason`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from mailcfg.edits import Edit
from mailcfg.findings import Finding, Location, Severity
from mailcfg.fix import SAFE, Fix
from mailcfg.registry import canonical_ids, listing, suggest
from mailcfg.source import BLANKS, SourceFile

INVALID = "mailcfg-invalid-suppression"
UNUSED = "mailcfg-unused-suppression"
MISSING_REASON = "mailcfg-suppression-missing-reason"
META = (INVALID, UNUSED, MISSING_REASON)

MARK = re.compile(r"^[ \t]*#[ \t]*mailcfg:")
DIRECTIVE = re.compile(r"^[ \t]*#[ \t]*mailcfg:[ \t]*ignore(?:[ \t]+(?P<ids>[^\s,-][^\n]*?))?"
                       r"[ \t]*(?:--[ \t]*(?P<reason>.*?))?[ \t]*$")
ID = re.compile(r"[^\s,]+")


@dataclass(frozen=True)
class Name:
    """A rule id as written in a suppression comment."""

    text: str  # as written
    column: int  # from 1


@dataclass(frozen=True)
class Directive:
    """One `# mailcfg:` comment."""

    file: str
    line: int  # of the comment
    names: tuple[Name, ...]  # empty: not a suppression the tool can read
    reason: str | None
    covers: tuple[int, ...]  # the physical lines of the setting below it; empty: none

    def ids(self, name: Name) -> set[str]:
        return canonical_ids(name.text)


@dataclass
class Outcome:
    """The findings left after suppressions, and what is wrong with the suppressions."""

    kept: list[Finding]
    suppressed: int = 0
    problems: list[Finding] = field(default_factory=list)  # the findings about suppressions
    fixes: list[tuple[Finding, Fix]] = field(default_factory=list)  # removal of unused ones


def directives(source: SourceFile) -> list[Directive]:
    """Every `# mailcfg:` comment of a file, with the lines each covers."""
    found = []
    for number, raw in enumerate(source.lines, start=1):
        if "mailcfg:" not in raw or not MARK.match(raw):
            continue
        text = source.line_text(number)
        m = DIRECTIVE.match(text)
        if m is None:
            found.append(Directive(source.path, number, (), None, ()))
            continue
        ids = m.group("ids") or ""
        start = m.start("ids") if m.group("ids") else 0
        names = tuple(Name(x.group(), start + x.start() + 1) for x in ID.finditer(ids))
        reason = (m.group("reason") or "").strip() or None
        found.append(Directive(source.path, number, names, reason, _covered(source, number)))
    return found


def _covered(source: SourceFile, comment: int) -> tuple[int, ...]:
    """The setting below the comment block holding line `comment`: its first line and the lines after
    it that are indented deeper or follow a backslash; nothing when a blank line comes first."""
    lines = source.lines
    n = comment + 1
    while n <= len(lines) and _comment(source.line_text(n)):
        n += 1
    if n > len(lines) or not source.line_text(n).strip(BLANKS):
        return ()
    first = source.line_text(n)
    depth = _indent(first)
    covered = [n]
    continued = first.endswith("\\")
    n += 1
    while n <= len(lines):
        text = source.line_text(n)
        if not text.strip(BLANKS) or _comment(text):
            n += 1
            continue
        if not continued and _indent(text) <= depth:
            break
        covered.append(n)
        continued = text.endswith("\\")
        n += 1
    return tuple(covered)


def _comment(text: str) -> bool:
    return text.lstrip(BLANKS).startswith("#")


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(BLANKS))


def check(findings: Iterable[Finding], sources: dict[str, SourceFile]) -> Outcome:
    """The findings no suppression hides, how many were hidden, and what is wrong with the suppressions."""
    by_file = {path: directives(source) for path, source in sources.items()}
    covering: dict[tuple[str, int], list[Directive]] = {}
    for ds in by_file.values():
        for d in ds:
            for line in d.covers:
                covering.setdefault((d.file, line), []).append(d)
    used: set[tuple[Directive, Name]] = set()
    outcome = Outcome([])
    for f in findings:
        hiding = [(d, name) for d in covering.get((f.location.file or "", f.location.line or 0), ())
                  for name in d.names if f.rule in d.ids(name)]
        if hiding:
            used.update(hiding)
            outcome.suppressed += 1
        else:
            outcome.kept.append(f)
    known = {name for rule in listing() for name in (rule.id, *rule.aliases)}
    for path in sorted(by_file):
        for d in by_file[path]:
            _judge(d, sources[path], used, known, outcome)
    return outcome


def _judge(d: Directive, source: SourceFile, used: set[tuple[Directive, Name]], known: set[str],
           outcome: Outcome) -> None:
    if not d.names:
        outcome.problems.append(Finding(
            INVALID, Severity.ERROR, "not a suppression mailcfg can read: write `# mailcfg: ignore RULE -- reason`",
            Location(d.file, d.line, 1), subject="unreadable"))
        return
    unknown = [n for n in d.names if n.text not in known]
    for name in unknown:
        close = suggest(name.text, known)
        outcome.problems.append(Finding(
            INVALID, Severity.ERROR, f"suppression names no rule: {name.text!r}"
            + (f"; did you mean {close!r}?" if close else " (see `mailcfg rules`)"),
            Location(d.file, d.line, name.column), subject=f"ignore {name.text}"))
    idle = [n for n in d.names if n.text in known and (d, n) not in used]
    if not idle:
        return
    keep = [n for n in d.names if n not in idle]
    what = ", ".join(n.text for n in idle)
    where = "nothing below it" if not d.covers else f"no finding of {'this rule' if len(idle) == 1 else 'these rules'}"
    finding = Finding(UNUSED, Severity.WARNING, f"suppression of {what} hides {where}",
                      Location(d.file, d.line, idle[0].column), subject=f"ignore {what}", fix=SAFE)
    outcome.problems.append(finding)
    outcome.fixes.append((finding, _removal(d, source, keep, what)))


def missing_reasons(sources: dict[str, SourceFile]) -> list[Finding]:
    """A finding for each suppression without a reason (for projects that ask for reasons)."""
    return [Finding(MISSING_REASON, Severity.WARNING, "suppression without a reason: add ` -- why it is accepted`",
                    Location(d.file, d.line, 1), subject="ignore " + ", ".join(n.text for n in d.names))
            for path in sorted(sources) for d in directives(sources[path]) if d.names and d.reason is None]


def _removal(d: Directive, source: SourceFile, keep: list[Name], what: str) -> Fix:
    """Drop the unused names; the whole comment line when none is left."""
    if not keep:
        return Fix(UNUSED, SAFE, f"remove the unused suppression of {what} ({d.file}:{d.line})",
                   (Edit(d.file, d.line, d.line, ""),))
    text = source.line_text(d.line)
    first, last = d.names[0], d.names[-1]
    end = last.column - 1 + len(last.text)
    new = text[:first.column - 1] + ", ".join(n.text for n in keep) + text[end:]
    return Fix(UNUSED, SAFE, f"remove {what} from the suppression at {d.file}:{d.line}",
               (Edit(d.file, d.line, d.line, new + "\n"),))


def suppressed_lines(source: SourceFile) -> dict[int, set[str]]:
    """Physical line number -> rule ids suppressed there."""
    result: dict[int, set[str]] = {}
    for d in directives(source):
        for line in d.covers:
            for name in d.names:
                result.setdefault(line, set()).update(d.ids(name))
    return result
