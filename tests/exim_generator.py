"""Seeded random Exim configurations with SMTP probes, for differential tests against the real Exim.

`generate_batch(seed, count)` gives configurations the parser has never seen, each with probes whose
answers are not stored: the differential test asks the real Exim (tests/realexim.py) and compares.

* "plain" configurations are one runtime file, etc/exim4/exim4.conf: main options with named lists
  and macros (`==`, `.ifdef`/`.ifndef`/`.else`, several names on one `.ifdef`), an ACL section whose
  statements vary in order, verbs, conditions, negation, messages and layout, routers, transports and
  authenticators. Every answer is decidable without DNS: the lists hold no host names, remote domains
  go to a `manualroute` router with an IP literal (or to no router at all), local ones to `accept`.
* "debian" configurations are the exim4-config package's own /etc/exim4 (template and conf.d, copied
  from .exim/root) with a random update-exim4.conf.conf and sometimes a local edit: macros in
  conf.d/main/000_localmacros (or exim4.conf.localmacros), or an extra server authenticator.
  Debian's "internet" type routes remote domains with dnslookup: those are tagged "dns".

`write_snapshot` writes one to disk as a snapshot (with the host facts the engine needs: /etc/passwd,
/etc/aliases, the host name); `real_config` gives the file real Exim runs (for Debian ones, Debian's
own generator builds it) and the -D macros it needs.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path

import realexim as rx
from mailcfg.transaction import Probe

HOSTNAME = "mx.example.com"
LOCAL = "example.com"
LOCAL2 = "mail.example.org"
RELAY = "relay.example"
FOREIGN = "foreign.example"
NEXT_HOP = "192.0.2.10"
SMARTHOST = "192.0.2.25"

OUTSIDE = ("198.51.100.7", "203.0.113.9")
OUTSIDE6 = "2001:db8:ffff::9"
BLOCKED = "203.0.113.66"  # in the generated block lists
TRUSTED = "10.20.30.40"  # in 10.20.0.0/16
LAN = "192.168.1.10"  # in 192.168.1.0/24
LAN_EXCEPTION = "192.168.1.66"  # excluded from the LAN by some lists
LAN6 = "2001:db8:1::10"  # in 2001:db8:1::/48
LOOPBACK = "127.0.0.1"

HELO = "client.example.net"
SASL_USER = "alice"
SENDERS = ("", f"alice@{LOCAL}", "someone@sender.example", f"nosuchuser@{LOCAL}")


@dataclass
class GeneratedExim:
    name: str
    kind: str  # "plain" | "debian"
    files: dict[str, str]  # snapshot-relative path -> text
    probes: list[Probe]
    # "dns": Debian's dnslookup router decides some answers; the harness runs it without DNS (it defers: 451)
    tags: list[str] = field(default_factory=list)
    tls_enabled: bool = False  # Debian: MAIN_TLS_ENABLE is set, the certificate comes from the harness

    def to_json(self) -> dict:
        return {"name": self.name, "kind": self.kind, "tags": self.tags, "files": sorted(self.files),
                "probes": [asdict(p) for p in self.probes]}


def generate_batch(seed: int, count: int) -> list[GeneratedExim]:
    """COUNT configurations from SEED: the same seed always gives the same configurations and probes, and each
    depends only on (SEED, its index), so a smaller batch is a prefix of a larger one."""
    out = []
    for index in range(count):
        rng = random.Random(f"exim-{seed}-{index}")
        kind = "debian" if rng.random() < 0.3 else "plain"
        name = f"exim-{seed}-{index:03d}-{kind}"
        out.append(_Debian(rng, name).build() if kind == "debian" else _Plain(rng, name).build())
    return out


# ------------------------------------------------------------------------------------------------
# Lists: the same sets of hosts and domains written in many ways.
# ------------------------------------------------------------------------------------------------

def _ipv6_colon_list(item: str) -> str:
    """An IPv6 item in a colon-separated list: each colon doubled."""
    return item.replace(":", "::")


def _host_list(rng: random.Random, kind: str) -> str:
    """A host list for relay_from_hosts-like uses. KIND: "relay" (the trusted networks) or "block"."""
    if kind == "block":
        return rng.choice([BLOCKED, "203.0.113.64/26", f"<; {BLOCKED} ; 2001:db8:ffff::/48",
                           f"{BLOCKED} : {_ipv6_colon_list('2001:db8:dead::/48')}"])
    return rng.choice([
        "127.0.0.1 : 10.20.0.0/16",
        "<; 127.0.0.1 ; ::1 ; 10.20.0.0/16 ; 2001:db8:1::/48",
        f"127.0.0.1 : ::::1 : 192.168.1.0/24 : {_ipv6_colon_list('2001:db8:1::/48')}",
        "192.168.1.0/24",
        f"! {LAN_EXCEPTION} : 192.168.1.0/24 : 10.20.0.0/16",
        f"!{LAN_EXCEPTION} : 192.168.1.0/24",
        "10.20.30.40",
        "127.0.0.1 : \\\n                    10.20.0.0/16 : \\\n                    192.168.1.0/24",
        "10.20.0.0/16 : 192.168.1.0/24 # office networks",  # the "# ..." is part of the last item
        "",
        "*",
        "0.0.0.0/0",
        "<; 0.0.0.0/0 ; ::/0",
        "<; 10.0.0.0/8 ; 192.168.0.0/16 ; 127.0.0.0/8",
        "+lan : 10.20.0.0/16",
        "10.20.0.0/16 : +lan",
    ])


def _local_domains(rng: random.Random) -> tuple[str, list[str]]:
    """local_domains, and extra domain lists it refers to."""
    return rng.choice([
        (f"@ : localhost : {LOCAL}", []),
        (f"{LOCAL} : {LOCAL2}", []),
        (f"<; {LOCAL} ; localhost", []),
        (f"@ : {LOCAL} : *.example.org", []),
        (f"{LOCAL} : +extra_local", [f"domainlist extra_local = {LOCAL2} : *.{LOCAL}"]),
        (f"! spam.{LOCAL} : {LOCAL} : *.{LOCAL}", []),
        ("@", []),
        ("\\N^(mail\\.)?example\\.(com|org)$\\N : localhost", []),  # lists are expanded: \N...\N protects the $
        (f"{LOCAL}:localhost", []),
    ])


def _relay_domains(rng: random.Random) -> str:
    choices = {"": 20, RELAY: 10, f"*.{RELAY} : {RELAY}": 10, "*": 8, f"! {FOREIGN} : *": 5,
               "\\N^(.+\\.)?relay\\.example$\\N": 5, f"<; {RELAY} ; backup.example": 5,
               "^(.+\\.)?relay\\.example$": 2}  # the last: an unprotected $, the list fails to expand (451)
    return rng.choices(list(choices), list(choices.values()))[0]


# ------------------------------------------------------------------------------------------------
# ACL statements.
# ------------------------------------------------------------------------------------------------

@dataclass
class _Stmt:
    verb: str
    items: list[tuple[str, str]]  # (condition or modifier, value); "message" among them, in its place

    def render(self, rng: random.Random) -> list[str]:
        # a condition's value runs to the end of its line: one item per line; endpass is a bare word
        items = [k if k == "endpass" else f"{k} = {v}" for k, v in self.items]
        if not items:
            return [f"  {self.verb}"]
        style = rng.random()
        if style < 0.45:  # the verb and the first item on one line, the rest aligned below
            return [f"  {self.verb:<8}{items[0]}"] + [f"          {item}" for item in items[1:]]
        if style < 0.85:  # Debian style: the verb alone, the items indented below
            return [f"  {self.verb}"] + [f"    {item}" for item in items]
        return [f"{self.verb} {items[0]}"] + [f"  {item}" for item in items[1:]]  # at the start of the line


def _msg(text: str) -> tuple[str, str]:
    return ("message", text)


def _upstream_rcpt() -> list[_Stmt]:
    """The upstream default acl_check_rcpt (configure.default), without DKIM controls."""
    return [
        _Stmt("accept", [("hosts", ":")]),
        _Stmt("deny", [_msg("Restricted characters in address"), ("domains", "+local_domains"),
                       ("local_parts", "^[.] : ^.*[@%!/|]")]),
        _Stmt("deny", [_msg("Restricted characters in address"), ("domains", "!+local_domains"),
                       ("local_parts", "^[./|] : ^.*[@%!] : ^.*/\\\\.\\\\./")]),
        _Stmt("accept", [("local_parts", "postmaster"), ("domains", "+local_domains")]),
        _Stmt("require", [("verify", "sender")]),
        _Stmt("accept", [("hosts", "+relay_from_hosts"), ("control", "submission")]),
        _Stmt("accept", [("authenticated", "*"), ("control", "submission")]),
        _Stmt("require", [_msg("relay not permitted"), ("domains", "+local_domains : +relay_to_domains")]),
        _Stmt("require", [("verify", "recipient")]),
        _Stmt("accept", []),
    ]


def _spec_rcpt() -> list[_Stmt]:
    """SPEC's "Using an ACL to control relaying": accept the domains we serve, then our hosts, then deny."""
    return [
        _Stmt("accept", [("domains", "+local_domains : +relay_to_domains"), ("verify", "recipient")]),
        _Stmt("accept", [("hosts", "+relay_from_hosts")]),
        _Stmt("accept", [("authenticated", "*")]),
        _Stmt("deny", [_msg("relay not permitted")]),
    ]


