"""Probes the relay rules send through the engine: what an outsider, a user or a sender would try.

An attacker chooses the HELO name, the sender and the recipient's address form, not the client
address. So the outside clients are fixed documentation addresses, and the HELO names, senders
and recipient domains come from the configuration itself (its domains and the keys of its access
tables), varied one at a time from a plain baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailcfg.asciidigits import digits
from mailcfg.outsiders import FOREIGN, OUTSIDE_SENDER, OUTSIDE_V4, OUTSIDE_V6, VICTIM
from mailcfg.patterns import regex_example
from mailcfg.postfix.address import own_addresses, valid_hostname
from mailcfg.postfix.clientfacts import client_facts
from mailcfg.postfix.effective import ParameterView
from mailcfg.postfix.lookup import Undecided
from mailcfg.postfix.mastercf import Service
from mailcfg.postfix.restrictions import IMPLICIT_ACCESS, lists_and_classes, parse
from mailcfg.postfix.tables import PATTERN_FILE_TYPES, parse_ref
from mailcfg.postfix.tls import offers_tls
from mailcfg.postfix.tokens import split_list
from mailcfg.transaction import Probe, literal_helo


@dataclass(frozen=True)
class Attempt:
    """One probe of the open-relay search, and the recipient form it tries."""

    probe: Probe
    form: str  # the recipient address form, in words


def outside_clients(view: ParameterView) -> list[str]:
    protocols = {p.lower() for p in view.items("inet_protocols")}
    clients = list(OUTSIDE_V4) if protocols & {"all", "ipv4"} or not protocols else []
    if protocols & {"all", "ipv6"}:
        clients += OUTSIDE_V6
    return clients or list(OUTSIDE_V4)


def distinct_clients(view: ParameterView) -> list[str]:
    """The outside clients less those whose facts equal an earlier one's (clientfacts): every attempt
    from such a client is decided as the same attempt from the earlier one."""
    kept: list[str] = []
    known: list[tuple] = []
    for client in outside_clients(view):
        facts = client_facts(view, client)
        if facts not in known:
            known.append(facts)
            kept.append(client)
    return kept


def local_domains(view: ParameterView) -> list[str]:
    """Names mail is delivered to here (mydestination), without $-lists or tables."""
    return [d for d in view.items("mydestination") if ":" not in d and not d.startswith(("/", "!"))
            and valid_hostname(d)]


def final_domains(view: ParameterView) -> list[str]:
    """Local and virtual domains named literally (tables are read for their keys)."""
    domains = list(local_domains(view))
    for param in ("virtual_alias_domains", "virtual_mailbox_domains", "relay_domains"):
        domains += _names(view, param)
    seen: dict[str, None] = {}  # in order, each once (a table can name thousands)
    for d in domains:  # template placeholders and patterns are no domain a probe can use
        if "." in d and valid_hostname(d):
            seen.setdefault(d.lower())
    return list(seen)


def _names(view: ParameterView, param: str) -> list[str]:
    names = []
    for word in view.items(param):
        if word.startswith(("!", "/")):
            continue
        if ":" in word:
            names += [k for k in _table_keys(view, word) if "@" not in k and "." in k]
        else:
            names.append(word)
    return names


def _table_keys(view: ParameterView, ref_text: str, patterns: bool = False, permitting: bool = False) -> list[str]:
    """The keys of a fixed-key table; with `patterns`, also a string each regexp/pcre entry matches;
    with `permitting`, only the first MAX_KEYS entries whose answer can let a client through."""
    ref = parse_ref(ref_text)
    if ref is None:
        return []
    table = view.config.table(ref)
    kind = ref.kind
    if not table.readable or kind == "cidr" or (kind in PATTERN_FILE_TYPES and not patterns):
        return []
    entries = [e for e in table.entries if e.key not in ("if", "endif")]
    if permitting:
        entries = [e for e in entries if _may_permit(e.value)][:MAX_KEYS]
    if kind not in PATTERN_FILE_TYPES:
        return [e.key for e in entries]
    return [text for e in entries if not e.negated and (text := regex_example(e.key)) is not None]


# An access table's answers that only refuse or change nothing (check_table_result): an identity
# listed with one of them is treated no better than an unlisted one, so no probe tries it.
REFUSALS = {"REJECT", "DEFER", "DEFER_IF_PERMIT", "DEFER_IF_REJECT", "DUNNO", "HANGUP", "INFO", "WARN", "FILTER",
            "HOLD", "REDIRECT", "BCC", "PREPEND", "DELAY"}
# Identities tried per restriction: probes grow with them, and each probe runs the whole engine.
MAX_KEYS = 100


def _may_permit(value: str) -> bool:
    word = value.split(None, 1)[0].upper() if value.strip() else ""
    return word not in REFUSALS and not (len(word) == 3 and word[0] in "45" and digits(word))


def access_keys(view: ParameterView, restriction: str) -> list[str]:
    """Keys of the tables that `restriction` (e.g. check_helo_access) consults anywhere, whose
    answer can let a client through (MAX_KEYS of them per table)."""
    keys: list[str] = []
    for param in lists_and_classes(view):
        try:
            items = parse(view, param)
        except Undecided:
            continue
        for item in items:
            if item.name == restriction and item.argument:
                keys += _table_keys(view, item.argument, patterns=True, permitting=True)
            elif item.kind == "table" and IMPLICIT_ACCESS.get(param) == restriction:
                keys += _table_keys(view, item.text, patterns=True, permitting=True)
    return keys


def recipient_forms(view: ParameterView) -> list[tuple[str, str]]:
    """(address, description) pairs an open-relay scanner tries, against this host's own domains."""
    forms = [(VICTIM, "a plain foreign address"), (VICTIM.upper(), "a foreign address in upper case"),
             (f"{VICTIM}.", "a foreign address with a final dot"), (f'"{VICTIM}"', "an unqualified quoted address")]
    hostname = view.get("myhostname")
    locals_ = local_domains(view)[:2] or [hostname]
    for local in locals_:
        forms += [
            (f"victim%{FOREIGN}@{local}", f"the % hack through {local}"),
            (f'"victim%{FOREIGN}"@{local}', f"a quoted % hack through {local}"),
            (f'"{VICTIM}"@{local}', f"a quoted local part through {local}"),
            (f"{FOREIGN}!victim@{local}", f"a bang path through {local}"),
            (f"{local}!{FOREIGN}!victim", f"an unqualified bang path through {local}"),
            (f"@{local}:{VICTIM}", f"a source route through {local}"),
            (f"@{local},@{hostname}:{VICTIM}", f"a two-hop source route through {local}"),
            (f"{VICTIM}@{local}", f"a double @ through {local}"),
        ]
    # the server's own address literals stand for its local domain (resolve_local)
    for address in own_addresses(view)[:2]:
        literal = f"[IPv6:{address}]" if ":" in address else f"[{address}]"
        forms.append((f"victim%{FOREIGN}@{literal}", f"the % hack through the address literal {literal}"))
    forms.append(("victim@[192.0.2.254]", "an address literal of another host"))
    authorized = {d.lower() for d in final_domains(view)}
    for key in access_keys(view, "check_recipient_access"):
        if key.endswith("@"):  # a `user@` key matches that user in every domain
            forms.append((f"{key}{FOREIGN}", f"a local part its recipient table lists ({key})"))
            continue
        domain = key.rsplit("@", 1)[-1].lstrip(".")
        if "." in domain and domain.lower() not in authorized:
            forms.append((key if "@" in key else f"victim@{domain}", f"a domain its recipient table lists ({key})"))
    return forms


