"""smtpd restriction lists: items, their arguments, restriction classes and implicit table checks."""

from __future__ import annotations

from dataclasses import dataclass, field

from mailcfg.findings import Location
from mailcfg.postfix.effective import ParameterView
from mailcfg.postfix.known import Restriction, restrictions
from mailcfg.postfix.tables import TableRef, parse_ref
from mailcfg.postfix.tokens import split

LISTS = ("smtpd_client_restrictions", "smtpd_helo_restrictions", "smtpd_sender_restrictions",
         "smtpd_relay_restrictions", "smtpd_recipient_restrictions", "smtpd_data_restrictions",
         "smtpd_end_of_data_restrictions", "smtpd_etrn_restrictions")
# The access check a bare `type:table` item stands for, per list (smtpd_check.c def_acl).
IMPLICIT_ACCESS = {"smtpd_client_restrictions": "check_client_access",
                   "smtpd_helo_restrictions": "check_helo_access",
                   "smtpd_sender_restrictions": "check_sender_access",
                   "smtpd_relay_restrictions": "check_recipient_access",
                   "smtpd_recipient_restrictions": "check_recipient_access",
                   "smtpd_etrn_restrictions": "check_etrn_access"}
TAKES_ARGUMENT = ("table", "domain", "policy", "number")


@dataclass(frozen=True)
class Item:
    """One item of a restriction list."""

    text: str  # as written
    kind: str  # restriction, class, table (implicit access check), unknown
    location: Location | None
    argument: str | None = None
    restriction: Restriction | None = None
    missing_argument: bool = False
    name: str = field(init=False, repr=False, compare=False)  # lower case: asked for at every step of every list

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.text.lower())

    @property
    def table(self) -> TableRef | None:
        if self.kind == "table":
            return parse_ref(self.text)
        if self.argument is not None and self.restriction and self.restriction.argument == "table":
            return parse_ref(self.argument)
        return None


def class_names(view: ParameterView) -> set[str]:
    return {name.lower() for name in view.items("smtpd_restriction_classes")}


def lists_and_classes(view: ParameterView, lists: tuple[str, ...] = LISTS) -> list[str]:
    """The restriction lists `lists` plus every restriction class, each class after the lists."""
    return [*lists, *sorted(class_names(view))]


def parse(view: ParameterView, param: str) -> list[Item]:
    """The items of restriction list `param` (a list parameter or a restriction class)."""
    cache = view.memo.setdefault("restrictions", {})
    if param not in cache:
        cache[param] = parse_value(view, view.get(param), view.raw(param) or "", view.origin(param))
    return list(cache[param])


def parse_value(view: ParameterView, value: str, raw: str = "", origin=None) -> list[Item]:
    """The items of a restriction list written out: a parameter's value or an access-table result."""
    known = restrictions()
    classes = class_names(view)
    items: list[Item] = []
    tokens = split(value)
    cursor = 0
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        location, cursor = _locate(origin, raw, tok.text, cursor)
        key = tok.text.lower()
        info = known.get(key)
        if info is not None and info.argument in TAKES_ARGUMENT:
            # only a policy service takes a { ... } group; a braced table name is no table smtpd can open
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            arg = None if nxt is None else nxt.inner() if info.argument == "policy" else nxt.text
            items.append(Item(tok.text, "restriction", location, arg, info, missing_argument=arg is None))
            i += 2
            continue
        if info is not None:
            items.append(Item(tok.text, "restriction", location, restriction=info))
        elif key in classes:
            items.append(Item(tok.text, "class", location))
        elif ":" in tok.text:  # smtpd takes any word with a colon for a table (the list's implicit check)
            items.append(Item(tok.text, "table", location))
        else:
            items.append(Item(tok.text, "unknown", location))
        i += 1
    return items


def _locate(origin, raw: str, text: str, cursor: int) -> tuple[Location | None, int]:
    """Where `text` was written, when the item appears literally in the unexpanded value."""
    if origin is None:
        return None, cursor
    at = raw.find(text, cursor)
    if at < 0:
        return origin.location, cursor
    return origin.at(at), at + len(text)
