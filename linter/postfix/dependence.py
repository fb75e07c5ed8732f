"""Which undecided restrictions a Postfix decision really depends on: each undecided item of a
restriction list is replaced by what it could answer (`permit`, `reject`) and the transaction decided
again; an item whose answers all give the same decision does not matter for it."""

from __future__ import annotations

from mailcfg.dependence import Dependency, piece_of, undecided_steps
from mailcfg.postfix.effective import ParameterView
from mailcfg.postfix.engine import decide_on
from mailcfg.postfix.listedit import word
from mailcfg.postfix.restrictions import IMPLICIT_ACCESS, Item, lists_and_classes, parse
from mailcfg.postfix.whatif import WhatIf
from mailcfg.transaction import Decision, Probe, Step

CASES = {"permit": "it permits", "reject": "it rejects"}
# Recipient checks whose table is missing take the recipient to exist: an assumption named in the
# trace (DESIGN: a recipient of a local or virtual domain exists unless a table in the snapshot says
# otherwise), not a condition of the answer
UNLISTED = ("reject_unlisted_recipient", "check_recipient_maps", "smtpd_reject_unlisted_recipient")
# What stands in for the item: a bare `permit` before the relay check would make smtpd refuse to start
STAND_IN = {"permit": "check_client_access static:OK", "reject": "reject"}


# What an access table is asked about, by the restriction that asks (check_<subject>_access)
SUBJECTS = (("helo", "HELO"), ("sender", "sender"), ("recipient", "recipient"), ("sasl", "login"),
            ("client", "client"))


def case(item: Item, answer: str, holder: str) -> str:
    """`if ...`: "it says OK for this HELO" for an access table, "it permits" for anything else."""
    if item.table is None:
        return CASES[answer]
    # a bare `type:table` item is the implicit access check of the list `holder`
    asks = IMPLICIT_ACCESS.get(holder, "") if item.kind == "table" else item.name
    subject = next((words for key, words in SUBJECTS if key in asks), "lookup")
    return f"it says {'OK' if answer == 'permit' else 'REJECT'} for this {subject}"


def answers(item: Item) -> tuple[str, ...]:
    """What an undecided item could answer: a DNS allow list only permits, a DNS check only refuses,
    a table or a policy service either."""
    if item.kind == "restriction" and item.name.startswith("permit"):
        return ("permit",)
    if item.kind == "restriction" and item.name.startswith(("reject", "defer")):
        return ("reject",)
    return ("permit", "reject")


def dependencies(view: ParameterView, probe: Probe, decision: Decision) -> list[Dependency]:
    """The undecided steps of `decision` whose other answers change it; a step outside the
    restriction lists (a network table in smtpd_sasl_exceptions_networks, an address-class table)
    counts, its outcome unknown."""
    found = []
    for step in undecided_steps(decision):
        if step.what.lower() in UNLISTED:
            continue
        place = _item_at(view, step)
        if place is None:
            found.append(Dependency(step.what, piece_of(step), step.location))
            continue
        name, items, k = place
        otherwise = []
        for answer in answers(items[k]):
            words = [word(i) for i in items]
            words[k] = STAND_IN[answer]
            action = decide_on(WhatIf(view, {name: ", ".join(words)}), probe).action
            if action != decision.action:
                otherwise.append((case(items[k], answer, name), action))
        if otherwise:
            found.append(Dependency(step.what, piece_of(step), step.location, tuple(otherwise),
                                    answers(items[k]) == ("reject",)))
    return found


def _item_at(view: ParameterView, step: Step) -> tuple[str, list[Item], int] | None:
    """The restriction list (or class) and the index of the item the step is about."""
    if step.location is None:
        return None
    for name in lists_and_classes(view):
        items = parse(view, name)
        for k, item in enumerate(items):
            if item.location == step.location:
                return name, items, k
    return None
