"""Address verification through Exim's routers (`verify = recipient` and `verify = sender`).

Routers run in order. A router whose preconditions do not hold is skipped; one that runs may accept
the address, decline it (the next router is tried), or fail it. When none accepts, the address is
"Unrouteable". Whether a remote domain exists is a question for DNS: the session's world says
whether DNS answers (by default a remote domain is taken to exist, as an attacker would choose one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailcfg.exim.address import split
from mailcfg.exim.expand import expand, truth
from mailcfg.exim.lines import Origin
from mailcfg.exim.lists import split_list
from mailcfg.exim.match import ListError, match_list
from mailcfg.exim.parse import Driver

if TYPE_CHECKING:
    from mailcfg.exim.session import Session


@dataclass
class Verdict:
    """What routing (or verifying) an address gave."""

    rc: str  # ok, fail, defer, undecided; decline (the next router is tried, the message stays)
    note: str
    message: str | None = None  # the user message a failure carries


UNROUTEABLE = "Unrouteable address"


def verify_address(session: Session, address: str, where: str, origin: Origin | None, recipient: bool) -> Verdict:
    if "@" in address:
        parts = split(address)
        local, domain = parts.local_part, parts.domain
    else:
        local, domain = address, session.config.primary_hostname or ""
    # routers see the local part lowercased unless caseful_local_part is set (lower() is idempotent on every
    # code point: once is enough)
    local, domain = local.lower(), domain.lower()
    saved = dict(session.context.variables)
    try:
        session.context.variables.update({"local_part": local, "domain": domain})
        declined = None  # the message a declining router left on the address
        routers = session.config.remember("routers", lambda: [
            (router, _Preconditions.of(router)) for router in session.config.parsed.of_kind("router")])
        for router, preconditions in routers:
            verdict = _router(session, router, preconditions, local, domain, recipient)
            if verdict is not None and verdict.rc == "decline":
                declined = verdict.message or declined
            elif verdict is not None:
                return verdict
        last = routers[-1][0] if routers else None
        return Verdict("fail", "no router accepts the address", declined or _cannot_route(session, last))
    finally:
        session.context.variables.clear()
        session.context.variables.update(saved)


def _cannot_route(session: Session, last: Driver | None) -> str:
    """route.c: out of routers, the last router the loop came to (preconditions or not) names the failure
    with its cannot_route_message, when set and expandable."""
    text = last.get("cannot_route_message") if last is not None else None
    expanded = expand(text, session.context) if text is not None else None
    return expanded.value if expanded is not None and expanded.value is not None else UNROUTEABLE


def _flag(router: Driver, name: str, default: bool) -> bool:
    value = router.get(name)
    return default if value is None else value == "true"


@dataclass(frozen=True)
class _Preconditions:
    """A router's preconditions, read from its options once: verification asks them for every address."""

    name: str  # "router NAME", as verdicts name it
    verify_recipient: bool  # and `verify`
    verify_sender: bool  # likewise
    prefixes: list[str] | None  # local_part_prefix, when the local part must start with one of them
    suffixes: list[str] | None  # local_part_suffix, likewise
    lists: tuple[tuple[str, str, str], ...]  # (option, kind, list) of domains, local_parts and senders, those set
    check_local_user: bool
    require_files: bool
    condition: str | None

    @classmethod
    def of(cls, router: Driver) -> _Preconditions:
        def affixes(option: str) -> list[str] | None:
            value = router.get(option)
            return split_list(value) if value and not _flag(router, f"{option}_optional", False) else None

        verify = _flag(router, "verify", True)
        lists = tuple((option, kind, router.get(option)) for option, kind in
                      (("domains", "domain"), ("local_parts", "localpart"), ("senders", "address"))
                      if router.get(option) is not None)
        return cls(f"router {router.name}", verify and _flag(router, "verify_recipient", True),
                   verify and _flag(router, "verify_sender", True),
                   affixes("local_part_prefix"), affixes("local_part_suffix"), lists,
                   _flag(router, "check_local_user", False), router.get("require_files") is not None,
                   router.get("condition"))


