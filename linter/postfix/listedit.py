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
# Permits that only ever trust a client the admin chose ...
TRUSTED_CLIENTS = ("permit_mynetworks", "permit_sasl_authenticated", "permit_tls_clientcerts",
                   "permit_tls_all_clientcerts", "permit_inet_interfaces")
# ... or that only permit authorized destinations.
TRUSTED = (*TRUSTED_CLIENTS, "permit_auth_destination")
REFUSING = ("reject", "defer", "warn_if_reject", "sleep")
STATEFUL = ("defer_if_reject", "defer_if_permit")  # they change the verdicts of the items after them


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


def with_relay_gate(items: list[Item], before: int | None = None) -> list[str] | None:
    """The list with its relay check placed before item `before` (the one that let an outsider
    through), or else before the first item that may permit an outsider: the existing
    reject/defer_unauth_destination moved there (a `warn_if_reject` that disarmed it dropped), or
    reject_unauth_destination added. None when the check already comes first. When items that
    change later verdicts (defer_if_reject, defer_if_permit) lie where things would move, nothing
    moves: a second reject_unauth_destination goes right before that item, and the list after it
    is left as it was.

    The items between that cannot permit an outsider - trusted permits (permit_sasl_authenticated,
    ...) and built-in refusals, each with its `warn_if_reject` - move ahead of the check with it,
    in their order, so the clients those permits let relay still can, under the same refusals as
    before; everything else keeps its order."""
    first = before if before is not None else next((k for k, i in enumerate(items) if may_permit(i)), len(items))
    gate = next((k for k, i in enumerate(items) if i.name in GATES), None)
    warned = gate is not None and gate > 0 and items[gate - 1].name == "warn_if_reject"
    words = [word(i) for i in items]
    if gate is not None and gate < first:
        # the check comes first already; only a warn_if_reject that disarms it must go
        return [w for k, w in enumerate(words) if k != gate - 1] if warned else None
    if gate is None:  # no check yet: nothing moves past a final reject or defer
        end = next((k for k in range(first, len(items)) if items[k].name in ("reject", "defer")), len(items))
    else:
        end = gate - warned
    if any(items[k].name in STATEFUL for k in range(first, end)):
        return [*words[:first], "reject_unauth_destination", *words[first:]]
    moved: set[int] = set()
    for k in range(first, end):
        if items[k].name == "warn_if_reject":
            if k + 1 < end and not may_permit(items[k + 1]):
                moved |= {k, k + 1}
        elif not may_permit(items[k]):
            moved.add(k)
    dropped = set() if gate is None else {gate, gate - 1} if warned else {gate}
    ahead = [words[k] for k in sorted(moved)] + [words[gate] if gate is not None else "reject_unauth_destination"]
    rest = [words[k] for k in range(first, len(items)) if k not in moved and k not in dropped]
    return words[:first] + ahead + rest


def with_item_before(items: list[Item], name: str, index: int) -> list[str] | None:
    """The list with restriction `name` just before item `index`: moved there when it comes later,
    added when absent; None when it already comes there or earlier."""
    at = next((k for k, i in enumerate(items) if i.name == name), None)
    if at is not None and at <= index:
        return None
    words = [word(i) for k, i in enumerate(items) if k != at]
    words.insert(index, name if at is None else word(items[at]))
    return words
