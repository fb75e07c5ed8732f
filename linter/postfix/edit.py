"""Edits of main.cf and master.cf that keep the file's own style.

A parameter is changed where Postfix takes its value from for the service concerned: the
service's `-o` in master.cf, else main.cf's last definition (earlier ones are dead and left
alone), else a new main.cf line at the end. A value that is just `$other` is followed to the
parameter it names. List values keep their layout: separator (`, `, `,` or blanks), one item
per continuation line or all on one, and the continuation indentation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailcfg.edits import Edit, render
from mailcfg.postfix.effective import ParameterView
from mailcfg.postfix.maincf import MainCf, Parameter
from mailcfg.postfix.mastercf import MasterCf, Override, Service
from mailcfg.postfix.tokens import BLANK_SEPARATORS, split
from mailcfg.source import SourceFile

RELOAD = ("postfix reload",)  # Fix.after for changes to main.cf or master.cf
REFERENCE = re.compile(r"^\$(?:\{(\w+)\}|\((\w+)\)|(\w+))$")


@dataclass(frozen=True)
class Layout:
    """How a list value is written."""

    separator: str = ", "
    multiline: bool = False
    first_on_head: bool = True  # the first item on the `name =` line
    indent: str = "    "


def layout_of(param: Parameter, source: SourceFile) -> Layout:
    value = param.value
    while (inner := re.sub(r"\{[^{}]*\}", "", value)) != value:  # separators inside { } do not count
        value = inner
    separator = ", " if ", " in value or not re.search(r"[\s,]", value.strip()) else "," if "," in value else " "
    segments = param.line.segments
    if len(segments) == 1:
        return Layout(separator)
    second = source.line_text(segments[1].line)
    indent = second[:len(second) - len(second.lstrip(" \t"))] or "    "
    head = param.line.text[:segments[1].offset]
    return Layout(separator, True, bool(head[param.value_offset:].strip()), indent)


def main_line(main: MainCf, name: str, words: list[str]) -> Edit:
    """Set main.cf's `name` to `words`: its last definition rewritten in its own layout, or a new line at the end."""
    param = main.get(name)
    source = main.source
    words = list(words)  # the text is rendered when first read (edits.Edit): the caller's list may change by then
    if param is None:
        n = len(source.lines)
        return Edit(source.path, n + 1, n,
                    lambda: render("postfix/main_parameter.j2", head=f"{name} = ", words=words, layout=Layout()))
    layout = layout_of(param, source)
    head = param.line.text[:param.value_offset]
    if not param.value:  # `name =` with nothing after it
        head = head.rstrip(" \t") + " "
    first, last = param.line.first_line, param.line.last_line
    # comment lines between continuation lines belong to no setting: keep them, above the new text
    kept = "".join(source.lines[n - 1] for n in range(first, last + 1) if n not in param.line.lines)
    return Edit(source.path, first, last,
                lambda: kept + render("postfix/main_parameter.j2", head=head, words=words, layout=layout))


def override_lines(master: MasterCf, service: Service, settings: list[tuple[str, str]]) -> list[Edit]:
    """Set `-o name=value` for each of `settings` on `service`: existing `-o`s rewritten in place,
    new ones as lines under the service, indented like its other `-o` lines."""
    source = master.source
    edits, new = [], []
    for name, value in settings:
        option = f"{name}={value}"
        if any(c.isspace() for c in value) or "{" in value:
            option = "{ " + f"{name} = {value}" + " }"  # braces keep blanks inside one -o argument
        existing = service.override(name)
        if existing is not None:
            edits.append(_rewrite_override(source, existing, option))
        else:
            new.append(option)
    if new:
        indent = "  "
        for o in service.overrides:
            if o.location.line != service.line.first_line:
                line = source.line_text(o.location.line)
                indent = line[:len(line) - len(line.lstrip(" \t"))]
                break
        after = service.line.last_line
        edits.append(Edit(source.path, after + 1, after,
                          lambda: "".join(render("postfix/master_override.j2", indent=indent, option=o) for o in new)))
    return edits


def _rewrite_override(source: SourceFile, o: Override, option: str) -> Edit:
    """The line holding `o` with that `-o` (plain `-o name=value`, `-oname=value` or braced
    `-o { name = value }`) replaced by `-o OPTION`; the rest of the line kept."""
    number = o.location.line
    line = source.line_text(number)
    start = (o.location.column or 1) - 1
    brace = re.search(r"\{\s*$", line[:start])
    begin = brace.start() if brace else start  # a braced option runs from its `{` to the matching `}`
    end = begin + split(line[begin:], BLANK_SEPARATORS)[0].end
    dash = re.search(r"-o\s*$", line[:begin])
    begin = dash.start() if dash else begin
    ending = source.lines[number - 1][len(line):]
    return Edit(source.path, number, number, line[:begin] + "-o " + option + line[end:] + (ending or "\n"))


def holder(view: ParameterView, name: str) -> tuple[str, Override | Parameter | None, str]:
    """(parameter, where it is set, value) that really holds `name` for this service: a value that
    is a lone `$other` is followed to `other` (also in a built-in default such as
    smtpd_sasl_tls_security_options's). Any other built-in default gives its expanded value."""
    seen: set[str] = set()
    while True:
        seen.add(name)
        origin = view.origin(name)
        raw = origin.value if origin is not None else (view.raw(name) or "")
        target = _reference(raw)
        if target is None or target in seen:
            return name, origin, raw if origin is not None else view.get(name)
        name = target


def set_for(view: ParameterView, name: str, words: list[str]) -> Edit:
    """Set list parameter `name` to `words` where this service's value comes from."""
    name, origin, _value = holder(view, name)
    if isinstance(origin, Override) and view.service is not None:
        [edit] = override_lines(view.config.master, view.service, [(name, ",".join(words))])
        return edit
    return main_line(view.config.main, name, words)


def _reference(value: str) -> str | None:
    m = REFERENCE.match(value.strip())
    return next((g for g in m.groups() if g), None) if m else None
