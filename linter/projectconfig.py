"""The project configuration `.mailcfg.yml`: which rules run, how severe they are, what fails the gate.

Found in the working directory or its nearest parent, stopping at the repository root (a directory
holding .git) so that an outer project's file is never picked up; `--config FILE` names one and
`--isolated` reads none. The file is checked against the JSON Schema shipped in the package
(`mailcfg config --schema`, which documents every key) and its rule entries against the rules;
anything wrong is one line `file:line:column: message` (exit 2).

Merging: a file's `extends` is read first and the file's own keys replace its keys (`severity`
maps merge, `targets` lists append). Then the `targets` entries that match a target apply in
order, then the command line: its scalars win, its lists extend (but --select replaces `select`,
as its purpose is to say exactly what runs).
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from mailcfg import packaged
from mailcfg.errors import MailcfgError
from mailcfg.registry import declared, listing
from mailcfg.selection import resolve, selected

NAMES = (".mailcfg.yml", ".mailcfg.yaml")
ENTRY_KEYS = ("select", "extend-select", "ignore")


@cache
def schema() -> dict:
    text = packaged.text("mailcfg", "data", "mailcfg-config.schema.json")
    return json.loads(text)


@dataclass
class Settings:
    """What applies to one run or one target; None where the default applies."""

    select: list[str] | None = None
    extend_select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    severity: dict[str, str] = field(default_factory=dict)  # canonical rule id -> severity
    fail_on: str | None = None
    fail_on_stale: bool = False
    exclude: list[str] = field(default_factory=list)
    baseline: str | None = None  # absolute path, or relative to the working directory
    require_reason: bool = False
    roles: list[str] | None = None
    facts: dict[str, str] = field(default_factory=dict)  # "<system>_version" -> version

    def rules(self) -> set[str]:
        """The ids of the rules these settings run."""
        return selected([r.id for r in listing()], self.select, self.ignore, self.extend_select)

    def to_json(self) -> dict:
        data = {k.replace("_", "-"): v for k, v in asdict(self).items()}
        data["fail-on"] = self.fail_on or "warning"
        data["rules"] = sorted(self.rules())
        return data


@dataclass
class TargetSettings:
    """Settings the project file gives the targets one pattern matches."""

    match: str
    settings: dict[str, Any]  # the entry's keys as written (kebab case)


@dataclass
class ProjectConfig:
    """The project configuration file, as read."""

    path: Path | None = None  # the file read; None: no file (defaults)
    settings: Settings = field(default_factory=Settings)
    targets: list[TargetSettings] = field(default_factory=list)

    @property
    def root(self) -> Path:
        """The directory relative paths are read from: the file's, or the working directory."""
        return self.path.parent if self.path is not None else Path.cwd()

    def for_target(self, label: str, path: str | None = None,
                   in_pattern: Callable[[str], bool] | None = None) -> Settings:
        """The settings of the target reports name `label` (local at `path`; `in_pattern(p)`: whether
        the inventory pattern p selects it)."""
        result = replace(self.settings)
        names = {label}
        if path is not None:
            names.add(self.relative(path))
        for entry in self.targets:
            if any(_glob(name, entry.match) for name in names) or (in_pattern is not None and in_pattern(entry.match)):
                result = _merged(result, entry.settings)
        return result

    def relative(self, path: str) -> str:
        """`path` relative to the configuration's directory (posix), or absolute outside it."""
        full = Path(os.path.abspath(path))
        try:
            return full.relative_to(self.root.resolve()).as_posix() or "."
        except ValueError:
            return full.as_posix()

    def excluded(self, path: str, extra: Iterable[str] = ()) -> bool:
        """Whether a local target lies at or below a path the `exclude` globs (or `extra`, relative
        to the working directory) match."""
        rel = self.relative(path)
        cwd_rel = Path(os.path.relpath(os.path.abspath(path))).as_posix()
        return any(_below(rel, g) for g in self.settings.exclude) or any(_below(cwd_rel, g.rstrip("/"))
                                                                       for g in extra)