def _endpass_rcpt() -> list[_Stmt]:
    """An older style seen in the wild: accept ... endpass verify = recipient."""
    return [
        _Stmt("accept", [("domains", "+local_domains"), ("endpass", ""), ("verify", "recipient")]),
        _Stmt("accept", [("hosts", "+relay_from_hosts")]),
        _Stmt("accept", [("domains", "+relay_to_domains"), ("endpass", ""), ("verify", "recipient")]),
        _Stmt("deny", [_msg("we are not an open relay")]),
    ]


_CONDITIONS = [
    ("hosts", "+relay_from_hosts"), ("hosts", "!+relay_from_hosts"), ("hosts", "+blocked"),
    ("hosts", "<; 2001:db8:ffff::/48"), ("hosts", ":"), ("hosts", "203.0.113.0/24"),
    ("domains", "+local_domains"), ("domains", "!+local_domains"), ("domains", "+relay_to_domains"),
    ("domains", FOREIGN), ("senders", ":"), ("senders", "*@spam.example"), ("senders", f"alice@{LOCAL}"),
    ("sender_domains", LOCAL), ("sender_domains", "sender.example"), ("local_parts", "postmaster"),
    ("local_parts", "^.*[@%!/|]"), ("local_parts", "blackhole : later"), ("local_parts", "later"),
    ("authenticated", "*"), ("!authenticated", "*"), ("encrypted", "*"), ("!encrypted", "*"),
    ("authenticated", "PLAIN"), ("authenticated", "plain_server"),  # instance names (public_name does not count)
    ("verify", "recipient"), ("!verify", "recipient"), ("verify", "sender"),
    ("condition", "${if eq{$received_port}{587}}"), ("condition", "${if def:authenticated_id}"),
    ("condition", "${if eq{$received_port}{25}{yes}{no}}"), ("condition", "${if !def:tls_in_cipher}"),
    ("condition", "${if ={587}{$received_port}}"), ("condition", "${if eq{$sender_address}{}}"),
    ("condition", "${if def:sender_host_authenticated}"), ("condition", "false"),
    # what an outsider chooses itself: its sender, its HELO, the recipient's local part
    ("senders", f"*@{LOCAL}"), ("sender_domains", "+local_domains"), ("verify", "helo"),
    ("condition", "${if match{$sender_address}{\\N@example\\.com$\\N}}"),
    ("condition", "${if eq{$sender_helo_name}{" + HOSTNAME + "}}"), ("local_parts", "postmaster : abuse"),
]

