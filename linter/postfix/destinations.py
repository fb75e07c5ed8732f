"""Where a recipient goes: authorized destinations (permit_auth_destination) and whether the
recipient exists in its address class (reject_unlisted_recipient, check_rcpt_maps in smtpd_check.c).
"""

from __future__ import annotations

import re

from mailcfg import ipaddr
from mailcfg.findings import Location
from mailcfg.postfix.address import Resolved, is_local, myorigin, resolve
from mailcfg.postfix.effective import ParameterView
from mailcfg.postfix.lookup import Hit, Undecided, find_first
from mailcfg.postfix.session import DUNNO, RECIPIENT, ServerError, Session, reject
from mailcfg.postfix.tables import TableRef, parse_ref


def resolve_for(s: Session, address: str | None = None) -> Resolved:
    """The recipient (or `address`) as trivial-rewrite resolves it; a list it cannot read is recorded."""
    address = s.recipient or "" if address is None else address
    found = s.resolved.get(address)
    if found is None:
        try:
            found = s.resolved[address] = resolve(s.view, address)
        except Undecided as exc:
            s.cannot_decide("address class", str(exc))
            return Resolved(address, address[address.rfind("@") + 1 :], "unknown", reason="unknown offline")
    return found


def bad_syntax(s: Session, address: str) -> bool:
    return resolve_for(s, address).error


def authorized(s: Session) -> tuple[bool, str, Location | None]:
    """permit_auth_destination(): a final or relay destination without sender-specified routing."""
    r = resolve_for(s)
    for note in r.notes:
        s.step("trivial-rewrite", r.klass, note)
    if r.routed and not s.view.yes("allow_untrusted_routing"):
        return (
            False,
            f"<{r.recipient}> has sender-specified routing (allow_untrusted_routing = no)",
            s.view.location("allow_untrusted_routing"),
        )
    if r.klass in ("local", "alias", "virtual", "relay"):
        return True, f"{r.domain} is an authorized destination: {r.reason}", r.location
    return False, f"{r.domain} is not an authorized destination ({r.reason})", None


def unlisted(s: Session, what: str) -> str:
    s.rcptmap_checked = s.warn_if_reject == 0
    try:
        return rcpt_maps(s, what)
    except ServerError as exc:
        return exc.status


def rcpt_maps(s: Session, what: str) -> str:
    """check_rcpt_maps(): does the recipient exist in its address class?"""
    view = s.view
    r = resolve_for(s)
    rcpt = s.recipient or ""
    try:
        keys = address_keys(view, r)  # the same for every table asked
        for param in ("recipient_canonical_maps", "canonical_maps", "virtual_alias_maps"):
            hit = address_hit(s, param, r, keys)
            if hit is not None:
                s.step(what, "no match", f"<{r.recipient}> is listed in {param}", hit.location or view.location(param))
                return DUNNO
        if r.klass == "alias":
            s.step(
                what,
                "reject",
                f"{r.domain} is a virtual alias domain and <{r.recipient}> is not in virtual_alias_maps",
                view.location("virtual_alias_maps"),
            )
            return reject(
                s,
                s.code("unknown_virtual_alias_reject_code"),
                "5.1.1",
                f"<{rcpt}>: {RECIPIENT} rejected: User unknown{unknown_table(s, 'virtual alias table')}",
            )
        bounce = error_mailer(view, r)
        if bounce is not None:
            dsn, text = bounce
            s.step(what, "reject", f"<{r.recipient}> resolves to the error mailer ({TRANSPORTS[r.klass]})",
                   view.location(TRANSPORTS[r.klass]))
            return reject(s, 550, dsn, f"<{rcpt}>: {RECIPIENT} rejected: {text}")
        checks = {
            "local": ("local_recipient_maps", "unknown_local_recipient_reject_code", "local recipient table"),
            "virtual": ("virtual_mailbox_maps", "unknown_virtual_mailbox_reject_code", "virtual mailbox table"),
            "relay": ("relay_recipient_maps", "unknown_relay_recipient_reject_code", "relay recipient table"),
        }
        if r.klass not in checks:
            return DUNNO
        param, code, table_name = checks[r.klass]
        if not view.get(param).strip():
            s.step(
                what, "no match", f"{param} is empty: every recipient in {r.domain} is accepted", view.location(param)
            )
            return DUNNO
        local_part = r.recipient[: r.recipient.rfind("@")].lower()
        if r.klass == "local" and local_part in (
            view.get("double_bounce_sender").lower(),
            "postmaster",
            "mailer-daemon",
        ):
            return DUNNO
        hit = address_hit(s, param, r, keys)
        if hit is not None:
            s.step(what, "no match", f"<{r.recipient}> is listed in {param}", hit.location or view.location(param))
            return DUNNO
        s.step(what, "reject", f"<{r.recipient}> is in no table of {param}", view.location(param))
        return reject(
            s, s.code(code), "5.1.1", f"<{rcpt}>: {RECIPIENT} rejected: User unknown{unknown_table(s, table_name)}"
        )
    except Undecided as exc:
        s.cannot_decide(what, f"{exc}; the recipient is assumed to exist")
        return DUNNO


