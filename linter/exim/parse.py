"""The structure Exim builds from the logical lines: main options, named lists, ACLs and drivers.

Each check that makes Exim refuse its configuration is made here the way readconf.c and acl.c make
it, with their wording; the first one found stops the parse, as it stops Exim.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mailcfg.exim.lines import Origin
from mailcfg.exim.options import known
from mailcfg.exim.reader import ConfigError, LogicalLine, Macro, ReadConfig

VERBS = ("accept", "defer", "deny", "discard", "drop", "require", "warn")
# acl.c's conditions[]: name -> is a modifier (modifiers cannot be negated)
ACL_ITEMS = {
    "acl": False, "add_header": True, "authenticated": False, "bmi_optin": True, "condition": False,
    "continue": True, "control": True, "dcc": False, "decode": False, "delay": True, "dkim_signers": False,
    "dkim_status": False, "dmarc_status": False, "dnslists": False, "domains": False, "encrypted": False,
    "endpass": True, "hosts": False, "local_parts": False, "log_message": True, "log_reject_target": True,
    "logwrite": True, "malware": False, "message": True, "mime_regex": False, "queue": True,
    "ratelimit": False, "recipients": False, "regex": False, "remove_header": True, "seen": False,
    "sender_domains": False, "senders": False, "set": True, "spam": False, "spf": False, "spf_guess": False,
    "udpsend": True, "verify": False,
}
LIST_KINDS = {"domainlist": "domain", "hostlist": "host", "addresslist": "address", "localpartlist": "localpart"}
DRIVER_SECTIONS = {"routers": "router", "transports": "transport", "authenticators": "authenticator"}


@dataclass
class Setting:
    """One `name = value` (or boolean) line of the main section or a driver."""

    name: str  # without a no_/not_ prefix
    value: str  # quotes processed; "true"/"false" for booleans
    origin: Origin
    line: LogicalLine


@dataclass
class NamedList:
    """A `domainlist`, `hostlist`, `addresslist` or `localpartlist`."""

    kind: str  # domain, host, address, localpart
    name: str
    value: str
    origin: Origin
    line: LogicalLine


@dataclass
class AclItem:
    """A condition or modifier of a statement: `name = value`, maybe negated."""

    name: str
    value: str
    negated: bool
    origin: Origin
    # worked out once: every decision asks them again
    modifier: bool = field(init=False, repr=False, compare=False)
    text: str = field(init=False, repr=False, compare=False)  # as the trace names it

    def __post_init__(self) -> None:
        self.modifier = ACL_ITEMS[self.name]
        self.text = f"{'!' if self.negated else ''}{self.name}" + ("" if self.name == "endpass" else f" = {self.value}")

    def __str__(self) -> str:
        return self.text


@dataclass
class Statement:
    """One ACL statement: its verb and its conditions and modifiers."""

    verb: str
    origin: Origin
    items: list[AclItem] = field(default_factory=list)

    def __str__(self) -> str:
        return " ".join([self.verb, *(item.text for item in self.items)])


@dataclass
class Acl:
    """One ACL of the `begin acl` section."""

    name: str
    origin: Origin
    statements: list[Statement] = field(default_factory=list)


@dataclass
class Driver:
    """One router, transport or authenticator, with its options."""

    kind: str  # router, transport, authenticator
    name: str
    origin: Origin
    settings: dict[str, Setting] = field(default_factory=dict)

    @property
    def driver(self) -> str | None:
        s = self.settings.get("driver")
        return s.value if s else None

    def get(self, name: str) -> str | None:
        s = self.settings.get(name)
        return s.value if s else None


@dataclass
class Parsed:
    """The configuration parsed: main options, named lists, ACLs and drivers."""

    read: ReadConfig
    main: dict[str, Setting] = field(default_factory=dict)
    lists: dict[tuple[str, str], NamedList] = field(default_factory=dict)  # (kind, name)
    acls: dict[str, Acl] = field(default_factory=dict)
    drivers: list[Driver] = field(default_factory=list)  # in configuration order
    error: ConfigError | None = None

    @property
    def macros(self) -> dict[str, Macro]:
        return self.read.macros

    def of_kind(self, kind: str) -> list[Driver]:
        return [d for d in self.drivers if d.kind == kind]


def parse(read: ReadConfig) -> Parsed:
    parsed = Parsed(read, error=read.error)
    try:
        _Builder(parsed).run()
    except ConfigError as exc:
        if parsed.error is None or _before(exc.origin, parsed.error.origin, read):
            parsed.error = exc
    return parsed


def _before(a: Origin | None, b: Origin | None, read: ReadConfig) -> bool:
    """Whether the structural error at `a` comes before the reading error at `b`: Exim meets the first."""
    if a is None or b is None:
        return False
    order = {line.origin: i for i, line in enumerate(read.lines)}
    return a in order and (b not in order or order[a] < order[b])


def inline_acl(text: str, origin: Origin) -> Acl | None:
    """An ACL written in an option itself (`acl_smtp_rcpt = accept`), one statement line per line;
    None when it does not parse (Exim then gives a temporary error)."""
    lines = [LogicalLine(line.strip(), origin, "acls") for line in text.split("\n") if line.strip()]
    parsed = Parsed(ReadConfig(lines=[LogicalLine("inline:", origin, "acls"), *lines]))
    try:
        _Builder(parsed).run()
    except ConfigError:
        return None
    return parsed.acls.get("inline")


class _Builder:
    def __init__(self, parsed: Parsed) -> None:
        self.parsed = parsed
        self.acl: Acl | None = None
        self.statement: Statement | None = None
        self.driver: Driver | None = None

    def run(self) -> None:
        section = "main"
        for line in self.parsed.read.lines:
            if line.section != section:
                section = line.section
                self.acl = self.statement = self.driver = None
            if section == "main":
                self._main(line)
            elif section == "acls":
                self._acl(line)
            elif section in DRIVER_SECTIONS:
                self._driver(line, DRIVER_SECTIONS[section])

    def _main(self, line: LogicalLine) -> None:
        text = line.text
        hide = text.startswith("hide") and text[4:5].isspace()
        body = text[5:].lstrip() if hide else text
        for word, kind in LIST_KINDS.items():
            if body.startswith(word):
                self._named_list(kind, body[len(word):], line)
                return
        name, value, negative = _option(text, line.origin)
        option = known().main.get(name)
        if option is None:
            raise ConfigError(f'main option "{(negative or "") + name}" unknown', line.origin)
        self._set(self.parsed.main, name, value, negative, option.boolean, line)

    def _set(self, into: dict[str, Setting], name: str, value: str | None, negative: str, boolean: bool,
             line: LogicalLine) -> None:
        if name in into and name not in _REPEATABLE:
            raise ConfigError(f'"{negative + name}" option set for the second time', line.origin)
        if boolean:
            if value is None:
                value = "false" if negative else "true"
            elif negative:
                raise ConfigError(f'"=" not allowed after "{negative + name}"', line.origin)
            elif value.lower() in ("true", "yes"):
                value = "true"
            elif value.lower() in ("false", "no"):
                value = "false"
            else:
                raise ConfigError(f'"{name}" is a boolean option: use true, false, yes or no', line.origin)
        elif negative:
            raise ConfigError("negation prefix applied to a non-boolean option", line.origin)
        elif value is None:
            raise ConfigError(f'"=" missing after "{name}"', line.origin)
        if name in into and name in _REPEATABLE:
            value = f"{into[name].value}\n{value}"
        into[name] = Setting(name, value, line.origin, line)

    def _named_list(self, kind: str, rest: str, line: LogicalLine) -> None:
        rest = rest.removeprefix("_cache")
        name, _, value = rest.strip().partition("=")
        name = name.strip()
        if not name or not _:
            raise ConfigError(f"syntax error in {kind} list definition", line.origin)
        if (kind, name) in self.parsed.lists:
            raise ConfigError(f'duplicate name "{name}" for a named {kind} list', line.origin)
        self.parsed.lists[(kind, name)] = NamedList(kind, name, value.strip(), line.origin, line)

    def _acl(self, line: LogicalLine) -> None:
        text = line.text
        negated = text.startswith("!")
        name, rest = _name(text[1:] if negated else text)
        if rest.startswith(":"):
            if not name:
                raise ConfigError("missing or malformed ACL name", line.origin)
            if name in self.parsed.acls:
                raise ConfigError(f'there are two ACLs called "{name}"', line.origin)
            self.acl = self.parsed.acls[name] = Acl(name, line.origin)
            self.statement = None
            if rest[1:].strip():
                self._item(rest[1:].strip(), line)  # readconf leaves the rest of the line to acl_read
            return
        if self.acl is None:
            raise ConfigError("missing or malformed ACL name", line.origin)
        if name in VERBS:
            if negated:
                raise ConfigError(f'error in ACL: malformed ACL line "{text}"', line.origin)
            self.statement = Statement(name, line.origin)
            self.acl.statements.append(self.statement)
            if rest:
                self._item(rest, line)
            return
        self._item(text, line)

    def _item(self, text: str, line: LogicalLine) -> None:
        negated = text.startswith("!")
        name, rest = _name(text[1:].lstrip() if negated else text)
        if self.statement is None:
            raise ConfigError(f'error in ACL: unknown ACL verb "{name}" in "{line.text}"', line.origin)
        if name not in ACL_ITEMS:
            raise ConfigError(f'error in ACL: unknown ACL condition/modifier in "{line.text}"', line.origin)
        if negated and ACL_ITEMS[name]:
            raise ConfigError(f'error in ACL: ACL error: negation is not allowed with "{name}"', line.origin)
        if name == "endpass":
            if self.statement.verb not in ("accept", "discard"):
                raise ConfigError(f'error in ACL: ACL error: "endpass" is not allowed with "{self.statement.verb}"',
                                  line.origin)
            self.statement.items.append(AclItem(name, "", negated, line.origin))
            return
        if name == "set":  # `set acl_m0 = value`: the variable name comes before the `=`
            variable, _, rest = rest.partition("=")
            if not variable.strip().startswith(("acl_c", "acl_m", "dkim_verify_")):
                raise ConfigError(f'error in ACL: invalid variable name after "set" in ACL modifier "set {rest}"',
                                  line.origin)
            self.statement.items.append(AclItem(name, f"{variable.strip()} = {rest.strip()}", False, line.origin))
            return
        if not rest.startswith("="):
            kind = "modifier" if ACL_ITEMS[name] else "condition"
            raise ConfigError(f'error in ACL: "=" missing after ACL "{name}" {kind}', line.origin)
        self.statement.items.append(AclItem(name, rest[1:].strip(), negated, line.origin))

    def _driver(self, line: LogicalLine, kind: str) -> None:
        name, rest = _name(line.text)
        if rest.startswith(":"):
            if any(d.kind == kind and d.name == name for d in self.parsed.drivers):
                raise ConfigError(f'there are two {kind}s called "{name}"', line.origin)
            if rest[1:].strip():
                raise ConfigError(f'extra characters follow driver name "{name}"', line.origin)
            self.driver = Driver(kind, name, line.origin)
            self.parsed.drivers.append(self.driver)
            return
        if self.driver is None:
            raise ConfigError(f"{kind} name missing", line.origin)
        option, value, negative = _option(line.text, line.origin)
        allowed = known().generic(kind) | {"driver"}
        driver = self.driver.driver
        if option == "driver":
            if value is None or value.strip() not in known().driver_names(kind) | _UNBUILT.get(kind, set()):
                raise ConfigError(f'{kind} {value} not found', line.origin)
        elif driver is None and option not in allowed:
            raise ConfigError(f'option "{option}" unknown ("driver" must be specified before any private options)',
                              line.origin)
        elif driver is not None and (kind, driver) in known().drivers and option not in known().drivers[(kind, driver)]:
            raise ConfigError(f'option "{negative + option}" unknown', line.origin)
        if option != "driver" and value is None and not negative:
            value = "true"  # a bare name sets a boolean; non-boolean driver options are not typed in the data
        self.driver.settings[option] = Setting(option, "false" if negative else (value or ""), line.origin, line)


# Options that may be given more than once; they accumulate.
_REPEATABLE = {"condition", "headers_add", "headers_remove", "set"}
# Drivers Exim has that no data here describes: accepted, their options not checked.
_UNBUILT = {"authenticator": {"gsasl"}, "router": set(), "transport": set()}


def _name(text: str) -> tuple[str, str]:
    """readconf_readname: a name (a letter, then letters, digits, _) and the rest, blanks skipped."""
    text = text.lstrip()
    end = 0
    if text[:1].isalpha():
        end = 1
        while end < len(text) and (text[end].isalnum() or text[end] == "_"):
            end += 1
    return text[:end], text[end:].lstrip()


def _option(text: str, origin: Origin) -> tuple[str, str | None, str]:
    """(name without no_/not_, value or None when there is no `=`, the negative prefix) of an option line."""
    if not text[:1].isalpha():
        raise ConfigError(f"option setting expected: {text}", origin)
    name, rest = _name(text)
    if name == "hide":
        name, rest = _name(rest)
    negative = next((p for p in ("no_", "not_") if name.startswith(p)), "")
    name = name[len(negative):]
    if not rest:
        return name, None, negative
    if not rest.startswith("="):
        raise ConfigError(f'unexpected characters after option "{name}": {rest}', origin)
    return name, unquote(rest[1:].strip()), negative


def unquote(value: str) -> str:
    """A string option's value: a quoted one has its escapes processed, as readconf_readstring does."""
    if not value.startswith('"'):
        return value
    out, i = [], 1
    escapes = {"n": "\n", "r": "\r", "t": "\t"}
    while i < len(value) and value[i] != '"':
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            if nxt in escapes:
                out.append(escapes[nxt])
                i += 2
                continue
            if nxt in "01234567":
                j = i + 1
                while j < min(i + 4, len(value)) and value[j] in "01234567":
                    j += 1
                out.append(chr(int(value[i + 1:j], 8)))
                i = j
                continue
            if nxt == "x" and i + 2 < len(value):
                j = i + 2
                while j < min(i + 4, len(value)) and value[j] in "0123456789abcdefABCDEF":
                    j += 1
                out.append(chr(int(value[i + 2:j], 16)) if j > i + 2 else "x")
                i = j
                continue
            out.append(nxt)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)