_MESSAGES = {
    "deny": ["relay not permitted", "554 5.7.1 Relaying denied", "550 5.7.1 relay not permitted",
             "Authentication required on port $received_port", "450 wrong first digit"],
    "require": ["relay not permitted", "550 Relaying denied for <$local_part@$domain>"],
    "defer": ["451 4.7.1 Try again later", "please try later"],
    "drop": ["554 go away"],
    "accept": ["250 Accepted, welcome"],
    "warn": ["never shown"],
    "discard": ["250 discarded quietly"],
}


def _random_stmt(rng: random.Random) -> _Stmt:
    verb = rng.choices(["accept", "deny", "require", "warn", "defer", "discard", "drop"],
                       [30, 30, 15, 5, 8, 6, 6])[0]
    items = rng.sample(_CONDITIONS, rng.choice([1, 1, 1, 2, 2, 3]))
    if verb == "discard" or verb == "defer" or verb == "drop":  # keep these narrow: one local part or one network
        items = [rng.choice([("local_parts", "blackhole"), ("local_parts", "later"), ("hosts", "+blocked")]),
                 *items[:1]]
    if rng.random() < 0.5:
        message = _msg(rng.choice(_MESSAGES[verb]))
        # for require, only a message met before the failing condition is used: try both places
        items.insert(rng.choice([0, len(items)]), message)
    return _Stmt(verb, items)


def _mutate(rng: random.Random, stmts: list[_Stmt]) -> list[_Stmt]:
    stmts = list(stmts)
    if rng.random() < 0.3 and len(stmts) > 2:  # swap neighbours
        i = rng.randrange(len(stmts) - 1)
        stmts[i], stmts[i + 1] = stmts[i + 1], stmts[i]
    if rng.random() < 0.25 and len(stmts) > 2:  # lose one
        del stmts[rng.randrange(len(stmts))]
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
        stmts.insert(rng.randrange(len(stmts) + 1), _random_stmt(rng))
    if rng.random() < 0.15:  # the message of a require moves after its condition (and so is never used)
        for s in stmts:
            if s.verb == "require" and s.items and s.items[0][0] == "message":
                s.items.append(s.items.pop(0))
                break
    return stmts


# ------------------------------------------------------------------------------------------------
# Plain configurations.
# ------------------------------------------------------------------------------------------------

