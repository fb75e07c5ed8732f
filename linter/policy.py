"""Policy files for `mailcfg test`: the decisions a user expects, one probe each (YAML or JSON)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mailcfg.errors import MailcfgError
from mailcfg.postfix.probe import ACTIONS, Probe, literal_helo
from mailcfg.source import read_text
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

FIELDS = {"name", "service", "port", "client", "client_name", "helo", "sasl_user", "tls", "sender", "rcpt",
          "expect"}


@dataclass(frozen=True)
class Expectation:
    name: str
    probe: Probe
    expect: str
    line: int | None


def load_policy(path: Path) -> list[Expectation]:
    text = read_text(path)
    try:
        data = YAML(typ="rt").load(text)  # JSON is YAML too; round-trip mode keeps line numbers
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise MailcfgError(f"{where}: not valid YAML or JSON: {getattr(exc, 'problem', None) or exc}") from None
    probes = data.get("probes") if isinstance(data, dict) else None
    if not isinstance(probes, list) or not probes:
        raise MailcfgError(f"{path}: expected a mapping with a non-empty list under 'probes'")
    return [_expectation(path, i, item) for i, item in enumerate(probes, 1)]


def _expectation(path: Path, index: int, item) -> Expectation:
    line = item.lc.line + 1 if hasattr(item, "lc") and item.lc.line is not None else None
    where = f"{path}:{line}" if line else f"{path}: probe {index}"
    if not isinstance(item, dict):
        raise MailcfgError(f"{where}: each probe must be a mapping")
    unknown = sorted(set(map(str, item)) - FIELDS)
    if unknown:
        raise MailcfgError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(sorted(FIELDS))})")
    for required in ("client", "rcpt", "expect"):
        if item.get(required) in (None, ""):
            raise MailcfgError(f"{where}: probe needs {required!r}")
    expect = str(item["expect"]).lower()
    if expect not in ACTIONS:
        raise MailcfgError(f"{where}: expect must be one of {', '.join(ACTIONS)}, not {item['expect']!r}")
    port = item.get("port")
    if port is not None and (isinstance(port, bool) or not str(port).isdigit()):
        raise MailcfgError(f"{where}: port must be a number, not {port!r}")
    tls = item.get("tls", False)
    if not isinstance(tls, bool):
        raise MailcfgError(f"{where}: tls must be true or false, not {tls!r}")
    client_name = _text(item.get("client_name"))
    helo = _text(item["helo"]) if "helo" in item else client_name or literal_helo(str(item["client"]))
    probe = Probe(client=str(item["client"]), rcpt=str(item["rcpt"]), sender=str(item.get("sender") or ""),
                  helo=helo, client_name=client_name,
                  sasl_user=_text(item.get("sasl_user")), tls=tls, service=_text(item.get("service")),
                  port=int(port) if port is not None else None)
    return Expectation(str(item.get("name") or f"probe {index}"), probe, expect, line)


def _text(value) -> str | None:
    return None if value is None else str(value)
