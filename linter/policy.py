"""Policy files for `mailcfg test`: the decisions a user expects, one probe each (YAML or JSON).

A probe that is not valid (an unknown field, a wrong type, a client that is no IP address, a
duplicate name) is kept with its error, so that the other probes are still run and reported.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from pathlib import Path

from mailcfg import plainread
from mailcfg.asciidigits import digits
from mailcfg.errors import MailcfgError
from mailcfg.ipaddr import address
from mailcfg.source import read_text
from mailcfg.transaction import ACTIONS, Probe, literal_helo

TEXT_FIELDS = ("name", "service", "client", "client_name", "helo", "sasl_user", "sender", "rcpt", "expect",
               "expect_reply")
FLAGS = ("tls", "allow_undecided")
NUMBERS = ("port", "expect_code")
FIELDS = set(TEXT_FIELDS + FLAGS + NUMBERS)
# The types each field takes without a closer look (anything else goes through _check_fields).
_PLAIN = {**dict.fromkeys(TEXT_FIELDS, (str, type(None), int)), **dict.fromkeys(FLAGS, (bool,)),
          **dict.fromkeys(NUMBERS, (int, type(None)))}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Expectation:
    """One probe of a policy file and the decision it expects."""

    name: str
    probe: Probe | None  # None when the probe is not valid
    expect: str
    line: int | None
    where: str = ""  # the policy file and line, for messages about this probe
    error: str | None = None  # why the probe is not valid, starting with the policy file:line
    allow_undecided: bool = False  # an answer that depends on what the snapshot lacks may pass
    expect_code: int | None = None  # the reply code must be this one
    expect_reply: str | None = None  # a regular expression searched for in the reply


class Invalid(Exception):
    """One probe is not valid: why, without the place."""


def probe_problem(probe: Probe) -> str | None:
    """What makes a probe's input unusable, or None: the client must be an IP address, and no value
    may hold a line break or control character (it could not be sent as one SMTP command).
    A recipient without `@` is valid: smtpd takes a bare local part as an address in its own domain."""
    if address(probe.client) is None:
        return f"client {probe.client!r} is not an IP address (give the SMTP client's address, e.g. 198.51.100.7)"
    if not probe.rcpt.strip():
        return "the recipient is empty"
    for label, value in (("recipient", probe.rcpt), ("sender", probe.sender), ("HELO name", probe.helo),
                         ("client name", probe.client_name), ("SASL login", probe.sasl_user)):
        if value is not None and _CONTROL.search(value):
            return f"the {label} {value!r} holds a control character"
    return None


def probe_of(item: dict) -> Probe:
    """A probe from its keys as a policy file writes them (client, rcpt, sender, helo, ...)."""
    expectation = sorted({"name", "expect", "expect_code", "expect_reply", "allow_undecided"} & set(map(str, item)))
    if expectation:
        raise MailcfgError(f"probe: {expectation[0]!r} is what a policy expects, not part of a probe")
    try:
        return _expectation("probe", {**item, "expect": "accept"}, None, "probe").probe
    except Invalid as exc:
        raise MailcfgError(f"probe: {exc}") from None


def load_policy(path: Path) -> list[Expectation]:
    text = read_text(path)
    probes, lines = plainread.read(text) or _read_yaml(path, text)
    found: list[Expectation] = []
    first: dict[str, str] = {}  # probe name -> where it first appears
    for index, item in enumerate(probes, 1):
        line = lines[index - 1]
        where = f"{path}:{line}" if line else f"{path}: probe {index}"
        name = str(item.get("name") or f"probe {index}") if isinstance(item, dict) else f"probe {index}"
        try:
            if name in first:
                raise Invalid(f"duplicate probe name {name!r} (first at {first[name]})")
            first[name] = where
            found.append(_expectation(name, item, line, where))
        except Invalid as exc:
            found.append(Expectation(name, None, str(item.get("expect", "")) if isinstance(item, dict) else "",
                                     line, where, f"{where}: {exc}"))
    return found


def _read_yaml(path: Path, text: str) -> tuple[list, list[int | None]]:
    """The probes and their lines through the full YAML parser (what the fast reader leaves to it)."""
    from ruamel.yaml import YAML  # only for a file the fast reader does not take: it is slow to load and run
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="rt").load(text)  # JSON is YAML too; round-trip mode keeps line numbers
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise MailcfgError(f"{where}: not valid YAML or JSON: {getattr(exc, 'problem', None) or exc}") from None
    probes = data.get("probes") if isinstance(data, dict) else None
    if not isinstance(probes, list) or not probes:
        raise MailcfgError(f"{path}: expected a mapping with a non-empty list under 'probes'")
    return probes, [_line(probes, i) for i in range(len(probes))]


def _line(probes, index: int) -> int | None:
    """The line the probe starts on (ruamel.yaml keeps where each list item is)."""
    lc = getattr(probes, "lc", None)
    try:
        return lc.item(index)[0] + 1 if lc is not None else None
    except (KeyError, TypeError, IndexError):
        return None


def _expectation(name: str, item, line: int | None, where: str) -> Expectation:
    if not isinstance(item, dict):
        raise Invalid("each probe must be a mapping (client:, rcpt:, expect:, ...)")
    if not (_plain_shape(tuple(item), tuple(map(type, item.values())))
            and all((item.get(key) or 0) >= 0 for key in NUMBERS)):
        _check_fields(item)  # the usual probe passes the one look above: a policy holds thousands
    for required in ("client", "rcpt", "expect"):
        if item.get(required) in (None, ""):
            raise Invalid(f"probe needs {required!r}")
    expect = str(item["expect"]).lower()
    if expect not in ACTIONS:
        raise Invalid(f"expect must be one of {', '.join(ACTIONS)}, not {_shown(item['expect'])}")
    code = int(str(item["expect_code"])) if item.get("expect_code") is not None else None
    if code is not None and not 200 <= code <= 599:
        raise Invalid(f"expect_code must be an SMTP reply code (200 to 599), not {code}")
    pattern = _text(item.get("expect_reply"))
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise Invalid(f"expect_reply is not a valid regular expression: {exc}") from None
    client_name = _text(item.get("client_name"))
    helo = _text(item["helo"]) if "helo" in item else client_name or literal_helo(str(item["client"]))
    port = item.get("port")
    probe = Probe(client=str(item["client"]), rcpt=str(item["rcpt"]), sender=str(item.get("sender") or ""),
                  helo=helo, client_name=client_name, sasl_user=_text(item.get("sasl_user")),
                  tls=item.get("tls", False), service=_text(item.get("service")),
                  port=int(str(port)) if port is not None else None)
    problem = probe_problem(probe)
    if problem:
        raise Invalid(problem)
    return Expectation(name, probe, expect, line, where, allow_undecided=item.get("allow_undecided", False),
                       expect_code=code, expect_reply=pattern)


@functools.lru_cache(maxsize=256)  # a policy's probes come in a few shapes: the fields they set, and their types
def _plain_shape(keys: tuple, types: tuple) -> bool:
    """Whether fields of these names and types need no closer look (_check_fields)."""
    return FIELDS.issuperset(keys) and all(kind in _PLAIN[key] for key, kind in zip(keys, types, strict=True))


def _check_fields(item: dict) -> None:
    """Why a probe's fields are not valid: the first unknown field, else the first of the wrong type."""
    for key in map(str, item):
        if key not in FIELDS:
            close = difflib.get_close_matches(key, sorted(FIELDS), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(FIELDS))}"
            raise Invalid(f"unknown field {key!r} ({hint})")
    for key in TEXT_FIELDS:
        value = item.get(key)
        if isinstance(value, bool | dict | list):
            raise Invalid(f"{key} must be text, not {_shown(value)}")
    for key in FLAGS:
        if key in item and not isinstance(item[key], bool):
            raise Invalid(f"{key} must be true or false, not {_shown(item[key])}")
    for key in NUMBERS:
        value = item.get(key)
        if value is not None and (isinstance(value, bool) or not digits(str(value))):
            raise Invalid(f"{key} must be a number, not {_shown(value)}")


def _shown(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(str(value))


def _text(value) -> str | None:
    return None if value is None else str(value)