class _Plain:
    def __init__(self, rng: random.Random, name: str):
        self.rng = rng
        self.name = name
        self.macros: list[str] = []
        self.main: list[str] = []
        self.acls: dict[str, list[_Stmt] | str] = {}
        self.tags: list[str] = []

    def build(self) -> GeneratedExim:
        rng = self.rng
        self._main_lists()
        self._acl_options()
        self._main_misc()
        auth = self._authenticators()
        text = "\n".join([
            f"# {self.name}: generated by tests/exim_generator.py",
            *self.macros, "",
            f"primary_hostname = {HOSTNAME}", *self.main, "",
            "begin acl", "", *self._acl_text(), "",
            "begin routers", "", *self._routers(), "",
            "begin transports", "", *self._transports(), "",
            *(["begin retry", "", "*   *   F,2h,15m; G,16h,1h,1.5; F,4d,6h", ""] if rng.random() < 0.5 else []),
            "begin authenticators", "", *auth, "",
        ])
        return GeneratedExim(self.name, "plain", {"etc/exim4/exim4.conf": text}, _probes(rng), self.tags)

    # --- main section ------------------------------------------------------------------------------
    def _main_lists(self) -> None:
        rng = self.rng
        local, extra = _local_domains(rng)
        relay_nets = written = _host_list(rng, "relay")
        if rng.random() < 0.25:  # the list goes through a macro
            self.macros.append(f"MC_RELAY_NETS = {relay_nets}".rstrip())
            written = "MC_RELAY_NETS"
        if rng.random() < 0.15:  # a macro defined, then redefined with ==: the second value counts
            self.macros += ["MC_LOCAL_NAME = nothing.example", f"MC_LOCAL_NAME == {LOCAL}"]
            local = local.replace(LOCAL, "MC_LOCAL_NAME", 1) if LOCAL in local else local
        self.main += [f"domainlist local_domains = {local}".rstrip(), *extra,
                      f"domainlist relay_to_domains = {_relay_domains(rng)}".rstrip(),
                      f"hostlist relay_from_hosts = {written}".rstrip(),
                      f"hostlist blocked = {_host_list(rng, 'block')}"]
        if "+lan" in relay_nets or rng.random() < 0.2:
            self.main.append(rng.choice([f"hostlist lan = 192.168.1.0/24 : {_ipv6_colon_list('2001:db8:1::/48')}",
                                         "hostlist lan = <; 192.168.1.0/24 ; 2001:db8:1::/48",
                                         f"hostlist lan = !{LAN_EXCEPTION} : 192.168.1.0/24"]))

    def _acl_options(self) -> None:
        rng = self.rng
        rcpt = _mutate(rng, rng.choices([_upstream_rcpt(), _spec_rcpt(), _endpass_rcpt()], [60, 30, 10])[0])
        self.acls["acl_check_rcpt"] = rcpt
        how = rng.choices(["named", "port", "unset", "macro", "missing", "inline"], [60, 15, 5, 12, 4, 4])[0]
        if how == "named":
            self.main.append("acl_smtp_rcpt = acl_check_rcpt")
        elif how == "port":
            self.main.append("acl_smtp_rcpt = ${if ={587}{$received_port}{acl_check_submission}{acl_check_rcpt}}")
            self.acls["acl_check_submission"] = _mutate(rng, [
                _Stmt("accept", [("authenticated", "*")]),
                _Stmt("deny", [_msg(rng.choice(["Authentication required", "530 5.7.0 Authentication required"]))]),
            ]) if rng.random() < 0.7 else [_Stmt("require", [("authenticated", "*")]), *_spec_rcpt()]
        elif how == "macro":
            self.macros.append("ACL_RCPT = acl_check_rcpt")
            self.main.append("acl_smtp_rcpt = ACL_RCPT")
        elif how == "missing":
            self.main.append("acl_smtp_rcpt = acl_check_rcpt_local")  # no such ACL: Exim reads it as ACL text
        elif how == "inline":
            self.main.append(rng.choice(["acl_smtp_rcpt = accept", "acl_smtp_rcpt = deny message = no mail here"]))
        # "unset": no acl_smtp_rcpt at all, every RCPT is refused
        if rng.random() < 0.3:
            self.main.append("acl_smtp_mail = acl_check_mail")
            self.acls["acl_check_mail"] = rng.choice([
                [_Stmt("accept", [])],
                [_Stmt("deny", [_msg("nice hosts say HELO first"), ("condition", "${if eq{$sender_helo_name}{}}")]),
                 _Stmt("accept", [])],
                [_Stmt("deny", [("senders", "*@spam.example")]), _Stmt("accept", [])],
                [_Stmt("deny", [("hosts", "+blocked"), _msg("550 5.7.1 blocked")]), _Stmt("accept", [])],
                [],  # an empty ACL: the implicit deny refuses every MAIL
            ])
        if rng.random() < 0.1:
            self.main.append("acl_smtp_connect = acl_check_connect")
            self.acls["acl_check_connect"] = [_Stmt(rng.choice(["deny", "drop"]), [("hosts", "+blocked")]),
                                              _Stmt("accept", [])]

    def _main_misc(self) -> None:
        rng = self.rng
        helo = rng.random()  # (an option set twice is a configuration error, even the same value)
        if helo < 0.2:
            self.main.append("hosts_require_helo =")
        elif helo < 0.4:
            self.macros.append(rng.choice(["MC_STRICT = yes", "MC_OTHER = yes"]))
            self.main += [".ifdef MC_STRICT MC_VERY_STRICT", "hosts_require_helo = *", ".else",
                          "hosts_require_helo =", ".endif"]
        if rng.random() < 0.15:
            self.main.append(rng.choice(["tls_advertise_hosts =", "tls_advertise_hosts = +relay_from_hosts"]))
        advertise = rng.random()
        if advertise < 0.35:
            self.main.append(rng.choice([
                "auth_advertise_hosts =", "auth_advertise_hosts = ${if eq{$tls_in_cipher}{}{}{*}}",
                "auth_advertise_hosts = <; 198.51.100.0/24 ; 2001:db8::/32",
                "auth_advertise_hosts = !203.0.113.0/24 : *",
                "auth_advertise_hosts = *"]))
        elif advertise < 0.5:  # a macro whose name is a prefix of what .ifdef tests: that counts as defined
            self.macros.append("MC_TLS = 1")
            self.main += [".ifdef MC_TLS_ONLY", "auth_advertise_hosts = ${if eq{$tls_in_cipher}{}{}{*}}", ".endif"]
        if rng.random() < 0.2:
            self.main += ["daemon_smtp_ports = 25 : 465 : 587", "tls_on_connect_ports = 465"]
        # how addresses are read: the tricks open-relay scanners try depend on these
        if rng.random() < 0.2:
            self.main.append(f"percent_hack_domains = {rng.choice(['*', '+local_domains', LOCAL])}")
        for option in ("allow_domain_literals", "strip_trailing_dot", "strip_excess_angle_brackets"):
            if rng.random() < 0.15:
                self.main.append(option)
        if rng.random() < 0.1:
            self.main.append(f"{rng.choice(['recipient', 'sender'])}_unqualified_hosts = "
                             f"{rng.choice(['*', '+relay_from_hosts', '198.51.100.0/24'])}")
        if rng.random() < 0.1:
            self.main.append(f"qualify_domain = {LOCAL}")

    # --- ACL section ---------------------------------------------------------------------------------
    def _acl_text(self) -> list[str]:
        rng = self.rng
        out: list[str] = []
        for name, stmts in self.acls.items():
            out.append(f"{name}:")
            for stmt in stmts:
                if rng.random() < 0.15:
                    out.append(rng.choice(["  # checked in this order", "", "# (local change)"]))
                out += stmt.render(rng)
            out.append("")
        return out

    # --- routers and transports ----------------------------------------------------------------------
    def _routers(self) -> list[str]:
        rng = self.rng
        local = ["local_user:", "  driver = accept", "  domains = +local_domains"]
        local += rng.choice([["  check_local_user"], ["  local_parts = alice : bob : postmaster : root"],
                             ["  local_parts = ! spamtrap : *"], [], ["  check_local_user", "  local_parts = ! root"]])
        local += ["  transport = local_delivery", ""]
        remote_kind = rng.choices(["all", "relay", "list", "none"], [55, 15, 15, 15])[0]
        remote: list[str] = []
        if remote_kind != "none":
            remote = ["remote:", "  driver = manualroute"]
            remote += {"all": ["  domains = ! +local_domains"], "relay": ["  domains = +relay_to_domains"],
                       "list": []}[remote_kind]
            remote.append(f"  route_list = {RELAY} {NEXT_HOP} ; *.{RELAY} {NEXT_HOP}" if remote_kind == "list"
                          else f"  route_list = * {NEXT_HOP}")
            remote += ["  transport = remote_smtp", ""]
        if rng.random() < 0.15:  # address literals delivered to the address (with allow_domain_literals)
            remote = ["literal:", "  driver = ipliteral", "  domains = ! +local_domains", "  transport = remote_smtp",
                      "", *remote]
        if remote_kind == "list" or rng.random() < 0.6:
            return remote + local
        if rng.random() < 0.3 and remote_kind == "all":  # last, catching everything the local router declined
            remote.remove("  domains = ! +local_domains")
        return local + remote

    def _transports(self) -> list[str]:
        return ["local_delivery:", "  driver = appendfile", "  file = /var/mail/$local_part_data",
                "  delivery_date_add", "  envelope_to_add", "  return_path_add", "",
                "remote_smtp:", "  driver = smtp", ""]

    # --- authenticators ------------------------------------------------------------------------------
    def _authenticators(self) -> list[str]:
        rng = self.rng
        out: list[str] = []
        kinds = rng.sample(["login", "cram", "client", "commented"], rng.choice([0, 0, 1, 1, 2]))
        if rng.random() < 0.65:  # the server the probes log in to
            kinds.insert(rng.randrange(len(kinds) + 1), "plain")
        for kind in kinds:
            out += getattr(self, f"_auth_{kind}")()
        if out and rng.random() < 0.15:  # authentication switched off by a macro left undefined... or defined
            if rng.random() < 0.5:
                self.macros.append("MC_NO_AUTH = 1")
            out = [".ifndef MC_NO_AUTH", *out, ".endif"]
        return out

    def _auth_plain(self) -> list[str]:
        rng = self.rng
        name = rng.choice(["PLAIN", "plain", "plain_server"])
        lines = [f"{name}:", "  driver = plaintext"]
        if name != "PLAIN" or rng.random() < 0.5:
            lines.append("  public_name = PLAIN")
        lines += ["  server_prompts = :",
                  "  server_condition = " + rng.choice([
                      "${if eq{$auth3}{PASSWORD}}",
                      "${if and{{eq{$auth2}{USER}}{eq{$auth3}{PASSWORD}}}}",
                      "${if and {{eq{$auth2}{USER}} {eq{$auth3}{PASSWORD}} }}",
                  ]).replace("USER", SASL_USER).replace("PASSWORD", rx.PASSWORD),
                  "  server_set_id = $auth2"]
        advertise = rng.choice([None, None, "${if def:tls_in_cipher}", "${if eq{$received_port}{587}}",
                                "${if eq{$tls_in_cipher}{}{}{*}}"])
        if advertise and rng.random() < 0.3:  # behind a macro switch
            self.macros.append(rng.choice(["MC_AUTH_TLS_ONLY = 1", "MC_AUTH_ANYWHERE = 1"]))
            lines += [".ifdef MC_AUTH_TLS_ONLY", f"  server_advertise_condition = {advertise}", ".endif"]
        elif advertise:
            lines.append(f"  server_advertise_condition = {advertise}")
        return [*lines, ""]

    def _auth_login(self) -> list[str]:
        return ["LOGIN:", "  driver = plaintext", "  server_prompts = <| Username: | Password:",
                f"  server_condition = ${{if eq{{$auth2}}{{{rx.PASSWORD}}}}}", "  server_set_id = $auth1", ""]

    def _auth_cram(self) -> list[str]:
        return ["cram:", "  driver = cram_md5", "  public_name = CRAM-MD5",
                f"  server_secret = ${{if eq{{$auth1}}{{{SASL_USER}}}{{{rx.PASSWORD}}}fail}}",
                "  server_set_id = $auth1", ""]

    def _auth_client(self) -> list[str]:
        return ["smarthost_login:", "  driver = plaintext", "  public_name = PLAIN",
                f"  client_send = ^{SASL_USER}^{rx.PASSWORD}", ""]

    def _auth_commented(self) -> list[str]:
        return ["#PLAIN:", "#  driver                     = plaintext", "#  server_set_id              = $auth2",
                "#  server_prompts             = :",
                "#  server_condition           = Authentication is not yet configured",
                "#  server_advertise_condition = ${if def:tls_in_cipher }", ""]