def _router(session: Session, router: Driver, pre: _Preconditions, local: str, domain: str, recipient: bool
            ) -> Verdict | None:
    """The router's answer: a Verdict, or None when it is skipped or declines."""
    name = pre.name
    if not (pre.verify_recipient if recipient else pre.verify_sender):
        return None
    if pre.prefixes is not None and not any(_wild_prefix(p, local) for p in pre.prefixes):
        return None
    if pre.suffixes is not None and not any(local.endswith(p.lstrip("*")) for p in pre.suffixes):
        return None
    for option, kind, value in pre.lists:
        subject = domain if kind == "domain" else local if kind == "localpart" else session.sender
        try:
            env = session.recipient_env() if recipient and not session.depth and kind == "domain" else session.env
            outcome = match_list(env, kind, value, subject)
        except ListError as exc:
            return Verdict("defer", f"{name}: {exc}")
        if outcome.result is None:
            return Verdict("undecided", f"{name}: {option}: {outcome.undecided}")
        if not outcome.result:
            return None
    if pre.check_local_user:
        user = session.config.local_user(local)
        if user is None:
            return Verdict("undecided", f"{name}: /etc/passwd is not in the snapshot")
        if not user:
            return None
        session.context.variables.update({"local_part_data": local, "home": user["home"],
                                          "local_user_uid": user["uid"], "local_user_gid": user["gid"]})
    if pre.require_files:
        return Verdict("undecided", f"{name}: require_files depends on files on the host")
    if pre.condition is not None:
        expanded = expand(pre.condition, session.context)
        if expanded.value is None and not expanded.forced_fail:
            return Verdict("undecided", f"{name}: condition: {expanded.why}")
        if not expanded.forced_fail and not truth(expanded.value or ""):
            return None
    return _run(session, router, name, domain, recipient)


def _wild_prefix(prefix: str, local: str) -> bool:
    return local.startswith(prefix[:-1]) if prefix.endswith("*") else local.startswith(prefix)


def _run(session: Session, router: Driver, name: str, domain: str, recipient: bool) -> Verdict | None:
    driver = router.driver
    if driver == "accept":
        return Verdict("ok", f"{name} (accept) routes it")
    if driver == "ipliteral":
        if domain.startswith("[") and domain.endswith("]"):
            return Verdict("ok", f"{name} (ipliteral) routes the address literal")
        return None
    if driver == "dnslookup":
        if domain.startswith("["):  # not a name DNS can be asked about (check_dns_names_pattern)
            return Verdict("decline", f"{name} (dnslookup): {domain} is not a DNS name",
                           f'mail domain "{domain}" is syntactically invalid')
        if session.world.dns:
            session.assume(f"{name}: the domain {domain} is taken to exist in DNS")
            return Verdict("ok", f"{name} (dnslookup): {domain} is taken to exist in DNS")
        return Verdict(session.world.no_dns_verdict, f"{name} (dnslookup): DNS does not answer here",
                       UNROUTEABLE if session.world.no_dns_verdict == "fail" else None)
    if driver == "manualroute":
        return _manualroute(session, router, name, domain)
    if driver == "redirect":
        return _redirect(session, router, name, recipient)
    return Verdict("undecided", f"{name}: the {driver} router is not evaluated offline")


def _manualroute(session: Session, router: Driver, name: str, domain: str) -> Verdict | None:
    data = router.get("route_data")
    if data is not None:
        expanded = expand(data, session.context)
        if expanded.value is None and not expanded.forced_fail:
            return Verdict("undecided", f"{name}: route_data: {expanded.why}")
        if not expanded.value:
            return None
        return _hosts(session, name, expanded.value.split()[0])
    rules = router.get("route_list")
    if rules is None:
        return None
    expanded = expand(rules, session.context)
    if expanded.value is None:
        return Verdict("undecided", f"{name}: route_list: {expanded.why}")
    for rule in split_list("<;" + expanded.value) if not expanded.value.lstrip().startswith("<") \
            else split_list(expanded.value):
        words = rule.split()
        if not words:
            continue
        try:
            outcome = match_list(session.env, "domain", words[0], domain)
        except ListError as exc:
            return Verdict("defer", f"{name}: route_list pattern {words[0]}: {exc}")
        if outcome.result is None:
            return Verdict("undecided", f"{name}: route_list pattern {words[0]}: {outcome.undecided}")
        if outcome.result:
            if len(words) < 2:
                return Verdict("ok", f"{name} (manualroute): no hosts needed")
            return _hosts(session, name, words[1])
    return None