def _glob(name: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(name, pattern.rstrip("/"))


def _below(rel: str, pattern: str) -> bool:
    parts = rel.split("/")
    return any(_glob("/".join(parts[:n]), pattern) for n in range(1, len(parts) + 1))


def _merged(settings: Settings, entry: dict[str, Any]) -> Settings:
    """`settings` with a `targets` entry applied."""
    result = replace(settings, extend_select=list(settings.extend_select), ignore=list(settings.ignore),
                     severity=dict(settings.severity), facts=dict(settings.facts))
    if "select" in entry:
        result.select = list(entry["select"])
    result.extend_select += entry.get("extend-select", [])
    result.ignore += entry.get("ignore", [])
    result.severity.update(_severity(entry.get("severity", {})))
    if "roles" in entry:
        result.roles = list(entry["roles"])
    result.facts.update(entry.get("facts", {}))
    return result


def _severity(mapping: dict[str, str]) -> dict[str, str]:
    return {declared(rule).id: level for rule, level in mapping.items()}


def find(start: Path | None = None) -> Path | None:
    """The nearest .mailcfg.yml from `start` (the working directory) up to the repository root."""
    directory = (start or Path.cwd()).resolve()
    home = Path.home().resolve() if "HOME" in os.environ else None
    while True:
        for name in NAMES:
            if (directory / name).is_file():
                return directory / name
        if (directory / ".git").exists() or directory == home or directory.parent == directory:
            return None
        directory = directory.parent


def project_name(path: str) -> str:
    """A local target as fingerprints name it in a run with the default configuration: relative to the
    nearest configuration file's directory, else to the working directory."""
    return ProjectConfig(find()).relative(path)


def load(config: Path | None = None, isolated: bool = False) -> ProjectConfig:
    """The configuration the run uses: `config`, else the nearest file, else none (`isolated`: none)."""
    if isolated:
        return ProjectConfig()
    path = config if config is not None else find()
    if path is None:
        return ProjectConfig()
    if not path.exists() or path.is_dir():  # /dev/null: an empty configuration, as ansible-lint takes it
        raise MailcfgError(f"{path}: configuration file not found")
    data = _read_chain(path, [])
    base = path.parent
    settings = Settings(
        select=list(data["select"]) if "select" in data else None,
        extend_select=list(data.get("extend-select", [])),
        ignore=list(data.get("ignore", [])),
        severity=data.get("severity", {}),
        fail_on=data.get("fail-on"),
        fail_on_stale=bool(data.get("fail-on-stale", False)),
        exclude=list(data.get("exclude", [])),
        baseline=str(base / data["baseline"]) if "baseline" in data else None,
        require_reason=bool(data.get("require-reason", False)),
    )
    targets = [TargetSettings(t["match"], {k: v for k, v in t.items() if k != "match"})
               for t in data.get("targets", [])]
    return ProjectConfig(path, settings, targets)


def _read_chain(path: Path, seen: list[Path]) -> dict[str, Any]:
    """The file's keys over those of the files it extends (paths in each made relative to the first)."""
    real = path.resolve()
    data, extends_at = _read(path)
    if "extends" not in data:
        return data
    parent = path.parent / data.pop("extends")
    if not parent.is_file():
        raise MailcfgError(f"{path}:{extends_at}: extends: {parent}: no such file")
    chain = [*seen, real]
    if parent.resolve() in chain:
        raise MailcfgError(f"{path}:{extends_at}: extends: {parent} extends itself through "
                           f"{' -> '.join(str(p) for p in [*chain, parent.resolve()])}")
    base = _read_chain(parent, chain)
    if "baseline" in base:  # paths are relative to the file that names them
        base["baseline"] = os.path.relpath(parent.parent / base["baseline"], path.parent)
    base["exclude"] = [os.path.relpath(parent.parent / glob, path.parent) for glob in base.get("exclude", [])]
    merged = {**base, **data}
    merged["severity"] = {**base.get("severity", {}), **data.get("severity", {})}
    merged["targets"] = base.get("targets", []) + data.get("targets", [])
    return merged


def _read(path: Path) -> tuple[dict[str, Any], str]:
    """One file, validated; rule entries and severity keys canonical. Errors name file:line:column.
    With it, the line:column of its `extends` value (for the errors only the chain can see)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MailcfgError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        doc = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{mark.line + 1}:{mark.column + 1}" if mark else "1:1"
        raise MailcfgError(f"{path}:{where}: {exc.problem or exc.context}") from None
    except YAMLError as exc:
        raise MailcfgError(f"{path}:1:1: {str(exc).splitlines()[0]}") from None
    if doc is None:
        return {}, "1:1"
    _validate(path, doc)
    for key in ENTRY_KEYS:
        _check_entries(path, doc, key)
    _check_severity(path, doc)
    for entry in doc.get("targets", []):
        for key in ENTRY_KEYS:
            _check_entries(path, entry, key)
        _check_severity(path, entry)
    line, column = _position(doc, ["extends"])
    return _plain(doc), f"{line}:{column}"


def _validate(path: Path, doc: Any) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(_plain(doc)), key=lambda e: (len(e.absolute_path), list(map(str, e.path))))
    if errors:
        error = jsonschema.exceptions.best_match(errors)
        line, column = _position(doc, list(error.absolute_path))
        if error.validator == "additionalProperties":  # point at the unknown key itself
            node = doc
            for part in error.absolute_path:
                node = node[part]
            extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
            line, column = _key_position(node, extra[0])
        where = "/".join(str(p) for p in error.absolute_path)
        raise MailcfgError(f"{path}:{line}:{column}: {where + ': ' if where else ''}{_wording(error)}")


def _wording(error: Any) -> str:
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(known))
        return f"unknown key {extra[0]!r}" + (f" (known: {', '.join(known)})" if known else "")
    if error.validator == "enum":
        return f"{error.instance!r} is not one of {', '.join(map(str, error.validator_value))}"
    shown = repr(error.instance)  # a whole mapping or file in the message would not be one line a reader takes in
    return error.message.replace(shown, shown[:60] + "...", 1) if len(shown) > 80 else error.message


def _position(doc: Any, path: list[Any]) -> tuple[int, int]:
    """1-based line and column of the value at `path` in a ruamel round-trip document, or of the
    nearest enclosing value that has a position."""
    node, line, column = doc, 1, 1
    for part in path:
        try:
            found = node.lc.value(part) if isinstance(part, str) else node.lc.item(part)
            node = node[part]
        except (AttributeError, KeyError, IndexError, TypeError):
            break
        line, column = found[0] + 1, found[1] + 1
    return line, column


def _key_position(mapping: Any, key: str) -> tuple[int, int]:
    try:
        line, column = mapping.lc.key(key)
        return line + 1, column + 1
    except (AttributeError, KeyError, TypeError):
        return 1, 1


def _check_entries(path: Path, mapping: Any, key: str) -> None:
    universe = {r.id for r in listing()}
    for i, entry in enumerate(mapping.get(key, [])):
        try:
            resolve([entry], universe)
        except MailcfgError as exc:
            try:
                line, column = mapping[key].lc.item(i)
                line, column = line + 1, column + 1
            except (AttributeError, KeyError, TypeError):
                line, column = _key_position(mapping, key)
            raise MailcfgError(f"{path}:{line}:{column}: {key}: {exc}") from None


def _check_severity(path: Path, mapping: Any) -> None:
    for rule in mapping.get("severity", {}):
        try:
            declared(rule)
        except MailcfgError as exc:
            line, column = _key_position(mapping["severity"], rule)
            raise MailcfgError(f"{path}:{line}:{column}: severity: {exc}") from None
    if "severity" in mapping:
        mapping["severity"] = {declared(rule).id: level for rule, level in mapping["severity"].items()}


def _plain(value: Any) -> Any:
    """ruamel's round-trip containers as plain dicts, lists and scalars."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool | int | float) or value is None:
        return value
    return str(value)


@dataclass
class Overrides:
    """What the command line says (None / empty: not given)."""

    select: list[str] | None = None
    extend_select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    fail_on: str | None = None
    fail_on_stale: bool = False
    baseline: str | None = None

    def apply(self, settings: Settings) -> Settings:
        return replace(
            settings,
            select=self.select if self.select is not None else settings.select,
            extend_select=[*settings.extend_select, *self.extend_select],
            ignore=[*settings.ignore, *self.ignore],
            fail_on=self.fail_on or settings.fail_on,
            fail_on_stale=self.fail_on_stale or settings.fail_on_stale,
            baseline=self.baseline or settings.baseline,
        )


def split_entries(values: Iterable[str] | None) -> list[str] | None:
    """Repeatable, comma-separated command-line entries as one list (None when none was given)."""
    if values is None:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]
