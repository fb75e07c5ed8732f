"""What a service can tell apart between two clients that have no name: each answer the engine can
get about a client's address. Those are mynetworks and the other host lists, whether it is one of
this host's own addresses, and every table the configuration names, looked up with the address and
its parent networks, or with the address literal the client says HELO with (an access table's
answer cannot name another table: smtpd fails such a lookup). Two clients with the same facts get
the same decisions, apart from the address itself in the texts, so a search that has tried one of
them learns nothing new from the other.
"""

from __future__ import annotations

from collections.abc import Callable

from mailcfg.postfix.address import own_addresses
from mailcfg.postfix.destinations import same_address
from mailcfg.postfix.effective import ParameterView
from mailcfg.postfix.lookup import Undecided, find_first
from mailcfg.postfix.matchlist import match_hosts
from mailcfg.postfix.restrictions import lists_and_classes
from mailcfg.postfix.tables import Table, refs_in
from mailcfg.transaction import literal_helo

# The host lists the engine matches a client address against
HOST_LISTS = ("mynetworks", "smtpd_sasl_exceptions_networks")


def client_keys(address: str) -> list[tuple[str, bool]]:
    """The keys check_client_access looks an address up with: the address, then its parent networks
    (partial keys: `1.2.3`, `1.2`, `1`; for IPv6 by `:`-separated parts)."""
    keys = [(address, False)]
    delim = ":" if ":" in address else "."
    parts = address.split(delim)
    keys += [(delim.join(parts[:n]), True) for n in range(len(parts) - 1, 0, -1)]
    return keys


def client_facts(view: ParameterView, client: str) -> tuple:
    """Everything `view`'s decisions can learn about a client at `client` that has no name."""
    facts: list[object] = [same_address(client, own_addresses(view))]
    facts += [_answer(lambda p=param: _match(view, p, client)) for param in HOST_LISTS]
    helo = [(literal_helo(client), False)]
    for table in _tables(view):
        facts += [_answer(lambda t=table, k=keys: _hit(t, k)) for keys in (client_keys(client), helo)]
    return tuple(facts)


def _answer(ask: Callable[[], object]) -> object:
    try:
        return ask()
    except Undecided as exc:  # the same for every client: the table cannot be read offline
        return ("undecided", str(exc))


def _match(view: ParameterView, param: str, client: str) -> tuple:
    m = match_hosts(view, param, None, client)
    return m.matched, m.pattern, m.location


def _hit(table: Table, keys: list[tuple[str, bool]]) -> tuple | None:
    hit = find_first(table, keys)
    return None if hit is None else (hit.value, hit.pattern, hit.location)


def _tables(view: ParameterView) -> list[Table]:
    """The tables the configuration names as written, and those `view`'s parameters name once expanded
    (`cidr:$config_directory/x` is the table smtpd opens), with the built-in values of the restriction
    lists and classes (a class left at its default can name a table: `alias_maps`)."""
    found = view.memo.get("tables named")
    if found is None:
        config = view.config
        names = {name for name in config.main.last if "$" in (view.raw(name) or "")}
        names |= {o.name for o in (view.service.overrides if view.service else ()) if "$" in o.value}
        names |= {*lists_and_classes(view), *HOST_LISTS}
        refs = refs_in(view.get(name) for name in names) | {t.ref for t in config.tables()}
        found = view.memo["tables named"] = [config.table(ref) for ref in sorted(refs, key=lambda r: r.text)]
    return found