# ------------------------------------------------------------------------------------------------
# Debian configurations.
# ------------------------------------------------------------------------------------------------

DEBIAN_STOCK = rx.EXIM_ROOT / "etc" / "exim4"

LOCAL_PLAIN_SERVER = f"""\
# local change: SMTP AUTH for our users
plain_server:
  driver = plaintext
  public_name = PLAIN
  server_condition = ${{if eq{{$auth3}}{{{rx.PASSWORD}}}}}
  server_set_id = $auth2
  server_prompts = :
  .ifndef AUTH_SERVER_ALLOW_NOTLS_PASSWORDS
  server_advertise_condition = ${{if eq{{$tls_in_cipher}}{{}}{{}}{{*}}}}
  .endif
"""


def _shell_quote(rng: random.Random, value: str) -> str:
    """The file is sourced by sh: single quotes as debconf writes them, or double quotes, or none where safe."""
    if re.fullmatch(r"[A-Za-z0-9_.:/-]*", value) and rng.random() < 0.3:
        return value
    return f'"{value}"' if rng.random() < 0.3 else f"'{value}'"


def _stock_files() -> dict[str, str]:
    """The exim4-config package's /etc/exim4, as snapshot paths."""
    files = {}
    for path in sorted(DEBIAN_STOCK.rglob("*")):
        if path.is_file():
            files[f"etc/exim4/{path.relative_to(DEBIAN_STOCK)}"] = path.read_text()
    return files