def attacker_attempts(view: ParameterView, service: Service) -> list[Attempt]:
    """Unauthenticated outside clients trying to relay, one varied input at a time (worked out once per
    service: the open-relay search and postfix-undecided both ask)."""
    cache = view.memo.setdefault("attacker-attempts", {})
    if service.name not in cache:
        cache[service.name] = _attacker_attempts(view, service)
    return list(cache[service.name])


def _attacker_attempts(view: ParameterView, service: Service) -> list[Attempt]:
    attempts: list[Attempt] = []
    domains = final_domains(view)
    # scanners also say HELO with the server's own name or address literal
    own = [f"[IPv6:{a}]" if ":" in a else f"[{a}]" for a in own_addresses(view)[:2]]
    helos = ["localhost", view.get("myhostname"), *own, *domains[:3], *access_keys(view, "check_helo_access")]
    senders = ["", f"postmaster@{domains[0]}" if domains else "", *_senders(view, domains)]
    forms = recipient_forms(view)
    for client in distinct_clients(view):
        # STARTTLS where offered: encryption never makes smtpd stricter, and a scanner can do it too
        base = Probe(client, VICTIM, OUTSIDE_SENDER, literal_helo(client), tls=offers_tls(view),
                     service=service.name)
        fields = vars(base)  # a Probe made from them and the change: dataclasses.replace costs more, ~80 times
        attempts += [Attempt(Probe(**{**fields, "rcpt": rcpt}), form) for rcpt, form in forms]
        attempts += [Attempt(Probe(**{**fields, "helo": h}), "a plain foreign address") for h in _unique(helos)]
        attempts += [Attempt(Probe(**{**fields, "sender": s}), "a plain foreign address") for s in _unique(senders)]
    return attempts


def _senders(view: ParameterView, domains: list[str]) -> list[str]:
    senders = []
    for key in access_keys(view, "check_sender_access"):
        if key.endswith("@"):
            senders.append(key + (domains[0] if domains else "example.com"))
        elif "@" in key:
            senders.append(key)
        elif key != "<>":
            senders.append("someone@" + key.lstrip("."))
    return senders


def _unique(values: list[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        if v is not None and v not in out:
            out.append(v)
    return out


def user_probe(view: ParameterView, service: str | None) -> Probe:
    """A logged-in mail client on the internet sending to a foreign domain (with STARTTLS where offered)."""
    login, sender = user_login(view)
    return Probe(OUTSIDE_V4[0], VICTIM, sender, literal_helo(OUTSIDE_V4[0]), sasl_user=login, tls=offers_tls(view),
                 service=service)


def user_login(view: ParameterView) -> tuple[str, str]:
    """A (login, sender) pair an authenticated user would send with: from smtpd_sender_login_maps when
    the snapshot has it, else a user of the first local or virtual domain."""
    for word in view.items("smtpd_sender_login_maps"):
        for key in _table_keys(view, word):
            if "@" in key and not key.startswith("@"):
                table = view.config.table(parse_ref(word))
                value = next((e.value for e in table.entries if e.key == key), "")
                logins = split_list(value)
                if logins:
                    return logins[0], key
    domains = final_domains(view)
    address = f"user@{domains[0] if domains else 'example.com'}"
    return address, address


def known_recipient(view: ParameterView, domain: str) -> str:
    """An address in `domain` that the recipient tables list, else postmaster (which must exist)."""
    for param in ("virtual_mailbox_maps", "virtual_alias_maps", "relay_recipient_maps"):
        for word in view.items(param):
            for key in _table_keys(view, word):
                if key.lower().endswith("@" + domain.lower()) and not key.startswith("@"):
                    return key
    return f"postmaster@{domain}"