# A manualroute host: `1.2.3.4:port`, `[address]:port`, and an address (ASCII digits: no other digit is one)
_V4_PORT = re.compile(r"^([0-9.]+):[0-9]+$")
_BRACKETED = re.compile(r"^\[(.*)\](:[0-9]+)?$")
_ADDRESS = re.compile(r"[0-9.]+|[0-9a-fA-F:]+")


def _hosts(session: Session, name: str, hosts: str) -> Verdict:
    for host in split_list(hosts):  # a port follows as `:port` (written `::port` in the list)
        literal = _BRACKETED.sub(r"\1", _V4_PORT.sub(r"\1", host))
        if _ADDRESS.fullmatch(literal) or literal.lower() in session.config.hosts_file:
            return Verdict("ok", f"{name} (manualroute) routes it to {host}")
    if session.world.dns:
        session.assume(f"{name}: the host {hosts} is taken to resolve in DNS")
        return Verdict("ok", f"{name} (manualroute) routes it to {hosts}")
    return Verdict(session.world.no_dns_verdict, f"{name} (manualroute): {hosts} does not resolve without DNS")


def _redirect(session: Session, router: Driver, name: str, recipient: bool) -> Verdict | None:
    data = router.get("data")
    if data is None:
        return Verdict("undecided", f"{name}: a redirect through a file is not evaluated offline")
    expanded = expand(data, session.context)
    if expanded.forced_fail:
        return None
    if expanded.value is None:
        return Verdict("undecided", f"{name}: data: {expanded.why}")
    text = expanded.value.strip()
    if not text:
        return None
    if text.startswith(":fail:"):
        message = text[6:].strip() or "Unrouteable address"
        return Verdict("fail", f"{name}: :fail:", message)
    if text.startswith(":defer:"):
        return Verdict("defer", f"{name}: :defer:", text[7:].strip() or None)
    if text.startswith(":blackhole:"):
        return Verdict("ok", f"{name}: :blackhole:")
    return _redirected(session, router, name, text, recipient)


def _redirected(session: Session, router: Driver, name: str, text: str, recipient: bool) -> Verdict:
    """The addresses a redirect generates, each verified in turn (as Exim verifies the children)."""
    if session.depth >= 10:
        return Verdict("undecided", f"{name}: redirections nested too deeply to follow")
    targets = [t.strip() for t in re.split(r"[,\n]", text) if t.strip()]
    deliveries = [t for t in targets if t.startswith(("|", "/"))]
    for target in deliveries:  # a file or pipe is routed to the router's transport for it
        transport = router.get("pipe_transport" if target.startswith("|") else "file_transport")
        if transport is None:
            return Verdict("undecided", f"{name}: delivery to {target!r} without a transport for it")
    targets = [t for t in targets if t not in deliveries]
    for target in targets:
        if target.startswith(":include:"):
            return Verdict("undecided", f"{name}: {target!r} is not followed offline")
        local, at, domain = target.strip("<>").rpartition("@")
        if at and (not local or not domain):
            return Verdict("defer", f"{name}: {target!r} in the redirection data is not an address")
    session.depth += 1
    try:
        for target in targets:
            address = target.strip("<>")
            verdict = verify_address(session, address, "rcpt", None, recipient)
            if verdict.rc != "ok":
                return Verdict(verdict.rc, f"{name} redirects it to {address}: {verdict.note}", verdict.message)
    finally:
        session.depth -= 1
    return Verdict("ok", f"{name} redirects it to {text}")
