"""Where an Exim fix edits, and the edits: whole physical lines, rendered from templates/exim/.

A value is changed where it is really set: a named list written with a macro is changed in the
macro's definition, and on Debian, a macro update-exim4.conf writes from update-exim4.conf.conf is
changed in its dc_* variable (then update-exim4.conf must run to rebuild the configuration).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailcfg.edits import Edit, render
from mailcfg.exim.config import EximConfig
from mailcfg.exim.lines import Origin
from mailcfg.exim.lists import join_list, list_separator
from mailcfg.exim.parse import Driver, NamedList, Statement
from mailcfg.exim.reader import LogicalLine

PLAIN_AFTER = ("exim -bV", "reload Exim: kill -HUP the daemon (systemctl reload exim4)")
DEBIAN_AFTER = ("update-exim4.conf", "systemctl reload exim4")


def after(config: EximConfig) -> tuple[str, ...]:
    return DEBIAN_AFTER if config.debian is not None else PLAIN_AFTER


@dataclass(frozen=True)
class Span:
    file: str
    first: int
    last: int


def span(line: LogicalLine) -> Span | None:
    """The physical lines a logical line was joined from, when they are all in one file."""
    files = {o.file for o in line.physical or (line.origin,)}
    if len(files) != 1:
        return None
    lines = [o.line for o in line.physical or (line.origin,)]
    return Span(line.origin.file, min(lines), max(lines))


def raw_text(config: EximConfig, origin: Origin) -> str | None:
    source = config.sources.get(origin.file)
    return source.line_text(origin.line) if source else None


def indent_of(config: EximConfig, origin: Origin) -> str:
    text = raw_text(config, origin) or ""
    return text[:len(text) - len(text.lstrip())]


def insert_statements(config: EximConfig, before: Statement,
                      statements: list[tuple[str, list[str]] | Statement]) -> Edit | None:
    """ACL statements right before `before`: new ones (verb, items) laid out like it, and copies of
    existing ones line for line."""
    if raw_text(config, before.origin) is None:
        return None
    indent = indent_of(config, before.origin)
    raw = (raw_text(config, before.origin) or "").strip()
    m = re.match(r"(\w+)(\s+)", raw)
    text = ""
    for statement in statements:
        if isinstance(statement, Statement):
            copied = statement_text(config, statement)
            if copied is None:
                return None
            text += copied
            continue
        verb, items = statement
        width = max(len(verb) + 1, len(m[1]) + len(m[2]) if m else 8)
        text += render("exim/statement.j2", indent=indent, verb=verb, width=width, items=items)
    line = before.origin.line
    source = config.sources[before.origin.file]
    while line > 1 and source.line_text(line - 1).lstrip().startswith("#"):
        line -= 1  # above the comment that belongs to `before`
    return Edit(before.origin.file, line, line - 1, text)


def statement_text(config: EximConfig, statement: Statement) -> str | None:
    """The physical lines a statement is written on, as they are."""
    origins = [statement.origin, *(i.origin for i in statement.items)]
    if len({o.file for o in origins}) != 1 or config.sources.get(statement.origin.file) is None:
        return None
    source = config.sources[statement.origin.file]
    return "".join(source.lines[statement.origin.line - 1:max(o.line for o in origins)])


def _macro_in(config: EximConfig, origin: Origin) -> str | None:
    """The user macro written on the physical line at `origin` (the first, when several)."""
    text = raw_text(config, origin) or ""
    found = [(text.find(name), name) for name in config.parsed.macros if name in text]
    return min(found)[1] if found else None


def set_list(config: EximConfig, named: NamedList, items: list[str]) -> tuple[Edit, str] | None:
    """Edit that gives named list `named` the items `items`, and a description of where it is set."""
    macro = _macro_in(config, named.origin)
    if macro is not None and config.debian is not None:
        setting = config.debian.setting_for(macro)
        if setting is not None:
            return _set_debconf(config, setting.name, setting.value, items), setting.name
    if macro is not None:
        definition = config.parsed.macros[macro]
        where = definition.redefined[-1] if definition.redefined else definition.origin
        if where is None or raw_text(config, where) is None:
            return None
        raw = (raw_text(config, where) or "").strip()
        m = re.match(r"([A-Za-z0-9_]+)\s*(==?)", raw)
        if not m:
            return None
        value = join_list(items, list_separator(definition.value))
        text = f"{indent_of(config, where)}{m[1]} {m[2]} {value}\n"
        return Edit(where.file, where.line, where.line, text), f"the macro {macro}"
    place = span(named.line)
    if place is None or raw_text(config, named.origin) is None:
        return None
    raw = (raw_text(config, named.origin) or "").strip()
    prefix = raw[:raw.index(named.name)]
    value = join_list(items, list_separator(named.value))
    text = render("exim/setting.j2", indent=indent_of(config, named.origin), prefix=prefix, name=named.name,
                  value=value)
    return Edit(place.file, place.first, place.last, text), f"{named.kind}list {named.name}"


def _set_debconf(config: EximConfig, name: str, old: str, items: list[str]) -> Edit:
    """An update-exim4.conf.conf variable with the items the fix keeps, in the separator it used."""
    assert config.debian is not None
    setting = config.debian.settings[name]
    sep = ";" if ";" in old else ":"
    kept = [i.strip() for i in re.split(r"[;:]" if sep == ";" else r"(?<!:):(?!:)", old) if i.strip()]
    kept = [i for i in kept if i in items or i.replace("::", ":") in items]
    value = f" {sep} ".join(kept) if sep == ";" else " : ".join(kept)
    text = render("exim/debconf.j2", name=name, value=value)
    return Edit(setting.origin.file, setting.origin.line, setting.origin.line, text)


def add_driver_option(config: EximConfig, driver: Driver, name: str, value: str) -> Edit | None:
    """`name = value` as a new line of `driver`, after its `driver =` line, indented like it."""
    anchor = driver.settings.get("driver")
    if anchor is None or raw_text(config, anchor.origin) is None:
        return None
    place = span(anchor.line)
    assert place is not None
    m = re.match(r"\s*(driver\s*)=", raw_text(config, anchor.origin) or "")
    aligned = name.ljust(len(m[1]) - 1) if m else name  # `name   = value` lined up with the others
    text = render("exim/setting.j2", indent=indent_of(config, anchor.origin), prefix="", name=aligned, value=value)
    return Edit(place.file, place.last + 1, place.last, text)


def set_main_option(config: EximConfig, name: str, value: str) -> Edit | None:
    """The main option `name` set to `value`: its line replaced, or a new line before the first section."""
    setting = config.setting(name)
    if setting is not None:
        place = span(setting.line)
        if place is None or raw_text(config, setting.origin) is None:
            return None
        text = render("exim/setting.j2", indent=indent_of(config, setting.origin), prefix="", name=name, value=value)
        return Edit(place.file, place.first, place.last, text)
    text = render("exim/setting.j2", indent="", prefix="", name=name, value=value)
    first_section = min(config.parsed.read.sections.values(), key=lambda o: o.line, default=None)
    if first_section is not None and raw_text(config, first_section) is not None:
        return Edit(first_section.file, first_section.line, first_section.line - 1, text + "\n")
    return None