class _Debian:
    def __init__(self, rng: random.Random, name: str):
        self.rng = rng
        self.name = name

    def build(self) -> GeneratedExim:
        rng = self.rng
        files = _stock_files()
        configtype = rng.choices(["internet", "smarthost", "satellite", "local"], [45, 25, 15, 15])[0]
        split = rng.random() < 0.5
        relay_nets = rng.choice(["", "192.168.1.0/24", "10.20.0.0/16", "0.0.0.0/0", "*",
                                 "192.168.1.0/24;2001:db8:1::/48", "<; 10.20.0.0/16 ; 2001:db8:1::/48",
                                 "10.20.0.0/16 : 192.168.1.0/24", f"!{LAN_EXCEPTION} : 192.168.1.0/24"])
        values = {
            "dc_eximconfig_configtype": configtype,
            "dc_other_hostnames": rng.choice([LOCAL, f"{LOCAL}:{LOCAL2}", f"{LOCAL};{LOCAL2}", "",
                                              f"{LOCAL} : {LOCAL2}"]),
            "dc_local_interfaces": rng.choice(["127.0.0.1 ; ::1", "", "127.0.0.1"]),
            "dc_readhost": "",
            "dc_relay_domains": rng.choice(["", "", RELAY, "*", f"{RELAY}:*.{RELAY}"]),
            "dc_minimaldns": "true" if rng.random() < 0.05 else "false",  # then `hostname --fqdn` matters
            "dc_relay_nets": relay_nets,
            "dc_smarthost": rng.choice([f"{SMARTHOST}::587", SMARTHOST, f"{SMARTHOST}::25"])
            if configtype in ("smarthost", "satellite") else "",
            "CFILEMODE": "644",
            "dc_use_split_config": "true" if split else "false",
            "dc_hide_mailname": "",
            "dc_mailname_in_oh": "true",
            "dc_localdelivery": rng.choice(["mail_spool", "maildir_home"]),
        }
        files["etc/exim4/update-exim4.conf.conf"] = "\n".join(
            ["# /etc/exim4/update-exim4.conf.conf", "# generated by tests/exim_generator.py", ""]
            + [f"{k}={_shell_quote(rng, v)}" for k, v in values.items()]) + "\n"
        if rng.random() < 0.6:
            files["etc/mailname"] = rng.choice([HOSTNAME, LOCAL]) + "\n"
        tags = ["dns"] if configtype == "internet" else []
        macros = []
        if rng.random() < 0.35:
            macros.append("MAIN_TLS_ENABLE = yes")
        if rng.random() < 0.2:
            macros.append("AUTH_SERVER_ALLOW_NOTLS_PASSWORDS = 1")
        if rng.random() < 0.1:
            macros.append("CHECK_RCPT_POSTMASTER = postmaster : abuse")
        if rng.random() < 0.1:
            macros.append("MAIN_RELAY_NETS = 10.20.0.0/16 : 127.0.0.1")
        if macros:
            path = "etc/exim4/conf.d/main/000_localmacros" if split else "etc/exim4/exim4.conf.localmacros"
            files[path] = "# local settings\n" + "\n".join(macros) + "\n"
        if rng.random() < 0.4:
            if split:
                files["etc/exim4/conf.d/auth/20_local_plain_server"] = LOCAL_PLAIN_SERVER
            else:
                files["etc/exim4/exim4.conf.template"] += "\n" + LOCAL_PLAIN_SERVER
        gen = GeneratedExim(self.name, "debian", files, _probes(rng), tags)
        gen.tls_enabled = "MAIN_TLS_ENABLE = yes" in macros
        return gen