TRANSPORTS = {"local": "local_transport", "virtual": "virtual_transport", "relay": "relay_transport",
              "default": "default_transport"}


def error_mailer(view, r: Resolved) -> tuple[str, str] | None:
    """check_rcpt_maps(): an address trivial-rewrite hands to the error mailer is known to be undeliverable
    (`default_transport = error`, `local_transport = error:local delivery is disabled`): the DSN and text of
    the rejection, from the transport's nexthop. Undecided where the nexthop is not known offline: transport_maps
    may send the domain elsewhere, and a bare `error` on a local or virtual domain, or with a relayhost, has a
    nexthop this sketch does not follow."""
    if r.klass not in TRANSPORTS:  # the class itself is undecided, and recorded so by resolve_for()
        return None
    transport, _, nexthop = view.get(TRANSPORTS[r.klass]).strip().partition(":")
    if transport.strip().lower() != "error":
        return None
    if view.get("transport_maps").strip():
        raise Undecided(f"transport_maps may route {r.domain} past the error mailer of {TRANSPORTS[r.klass]}")
    if not nexthop.strip():
        if r.klass in ("local", "virtual") or view.get("relayhost").strip() \
                or view.get("sender_dependent_relayhost_maps").strip():
            raise Undecided(f"the nexthop of the bare error mailer in {TRANSPORTS[r.klass]}")
        nexthop = r.domain
    m = re.match(r"([245]\.[0-9]{1,3}\.[0-9]{1,3})\s+(.*)", nexthop.strip(), re.S)
    return (m[1], m[2]) if m else ("5.1.1", nexthop.strip())


def unknown_table(s: Session, name: str) -> str:
    return f" in {name}" if s.view.yes("show_user_unknown_table_name") else ""


def address_keys(view: ParameterView, r: Resolved) -> list[tuple[str, bool]]:
    """mail_addr_find()'s keys with the default strategy: user@domain, user (local domains), @domain."""
    at = r.recipient.rfind("@")
    local, domain = r.recipient[:at], r.recipient[at + 1 :]
    keys = [(r.recipient, False)]
    if domain.lower() == myorigin(view).lower() or is_local(view, domain)[0]:
        keys.append((local, True))
    keys.append(("@" + domain, True))
    return keys


def address_hit(s: Session, param: str, r: Resolved, keys: list[tuple[str, bool]]) -> Hit | None:
    """mail_addr_find(): the first table of `param` that has one of `keys` (address_keys)."""
    for ref, aliases in _maps(s.view, param):
        if ref.text in ("unix:passwd.byname", "proxy:unix:passwd.byname"):
            local = r.recipient[: r.recipient.rfind("@")]
            if r.klass != "local" or passwd_has(s, local):
                return Hit(local, ref.text, local, None) if r.klass == "local" else None
            continue
        hit = find_first(s.view.config.table(ref), keys, aliases)
        if hit is not None:
            return hit
    return None


def _maps(view: ParameterView, param: str) -> list[tuple[TableRef, bool]]:
    """The tables `param` names, each with whether it is in alias_maps (a postalias file: `name: value`);
    kept per view, as every recipient asks three to five of these parameters, most of them empty."""
    maps = view.memo["address maps"]
    found = maps.get(param)
    if found is None:
        aliases = view.items("alias_maps")
        found = maps[param] = [(ref, word in aliases) for word in view.items(param)
                               if (ref := parse_ref(word)) is not None]
    return found


def same_address(addr: str, addresses: list[str]) -> bool:
    """Whether `addr` is one of `addresses` (False when any of them is no IP address)."""
    parsed = [ipaddr.address(a) for a in (addr, *addresses)]
    return None not in parsed and parsed[0] in parsed[1:]


def passwd_has(s: Session, user: str) -> bool:
    memo = s.view.config.memo  # the snapshot's passwd is read once, not per probe
    if "passwd" not in memo:
        path = s.view.config.snapshot.resolve("/etc/passwd")
        memo["passwd"] = None if path is None else {
            line.split(":", 1)[0].lower() for line in path.read_text(errors="replace").splitlines() if ":" in line}
    if memo["passwd"] is None:
        raise Undecided("local users (unix:passwd.byname) are not in the snapshot")
    return user.lower() in memo["passwd"]
