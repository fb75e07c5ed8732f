"""GitHub Actions workflow commands: one annotation per finding on the file and line."""

from __future__ import annotations

from mailcfg.lint import TargetResult
from mailcfg.reporters.paths import Places
from mailcfg.reporters.visible import visible

LEVELS = {"error": "error", "warning": "warning", "info": "notice"}


def _escape(text: str, prop: bool = False) -> str:
    """The runner's escapes for `%` and line breaks; other controls made visible (the job log shows
    annotations on a terminal-like view)."""
    text = visible(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def render(results: list[TargetResult], color: bool = False) -> str:
    lines = []
    places = Places()
    for target in results:
        if target.error:
            lines.append(f"::error title=mailcfg ({target.status})::{_escape(f'{target.target}: {target.error}')}")
        for f in target.findings:
            props = [f"title={_escape(f.rule, True)}"]
            if f.location.file:
                props.insert(0, f"file={_escape(places.working(target, f.location.file), True)}")
                if f.location.line:
                    props.insert(1, f"line={f.location.line}")
                    if f.location.column:
                        props.insert(2, f"col={f.location.column}")
            lines.append(f"::{LEVELS[f.severity.value]} {','.join(props)}::{_escape(f.message)}")
    return "".join(line + "\n" for line in lines)