# ------------------------------------------------------------------------------------------------
# Probes.
# ------------------------------------------------------------------------------------------------

def _probes(rng: random.Random) -> list[Probe]:
    outside = rng.choice(OUTSIDE)
    other = OUTSIDE[1] if outside == OUTSIDE[0] else OUTSIDE[0]

    def sender() -> str:
        return rng.choice(SENDERS)

    foreign = f"{rng.choice(['x', 'someone', 'Info'])}@{FOREIGN}"
    probes = [
        Probe(outside, foreign, sender(), HELO),
        Probe(other, f"postmaster@{LOCAL}", sender(), HELO),
        Probe(outside, f"root@{LOCAL}", "", HELO),
        Probe(outside, f"{rng.choice(['nosuchuser', 'alice', 'Root', 'spamtrap'])}@{LOCAL}", sender(), HELO),
        Probe(outside, f"{rng.choice(['x', 'root'])}@{rng.choice([LOCAL2, HOSTNAME, 'localhost'])}", sender(), HELO),
        Probe(other, f"x@{rng.choice([RELAY, 'mx.' + RELAY, 'backup.example'])}", sender(), HELO),
        Probe(TRUSTED, foreign, sender(), HELO),
        Probe(rng.choice([LAN, LAN_EXCEPTION]), foreign, sender(), HELO),
        Probe(LAN6, foreign, sender(), HELO),
        Probe(LOOPBACK, foreign, "", "localhost"),
        Probe(OUTSIDE6, rng.choice([foreign, f"postmaster@{LOCAL}"]), sender(), HELO),
        Probe(BLOCKED, f"root@{LOCAL}", sender(), HELO),
        Probe(outside, foreign, sender(), HELO, sasl_user=SASL_USER, port=587),
        Probe(other, foreign, sender(), HELO, sasl_user=SASL_USER, port=25),
        Probe(outside, foreign, sender(), HELO, port=587),
        Probe(outside, rng.choice([f"x%{FOREIGN}@{LOCAL}", f"{FOREIGN}!x@{LOCAL}", f".hidden@{LOCAL}"]), sender(),
              HELO),
        Probe(outside, f"root@{LOCAL}", f"nosuchuser@{LOCAL}", HELO),
        Probe(outside, rng.choice([f"root@{LOCAL}", foreign]), sender(), None),  # no HELO at all
        Probe(outside, f"{rng.choice(['blackhole', 'later'])}@{LOCAL}", sender(), HELO),
    ]
    forms = [  # recipients as open-relay scanners write them (a leading space: no angle brackets)
        f"@{LOCAL}:{foreign}", f"@{HOSTNAME},@{LOCAL}:{foreign}", f" @{LOCAL}:{foreign}",
        f"<@{LOCAL.upper()}:X@FOREIGN.EXAMPLE>", f"@{FOREIGN}:root@{LOCAL}", f"<@{LOCAL}, @x.example:{foreign}>",
        f'"x@{FOREIGN}"@{LOCAL}', f"x@{FOREIGN}@{LOCAL}", f"{FOREIGN}!x@{LOCAL}", f"x%{FOREIGN}@{LOCAL}",
        f"x%{FOREIGN}%{RELAY}@{LOCAL}", f"x@[{NEXT_HOP}]", f" x@[{NEXT_HOP}]", "x@[IPv6:2001:db8::99]",
        f"ROOT@{LOCAL.upper()}", f"x@{FOREIGN.upper()}", f"root@{LOCAL}.", f"{foreign}.", "postmaster", "root",
        f"Name <{foreign}>", f"x(comment)@{LOCAL}", f"\"a b\"@{LOCAL}",
    ]
    senders = ["postmaster", "alice", f"<@{FOREIGN}:alice@{LOCAL}>", f"alice@{LOCAL.upper()}", f"x@{FOREIGN}.",
               f" alice@{LOCAL}", "<>"]
    helos = [HOSTNAME, f"[{rx.SERVER_V4}]", f"[{outside}]", f"[IPv4:{outside}]", LOCAL, "localhost", "bad_helo!"]
    probes += [Probe(outside, rcpt, sender(), HELO) for rcpt in rng.sample(forms, 5)]
    probes += [Probe(outside, rng.choice([foreign, f"root@{LOCAL}"]), s, HELO) for s in rng.sample(senders, 2)]
    probes += [Probe(outside, foreign, sender(), h) for h in rng.sample(helos, 2)]
    # (not the client's own IPv6 literal: exim -bh writes an IPv6 client in full, 2001:0db8:..., where the
    # daemon, and the engine, write it compressed, and verify = helo compares the text)
    probes.append(Probe(OUTSIDE6, foreign, sender(), rng.choice([f"[IPv6:{OUTSIDE6}]", HOSTNAME, "[2001:db8::77]"])))
    if rng.random() < 0.5:  # TLS sessions cost 30-250 ms each (the handshake): a few only
        probes.append(Probe(outside, foreign, sender(), HELO, sasl_user=SASL_USER, tls=True, port=587))
        probes.append(Probe(rng.choice([outside, LAN6]), foreign, sender(), HELO, tls=True,
                            port=rng.choice([25, 465])))
    return probes


