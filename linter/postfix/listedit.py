"""Restriction lists as fixes change them: items kept as written, one inserted, moved or dropped.

The items are those of the value that really holds the list for a service (`edit.holder`), so a
list written as `$mua_relay_restrictions` is edited where that parameter is set. `$name` items
inside a longer list stay as they are, as opaque items.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailcfg.edits import Edit
from mailcfg.postfix.edit import holder, set_for
from mailcfg.postfix.effective import ParameterView
from mailcfg.postfix.restrictions import Item, parse_value

GATES = ("reject_unauth_destination", "defer_unauth_destination")
# Permits that only ever trust a client the admin chose (or only authorized destinations).
TRUSTED = ("permit_mynetworks", "permit_sasl_authenticated", "permit_tls_clientcerts", "permit_tls_all_clientcerts",
           "permit_inet_interfaces", "permit_auth_destination")
TRUSTED_CLIENTS = ("permit_mynetworks", "permit_sasl_authenticated", "permit_tls_clientcerts",
                   "permit_tls_all_clientcerts", "permit_inet_interfaces")
REFUSING = ("reject", "defer", "warn_if_reject", "sleep")


@dataclass(frozen=True)
class ListValue:
    """One restriction list of one service: the parameter that holds it and its items."""

    view: ParameterView
    name: str  # the list parameter the service uses (smtpd_relay_restrictions, ...)
    holder: str  # the parameter whose value is edited (name, or what a lone $reference names)
    items: list[Item]

    @property
    def words(self) -> list[str]:
        return [word(i) for i in self.items]

    def set(self, words: list[str]) -> Edit:
        return set_for(self.view, self.name, words)


def list_value(view: ParameterView, name: str) -> ListValue:
    held, _origin, value = holder(view, name)
    return ListValue(view, name, held, parse_value(view, value))


def word(item: Item) -> str:
    return item.text if item.argument is None else f"{item.text} {item.argument}"


def may_permit(item: Item) -> bool:
    """Whether the item can permit a client the admin never chose: `permit`, access tables, policy
    services, restriction classes, DNS allow lists, permit_mx_backup, unknown or `$name` items."""
    name = item.name
    if name in TRUSTED or name in GATES:
        return False
    return not (item.kind == "restriction" and name.startswith(REFUSING))


def with_relay_gate(items: list[Item]) -> list[str] | None:
    """The list with its relay check placed before the first item that may permit an outsider (the
    existing reject/defer_unauth_destination moved there, or reject_unauth_destination added); None
    when the check already comes first. Trusted permits that used to come before the check
    (permit_sasl_authenticated, ...) move ahead of it with it, so the clients they let relay still
    can; everything else keeps its order."""
    first = next((k for k, i in enumerate(items) if may_permit(i)), len(items))
    gate = next((k for k, i in enumerate(items) if i.name in GATES), None)
    if gate is not None and gate < first:
        return None
    end = gate if gate is not None else len(items)
    moved = [k for k in range(first, end) if items[k].name in TRUSTED_CLIENTS]
    gate_word = word(items[gate]) if gate is not None else "reject_unauth_destination"
    ahead = [word(items[k]) for k in moved] + [gate_word]
    rest = [word(i) for k, i in enumerate(items[first:], start=first) if k not in moved and k != gate]
    return [word(i) for i in items[:first]] + ahead + rest


def with_item_before(items: list[Item], name: str, index: int) -> list[str] | None:
    """The list with restriction `name` just before item `index`: moved there when it comes later,
    added when absent; None when it already comes earlier."""
    at = next((k for k, i in enumerate(items) if i.name == name), None)
    if at is not None and at < index:
        return None
    words = [word(i) for k, i in enumerate(items) if k != at]
    words.insert(index, name if at is None else word(items[at]))
    return words