# ------------------------------------------------------------------------------------------------
# On disk, and what real Exim runs.
# ------------------------------------------------------------------------------------------------

def write_snapshot(gen: GeneratedExim, root: Path) -> Path:
    """GEN's files under ROOT, plus what the engine needs to know about this host (as `mailcfg fetch` would
    collect it): /etc/passwd and /etc/aliases (check_local_user and Debian's system_aliases router read the
    real ones) and the host name (Exim's primary_hostname when unset). Directories 0755: Exim reads as Debian-exim."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in gen.files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    for host_file in ("/etc/passwd", "/etc/aliases"):
        if Path(host_file).exists():
            shutil.copyfile(host_file, root / host_file.lstrip("/"))
    facts = {"hostname": socket.gethostname(), "systems": {"exim": {"version": "4.96"}}}
    (root / ".mailcfg-host").mkdir(exist_ok=True)
    (root / ".mailcfg-host" / "facts.json").write_text(json.dumps(facts, indent=1) + "\n")
    (root / ".mailcfg-test").mkdir(exist_ok=True)  # as tests/postfix_generator.py: for replaying one configuration
    (root / ".mailcfg-test" / "config.json").write_text(json.dumps(gen.to_json(), indent=1) + "\n")
    for path in [root, *root.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    return root


@dataclass
class RealConfig:
    """The file real Exim runs for a snapshot, and the -D macros to run it with."""

    path: Path
    macros: dict[str, str] = field(default_factory=dict)


def real_config(gen: GeneratedExim, root: Path, work: Path) -> RealConfig:
    """What real Exim runs for GEN written at ROOT, made in WORK.

    Plain: a copy of etc/exim4/exim4.conf (Exim wants it root-owned 0644) whose first line, the generator's
    comment, names the harness's test certificate instead: every line keeps its number, and STARTTLS costs
    35 ms instead of the 200-400 ms Exim spends making a self-signed certificate when none is named (which
    decides nothing: STARTTLS is offered either way). Debian: Debian's generator run on ROOT/etc/exim4, with
    ROOT/etc/mailname as /etc/mailname. When MAIN_TLS_ENABLE is set it names /etc/exim4/exim.{crt,key}, which
    this host does not have: the test certificate stands in (-D macros)."""
    work.mkdir(parents=True, exist_ok=True)
    out = work / f"{gen.name}.conf"
    tls = rx.harness_certificate()
    if gen.kind == "plain":
        text = (root / "etc/exim4/exim4.conf").read_text()
        first, _, rest = text.partition("\n")
        if first.startswith("#") and not first.endswith("\\") and "tls_certificate" not in rest:
            text = f"tls_certificate = {tls.combined}\n{rest}"
        # else (a fix rewrote line 1, say) the file as it is: only STARTTLS gets slower
        return RealConfig(rx.write_config(out, text))
    rx.debian_generate(root / "etc" / "exim4", out)
    macros = {"MAIN_TLS_CERTIFICATE": str(tls.cert), "MAIN_TLS_PRIVATEKEY": str(tls.key)} if gen.tls_enabled else {}
    return RealConfig(out, macros)
