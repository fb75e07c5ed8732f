"""Seeded random Postfix configurations, each with a battery of SMTP probes (for differential tests).

`generate(root, seed, index, ...)` writes a snapshot directory ROOT:

    ROOT/etc/postfix/main.cf, master.cf, table files (named by their /etc/postfix/... paths)
    ROOT/etc/hosts
    ROOT/.mailcfg-host/facts.json     the namespace's facts: only lo (127.0.0.1/8, ::1)
    ROOT/.mailcfg-test/config.json    seed, index, tags and the probes (for replaying)

and returns the probes. The configurations vary what decides relaying and recipient acceptance:
restriction lists (order, spelling, separators, continuation lines with comments, duplicates,
case), access tables of several types, restriction classes, compatibility_level, mynetworks,
local/relay/virtual domains, SASL and TLS per service, soft_bounce. A fraction has no working
relay check (smtpd's startup fatal) and a fraction is an open relay. DNS-based restrictions are
left out unless `dns=True` (the test namespace has no DNS), and then the config is tagged "dns".
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mailcfg.transaction import Probe
from realpostfix import available_map_types, finish_snapshot, make_certificate, master_cf, namespace_facts

OUTSIDE = ("198.51.100.7", "203.0.113.9")
OUTSIDE6 = "2001:db8:ffff::9"  # an outside client over IPv6 (XCLIENT ADDR=IPV6:...)
SPECIAL_CLIENT = "198.51.100.66"  # keyed in client access tables
TRUSTED = "10.20.30.40"  # in mynetworks when the generator lists 10.20.0.0/16 (or 10.0.0.0/8)
LAN = "192.168.1.10"
FOREIGN = "foreign.example"
HELO = "client.example.net"
SENDER = "alice@sender.example"
SASL_USER = "alice"
HOSTNAMES = ("mx.example.com", "mail.example.net", "smtp.corp.example.org", "mx.example.com")
RELAY = "relay.example"
RELAY_PARENT = "example.org"
VALIAS = "valias.example"
VMAIL = "vmail.example"
HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"



@dataclass
class Generated:
    index: int
    seed: int
    root: Path
    probes: list[Probe]
    tags: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"index": self.index, "seed": self.seed, "tags": self.tags,
                "probes": [asdict(p) for p in self.probes]}


def load_generated(root: Path) -> Generated:
    """Read back what `generate` wrote (to replay one configuration)."""
    data = json.loads((root / ".mailcfg-test" / "config.json").read_text())
    return Generated(data["index"], data["seed"], root, [Probe(**p) for p in data["probes"]], data["tags"])


class _Builder:
    def __init__(self, rng: random.Random, map_types: set[str], cert: tuple[Path, Path] | None, dns: bool,
                 rng_spice: random.Random | None = None):
        self.rng = rng
        self.rng_spice = rng_spice or random.Random(0)  # rarer variations, drawn apart from the main stream
        self.map_types = map_types
        self.cert = cert
        self.dns = dns
        self.main: list[str] = []
        self.tables: dict[str, str] = {}  # /etc/postfix/name -> text
        self.files: dict[str, bytes] = {}
        self.tags: list[str] = []
        self.classes: dict[str, list[str]] = {}
        self.helo_keys: list[str] = []
        self.sender_keys: list[str] = []
        self.rcpt_keys: list[str] = []
        self.client_names: list[str] = []
        self.tls = False
        self.services: list[dict] = []
        self.hostname = "mx.example.com"

    # --- spelling --------------------------------------------------------------------------------
    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def spell(self, word: str) -> str:
        """Restriction names are case-insensitive in Postfix: vary the case now and then."""
        r = self.rng.random()
        if r < 0.06:
            return word.upper()
        if r < 0.09:
            return word.title()
        return word

    def join(self, items: list[str], allow_lines: bool = True) -> str:
        """A list value in one of the spellings Postfix accepts (commas, blanks, continuation lines)."""
        if not items:
            return ""
        styles = ["comma", "space", "tight"] + (["lines", "lines", "lines_comment"] if allow_lines else [])
        style = self.rng.choice(styles)
        if style == "comma":
            return ", ".join(items)
        if style == "space":
            return " ".join(items)
        if style == "tight":
            return ",".join(items)
        sep = self.rng.choice([",", ""])
        indent = self.rng.choice(["    ", "\t", "  "])
        out = items[0]
        for item in items[1:]:
            out += sep + "\n"
            if style == "lines_comment" and self.chance(0.5):
                out += self.rng.choice(["# " + self.rng.choice(["was: reject", "see RFC 5321", "TODO"]),
                                        "#permit", "    # indented comment"]) + "\n"
            out += indent + item
        return out

    def set(self, name: str, value: str, decoy: str | None = None) -> None:
        """name = value; sometimes an earlier definition that the later one overrides."""
        if decoy is not None and self.chance(0.15):
            self.main.append(f"{name} = {decoy}")
            self.main.append(self.rng.choice(["", "# the setting below wins (last definition)"]))
        space = self.rng.choice([" = ", "=", " =", "= "])
        self.main.append(f"{name}{space}{value}".rstrip() if value == "" else f"{name}{space}{value}")

    # --- tables ----------------------------------------------------------------------------------
    def map_type(self, kinds: list[str]) -> str:
        usable = [k for k in kinds if k in self.map_types] or ["texthash"]
        return self.rng.choice(usable)

    def value(self, what: str) -> str:
        """An access(5) result."""
        choices = [("OK", 3), ("REJECT", 2), (f"REJECT {what} not welcome here", 2), ("DEFER", 1),
                   ("DEFER try again later", 1), ("DUNNO", 2), ("550 5.7.1 Go away", 1),
                   ("450 4.7.1 Come back later", 1), ("permit", 1), ("reject", 0.5), ("RELAY", 0.3),
                   ("defer_if_permit", 0.3), ("reject_unauth_destination", 0.6), ("554 Denied", 0.3),
                   ("521 5.7.1 Never", 0.2), ("452 Slow down", 0.2)]
        if self.classes:
            choices.append((self.rng.choice(sorted(self.classes)), 1.5))
        values, weights = zip(*choices, strict=True)
        return self.rng.choices(values, weights)[0]

    def table(self, purpose: str, entries: list[tuple[str, str]], kinds: list[str]) -> str:
        """A lookup table for `entries` (key, value) in one of `kinds`; returns its reference."""
        kind = self.map_type(kinds)
        if kind == "inline":
            parts = []
            for key, val in entries:
                parts.append(f"{key}={val}" if " " not in val else f"{{ {key} = {val} }}")
            return "inline:{ " + ", ".join(parts) + " }"
        name = f"/etc/postfix/{purpose}" + ("" if self.chance(0.5) else f".{kind}")
        lines = [f"# {purpose} ({kind})"]
        for key, val in entries:
            if kind in ("regexp", "pcre"):
                lines.append(f"{_regexp(key)}\t{val}")
            else:
                lines.append(f"{key}\t{val}")
        self.tables[name] = "\n".join(lines) + "\n"
        return f"{kind}:{name}"

    def client_table(self) -> str:
        entries = [(SPECIAL_CLIENT, self.value("client"))]
        if self.chance(0.5):
            entries.append(("203.0.113.0/24", self.value("client")))
        if self.chance(0.3):
            entries.append(("10.20.0.0/16", self.value("client")))
        if self.chance(0.06):
            entries.append(("0.0.0.0/0", "OK"))
            self.tags.append("client-table-matches-all")
        kind = self.rng.choice(["cidr", "cidr", "texthash", "inline"])
        if kind != "cidr":  # hash-like tables match addresses exactly; names work too (XCLIENT NAME)
            entries = [(k, v) for k, v in entries if "/" not in k]
            entries.append(("mail.friend.example", self.value("client")))
            self.client_names.append("mail.friend.example")
        return self.table("client_access", entries, [kind])

    def helo_table(self) -> str:
        keys = self.rng.sample(["friend.example", "bad.example", "localhost", self.hostname, "nodots"],
                               self.rng.randint(1, 3))
        self.helo_keys += keys
        return self.table("helo_access", [(k, self.value("helo")) for k in keys],
                          ["texthash", "regexp", "pcre", "inline"])

    def sender_table(self) -> str:
        keys = self.rng.sample(["friend@example.org", "example.org", "spam.example", "postmaster@",
                                f"root@{self.hostname}", "<>"], self.rng.randint(1, 3))
        self.sender_keys += keys
        return self.table("sender_access", [(k, self.value("sender")) for k in keys],
                          ["texthash", "regexp", "pcre", "inline"])

    def recipient_table(self) -> str:
        keys = self.rng.sample([RELAY, "special@" + FOREIGN, FOREIGN, "postmaster@", f"blocked@{self.hostname}",
                                RELAY_PARENT], self.rng.randint(1, 3))
        self.rcpt_keys += keys
        return self.table("recipient_access", [(k, self.value("recipient")) for k in keys],
                          ["texthash", "regexp", "pcre", "inline"])

    def check(self, kind: str) -> list[str]:
        make = {"client": self.client_table, "helo": self.helo_table, "sender": self.sender_table,
                "recipient": self.recipient_table}[kind]
        return [self.spell(f"check_{kind}_access"), make()]

    # --- restriction lists -----------------------------------------------------------------------
    def flat(self, items: list[list[str] | str]) -> list[str]:
        out: list[str] = []
        for item in items:
            out += item if isinstance(item, list) else [self.spell(item)]
        return out

    def extra_item(self) -> list[str] | str:
        r = self.rng.random()
        if r < 0.45:
            return self.check(self.rng.choice(["client", "helo", "sender", "recipient"]))
        pool = ["reject_unlisted_recipient", "reject_non_fqdn_recipient", "reject_non_fqdn_sender",
                "reject_invalid_helo_hostname", "reject_non_fqdn_helo_hostname", "permit_auth_destination",
                "reject_unknown_recipient_domain" if self.dns else "reject_non_fqdn_recipient"]
        if self.classes:
            pool += sorted(self.classes) * 2
        if self.dns and self.chance(0.3):
            self.tags.append("dns")
            return self.rng.choice(["reject_unknown_sender_domain", "reject_unknown_helo_hostname",
                                    "reject_unknown_client_hostname"])
        return self.rng.choice(pool)

    def relay_list(self) -> list[str]:
        base = self.rng.choice([
            ["permit_mynetworks", "permit_sasl_authenticated", "reject_unauth_destination"],
            ["permit_mynetworks", "permit_sasl_authenticated", "reject_unauth_destination"],
            ["permit_mynetworks", "permit_sasl_authenticated", "defer_unauth_destination"],
            ["permit_sasl_authenticated", "permit_mynetworks", "reject_unauth_destination"],
            ["permit_mynetworks", "reject_unauth_destination"],
            ["reject_unauth_destination"],
        ])
        items: list[list[str] | str] = list(base)
        for _ in range(self.rng.choice([0, 0, 1, 1, 2])):
            items.insert(self.rng.randint(0, len(items)), self.extra_item())
        self.mutate(items)
        return self.flat(items)

    def recipient_list(self, legacy: bool) -> list[str]:
        if legacy:  # pre-2.10 style: relay control lives here
            base: list[list[str] | str] = self.rng.choice([
                ["permit_mynetworks", "permit_sasl_authenticated", "reject_unauth_destination"],
                ["reject_non_fqdn_recipient", "permit_mynetworks", "reject_unauth_destination"],
                ["permit_sasl_authenticated", "permit_mynetworks", "reject_unauth_destination",
                 "reject_unlisted_recipient"],
                ["permit_mynetworks", "reject_unauth_destination", "permit"],
            ])
        else:
            base = self.rng.choice([
                ["reject_unlisted_recipient"],
                ["reject_non_fqdn_recipient", "reject_unlisted_recipient"],
                ["permit_mynetworks", "reject_unauth_destination"],
                ["permit_sasl_authenticated", "permit_mynetworks", "reject_unauth_destination"],
                [],
            ])
        items = list(base)
        for _ in range(self.rng.choice([0, 1, 1, 2])):
            items.insert(self.rng.randint(0, len(items)), self.extra_item())
        self.mutate(items)
        return self.flat(items)

    def mutate(self, items: list) -> None:
        """Occasional changes that make a list an open relay, or leave no working relay check."""
        r = self.rng.random()
        unauth = [i for i, x in enumerate(items) if x in ("reject_unauth_destination", "defer_unauth_destination")]
        if r < 0.05 and unauth:
            items.insert(unauth[0], "warn_if_reject")
            self.tags.append("warn_if_reject")
        elif r < 0.09 and unauth:
            items.insert(unauth[0], "permit")
            self.tags.append("permit-before-relay-check")
        elif r < 0.13 and unauth:
            del items[unauth[0]]
            self.tags.append("relay-check-dropped")
        elif r < 0.17 and unauth:  # relay check first: trusted and authenticated clients are refused too
            items.insert(0, items.pop(unauth[0]))
            self.tags.append("relay-check-first")
        elif r < 0.20:
            items.append(self.rng.choice(["reject", "defer", "defer_if_permit", "permit"]))
        elif r < 0.23:
            items.insert(self.rng.randint(0, len(items)), items[self.rng.randrange(len(items))] if items else "permit")

    def spice(self, items: list[str], kind: str) -> list[str]:
        """Rarer spellings and restrictions, from a stream of their own (the main stream stays as it was)."""
        r = self.rng_spice
        items = list(items)
        default = {"relay": "recipient", "recipient": "recipient"}.get(kind, kind)
        check = f"check_{default}_access"
        at = next((i for i, x in enumerate(items) if x.lower() == check), None)
        if at is not None and r.random() < 0.15:  # a bare type:table is the list's own check_<kind>_access
            del items[at]
            self.tags.append("bare-table")
        words = [i for i, x in enumerate(items) if ":" not in x and x.lower() != "warn_if_reject"]
        if words and r.random() < 0.02:  # unknown restriction: 451 4.3.5 Server configuration error
            i = r.choice(words)
            items[i] = r.choice([items[i] + "s", items[i][:-1], items[i].replace("_", "-", 1)])
            self.tags.append("typo")
        elif words and r.random() < 0.015:  # braces around one item
            i = r.choice(words)
            if i + 1 < len(items) and ":" in items[i + 1] and items[i].lower().startswith("check_"):
                items[i + 1] = "{ " + items[i + 1] + " }"
            else:
                items[i] = "{ " + items[i] + " }"
            self.tags.append("braces")
        if r.random() < 0.03:
            items.insert(_slot(r, items), "reject_plaintext_session")
            self.tags.append("reject_plaintext_session")
        if r.random() < 0.03:
            items.insert(_slot(r, items), "defer_if_reject")
            self.tags.append("defer_if_reject")
        if kind in ("relay", "recipient", "sender") and r.random() < 0.05:
            value = r.choice(["REJECT", "OK", "DUNNO", "REJECT not you", "permit_auth_destination"])
            table = f"inline:{{ {SASL_USER}={value} }}" if " " not in value else \
                f"inline:{{ {{ {SASL_USER} = {value} }} }}"
            at = _slot(r, items)
            items[at:at] = ["check_sasl_access", table]
            self.tags.append("check_sasl_access")
        if kind == "sender" and r.random() < 0.15:
            items.insert(_slot(r, items), "reject_sender_login_mismatch")
            if "login-maps" not in self.tags:
                self.main.append(f"smtpd_sender_login_maps = inline:{{ {SENDER}={SASL_USER}, bob@example.org=bob }}")
                self.tags.append("login-maps")
        return items

    def simple_list(self, kind: str) -> list[str]:
        pools = {
            "client": ["permit_mynetworks", "permit_sasl_authenticated", "client", "client",
                       "reject_unauth_destination"],
            "helo": ["permit_mynetworks", "reject_invalid_helo_hostname", "reject_non_fqdn_helo_hostname", "helo",
                     "helo"],
            "sender": ["reject_non_fqdn_sender", "permit_sasl_authenticated", "sender", "sender", "permit_mynetworks"],
        }
        items: list[list[str] | str] = []
        for pick in self.rng.sample(pools[kind], self.rng.randint(1, 3)):
            items.append(self.check(pick) if pick in ("client", "helo", "sender") else pick)
        if self.classes and self.chance(0.2):
            items.insert(self.rng.randint(0, len(items)), self.rng.choice(sorted(self.classes)))
        if self.chance(0.05):
            items.append(self.rng.choice(["reject", "permit", "defer_if_permit"]))
        return self.flat(items)


def _slot(r: random.Random, items: list[str]) -> int:
    """Where a new item may go: not between a check_*_access (or warn_if_reject) and what it applies to."""
    def takes_argument(word: str) -> bool:
        word = word.lower()
        return word == "warn_if_reject" or (word.startswith("check_") and ":" not in word)
    return r.choice([i for i in range(len(items) + 1) if i == 0 or not takes_argument(items[i - 1])])


def _regexp(key: str) -> str:
    escaped = key.replace(".", r"\.")
    if key == "<>":
        return "/^<>$/"
    if key.endswith("@"):
        return f"/^{escaped}/"
    if "@" in key:
        return f"/^{escaped}$/"
    if "." in key:
        return f"/(^|[.@]){escaped}$/"
    return f"/^{escaped}$/"


def generate(root: Path, seed: int, index: int, *, facts: dict, map_types: set[str],
             cert: tuple[Path, Path] | None = None, dns: bool = False, max_probes: int = 40) -> Generated:
    rng = random.Random(f"mailcfg-postfix-{seed}-{index}")
    b = _Builder(rng, set(map_types), cert, dns, random.Random(f"mailcfg-postfix-{seed}-{index}-spice"))
    if root.exists():
        shutil.rmtree(root)
    (root / "etc" / "postfix").mkdir(parents=True)

    b.main.append(f"# generated: seed {seed}, configuration {index}")
    # --- identity and compatibility --------------------------------------------------------------
    compat = rng.choices([None, "0", "1", "2", "3.6"], [25, 5, 10, 20, 40])[0]
    if compat is not None:
        b.set("compatibility_level", compat, decoy="2")
    b.hostname = hostname = rng.choice(HOSTNAMES)
    b.set("myhostname", hostname)
    mydomain = hostname.split(".", 1)[1]
    if rng.random() < 0.2:
        b.set("mydomain", mydomain)
    if rng.random() < 0.4:
        b.set("smtpd_banner", "$myhostname ESMTP $mail_name")

    # --- local delivery: aliases and local recipients -----------------------------------------------
    aliases = b.table("aliases", [("postmaster", "root"), ("info", "root"), ("abuse", "root")],
                      ["texthash", "inline"])
    b.set("alias_maps", aliases)
    b.set("alias_database", "")
    local_maps = rng.choices(["unset", "", "$alias_maps", "table"], [2, 4, 3, 2])[0]
    if local_maps == "table":
        b.set("local_recipient_maps", b.table("local_users", [("root", "x"), ("alice", "x"), ("postmaster", "x")],
                                              ["texthash", "inline"]) + " $alias_maps")
    elif local_maps != "unset":
        b.set("local_recipient_maps", local_maps)

    # --- domains ---------------------------------------------------------------------------------
    mydest = rng.choices(["unset", "host", "host+domain", "localhost", "empty", "table"], [3, 3, 2, 1, 1, 1])[0]
    local_domains = [hostname, "localhost"]
    if mydest == "host":
        b.set("mydestination", b.join(["$myhostname", "localhost.$mydomain", "localhost"], False))
        local_domains = [hostname, "localhost"]
    elif mydest == "host+domain":
        b.set("mydestination", b.join(["$myhostname", "$mydomain", "localhost"], False))
        local_domains = [hostname, mydomain, "localhost"]
    elif mydest == "localhost":
        b.set("mydestination", "localhost")
        local_domains = ["localhost"]
    elif mydest == "empty":
        b.set("mydestination", "")
        local_domains = []
    elif mydest == "table":
        b.set("mydestination", b.table("local_domains", [(hostname, "local"), ("localhost", "local")],
                                       ["texthash", "inline"]))

    relay = rng.choices(["unset", "empty", "one", "parent", "table", "mydestination"], [4, 2, 3, 2, 2, 1])[0]
    relay_rcpts = [f"x@{RELAY}"]
    if relay == "empty":
        b.set("relay_domains", "")
    elif relay == "one":
        b.set("relay_domains", RELAY, decoy=RELAY_PARENT)
    elif relay == "parent":
        b.set("relay_domains", b.join([RELAY, RELAY_PARENT], False))
        relay_rcpts += [f"x@sub.{RELAY_PARENT}", f"x@{RELAY_PARENT}"]
    elif relay == "table":
        b.set("relay_domains", b.table("relay_domains", [(RELAY, "OK"), (RELAY_PARENT, "OK")],
                                       ["texthash", "inline"]))
        relay_rcpts += [f"x@sub.{RELAY_PARENT}"]
    elif relay == "mydestination":
        b.set("relay_domains", "$mydestination")
    if relay != "unset" and rng.random() < 0.2:
        b.set("relay_recipient_maps", b.table("relay_recipients", [(f"x@{RELAY}", "OK")], ["texthash", "inline"]))

    virtual_rcpts: list[str] = []
    if rng.random() < 0.35:
        b.set("virtual_alias_domains", VALIAS)
        b.set("virtual_alias_maps", b.table("virtual", [(f"alias@{VALIAS}", "root@localhost"),
                                                        (f"fwd@{VALIAS}", f"someone@{FOREIGN}")],
                                            ["texthash", "inline"]))
        virtual_rcpts += [f"alias@{VALIAS}", f"nobody@{VALIAS}"]
    if rng.random() < 0.3:
        b.set("virtual_mailbox_domains", VMAIL)
        b.set("virtual_mailbox_maps", b.table("vmailbox", [(f"box@{VMAIL}", f"{VMAIL}/box/")],
                                              ["texthash", "inline"]))
        b.set("virtual_mailbox_base", "/var/mail/vhosts")
        virtual_rcpts += [f"box@{VMAIL}", f"nobody@{VMAIL}"]

    # Transports that are the error mailer (smtpd rejects what resolves to it): their own stream, so the
    # configurations before them stay as they were.
    rng_transport = random.Random(f"mailcfg-postfix-{seed}-{index}-transport")
    if rng_transport.random() < 0.12:
        name = rng_transport.choice(["default_transport", "relay_transport", "local_transport", "virtual_transport"])
        value = rng_transport.choice(["error", "error:5.7.1 delivery disabled here", "error:mail for this domain "
                                      "is not accepted"] if name != "local_transport" else
                                     ["error:local delivery is disabled", "error:5.1.1 mailbox unavailable"])
        b.set(name, value)
        b.tags.append("error-transport")

    # --- networks --------------------------------------------------------------------------------
    mynet = rng.choices(["unset", "style", "explicit", "table", "wide"], [3, 3, 5, 1, 0.5])[0]
    if mynet == "style":
        b.set("mynetworks_style", rng.choice(["host", "subnet", "class"]))
    elif mynet == "explicit":
        nets = ["127.0.0.0/8"] if rng.random() < 0.85 else []
        nets += rng.choice([["10.20.0.0/16"], ["10.0.0.0/8"], [], ["192.168.0.0/16"], ["10.20.30.40/32"]])
        if rng.random() < 0.3:
            nets.append("[::1]/128")
        if rng.random() < 0.08:
            nets.append("203.0.113.0/24")
            b.tags.append("outside-client-trusted")
        rng.shuffle(nets)
        b.set("mynetworks", b.join(nets or ["127.0.0.1"], True), decoy="127.0.0.0/8")
    elif mynet == "table":
        b.set("mynetworks", "127.0.0.0/8 " + b.table("mynetworks", [("10.20.0.0/16", "trusted")], ["cidr"]))
    elif mynet == "wide":
        b.set("mynetworks", "0.0.0.0/0")
        b.tags.append("mynetworks-everything")

    # --- restriction classes ---------------------------------------------------------------------
    if rng.random() < 0.2:
        names = rng.sample(["friends", "strict", "external", "relaxed"], rng.randint(1, 2))
        for name in names:
            b.classes[name] = []
        b.set("smtpd_restriction_classes", b.join(names, False))
        for name in names:
            body = rng.choice([["permit"], ["reject"], ["reject_unauth_destination"],
                               ["permit_mynetworks", "reject"], ["check_client_access", b.client_table()],
                               ["reject_unauth_destination", "permit"], ["defer_if_permit"]])
            b.classes[name] = body
            b.set(name, b.join(body, False))

    # --- SASL and TLS ----------------------------------------------------------------------------
    sasl_main = rng.random() < 0.3
    if sasl_main:
        b.set("smtpd_sasl_auth_enable", rng.choice(["yes", "yes", "YES"]))
    if cert is not None and rng.random() < 0.6:
        b.tls = True
        b.set("smtpd_tls_cert_file", "/etc/postfix/tls/harness-cert.pem")
        b.set("smtpd_tls_key_file", "/etc/postfix/tls/harness-key.pem")
        b.set("smtpd_tls_security_level", "may")
        b.files["/etc/postfix/tls/harness-cert.pem"] = cert[0].read_bytes()
        b.files["/etc/postfix/tls/harness-key.pem"] = cert[1].read_bytes()
    auth_only_main = rng.random() < 0.15
    if auth_only_main:
        b.set("smtpd_tls_auth_only", "yes")

    # --- restriction lists -----------------------------------------------------------------------
    relay_mode = rng.choices(["set", "unset", "empty"], [6, 3, 1])[0]
    legacy = relay_mode != "set" and rng.random() < 0.7
    if relay_mode == "set":
        b.set("smtpd_relay_restrictions", b.join(b.spice(b.relay_list(), "relay")),
              decoy="permit_mynetworks, reject_unauth_destination")
    elif relay_mode == "empty":
        b.set("smtpd_relay_restrictions", "")
    recipient = b.recipient_list(legacy)
    if recipient or rng.random() < 0.5:
        b.set("smtpd_recipient_restrictions", b.join(b.spice(recipient, "recipient")),
              decoy="permit_mynetworks, reject")
    for kind in ("client", "helo", "sender"):
        if rng.random() < 0.25:
            b.set(f"smtpd_{kind}_restrictions", b.join(b.spice(b.simple_list(kind), kind)))
    if rng.random() < 0.1:
        b.set("smtpd_delay_reject", "yes")
    if rng.random() < 0.1:
        b.set("smtpd_helo_required", "yes")
    if rng.random() < 0.08:
        b.set("soft_bounce", "yes")
        b.tags.append("soft_bounce")
    for name, values in (("relay_domains_reject_code", ["550", "554", "450"]), ("reject_code", ["550", "554"]),
                         ("access_map_reject_code", ["550", "554"]), ("unknown_local_recipient_reject_code",
                                                                       ["450", "550"])):
        if rng.random() < 0.05:
            b.set(name, rng.choice(values))

    # --- master.cf -------------------------------------------------------------------------------
    smtp_entry = "smtp      inet  n       -       n       -       -       smtpd"
    smtp_sasl = sasl_main
    if rng.random() < 0.08:
        value = rng.choice(["no", "yes"])
        smtp_entry += f"\n  -o smtpd_sasl_auth_enable={value}"
        smtp_sasl = value == "yes"
    b.services.append({"name": "smtp", "port": 25, "sasl": smtp_sasl, "tls": b.tls, "encrypt": False,
                       "auth_only": auth_only_main})
    entries = [smtp_entry]
    if rng.random() < 0.75:
        opts = ["syslog_name=postfix/submission"]
        sub_sasl = sasl_main
        if rng.random() < 0.85:
            opts.append("smtpd_sasl_auth_enable=yes")
            sub_sasl = True
        encrypt = b.tls and rng.random() < 0.5
        if encrypt:
            opts.append("smtpd_tls_security_level=encrypt")
        auth_only = auth_only_main
        if b.tls and rng.random() < 0.4:
            opts.append("smtpd_tls_auth_only=yes")
            auth_only = True
        if rng.random() < 0.25:
            opts.append("smtpd_client_restrictions=permit_sasl_authenticated,reject")
        r = rng.random()
        if r < 0.25:
            opts.append("smtpd_recipient_restrictions=permit_sasl_authenticated,reject")
        elif r < 0.35:
            opts.append("smtpd_recipient_restrictions=")
        r = rng.random()
        if r < 0.3:
            opts.append("smtpd_relay_restrictions=permit_sasl_authenticated,reject")
        elif r < 0.45:
            opts.append("smtpd_relay_restrictions=$mua_relay_restrictions")
            b.set("mua_relay_restrictions", b.join(rng.choice([
                ["permit_sasl_authenticated", "reject"], ["permit_sasl_authenticated", "permit_mynetworks", "reject"],
                ["permit_mynetworks", "reject_unauth_destination"]]), False))
        if rng.random() < 0.2:
            opts.append("smtpd_reject_unlisted_recipient=no")
        if rng.random() < 0.1:
            opts.append("{ smtpd_helo_restrictions = permit_mynetworks, permit }")
        rng.shuffle(opts)
        entries.append("submission inet n       -       n       -       -       smtpd\n" +
                       "\n".join(f"  -o {o}" for o in opts))
        b.services.append({"name": "submission", "port": 587, "sasl": sub_sasl, "tls": b.tls,
                           "encrypt": encrypt, "auth_only": auth_only})
    # Drawn from their own stream, so that adding them did not change the configurations before them.
    rng_smtps = random.Random(f"mailcfg-postfix-{seed}-{index}-smtps")
    if b.tls and rng_smtps.random() < 0.3:
        opts = ["syslog_name=postfix/smtps", "smtpd_tls_wrappermode=yes", "smtpd_sasl_auth_enable=yes"]
        r = rng_smtps.random()
        if r < 0.3:
            opts.append("smtpd_relay_restrictions=permit_sasl_authenticated,reject")
        elif r < 0.5:
            opts.append("smtpd_client_restrictions=permit_sasl_authenticated,reject")
        rng_smtps.shuffle(opts)
        entries.append("smtps     inet  n       -       n       -       -       smtpd\n" +
                       "\n".join(f"  -o {o}" for o in opts))
        b.services.append({"name": "smtps", "port": 465, "sasl": True, "tls": True, "encrypt": True,
                           "auth_only": False, "wrapper": True})

    # --- write ------------------------------------------------------------------------------------
    etc = root / "etc" / "postfix"
    (etc / "main.cf").write_text("\n".join(b.main) + "\n")
    (etc / "master.cf").write_text(master_cf(entries))
    for path, text in b.tables.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    for path, data in b.files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        if "key" in target.name:
            target.chmod(0o600)
    finish_snapshot(root)
    (root / "etc" / "hosts").write_text(HOSTS)
    (root / ".mailcfg-host").mkdir()
    (root / ".mailcfg-host" / "facts.json").write_text(json.dumps(facts, indent=1))

    probes = probe_battery(b, rng, hostname, local_domains, relay_rcpts, virtual_rcpts, max_probes, rng_smtps)
    gen = Generated(index, seed, root, probes, sorted(set(b.tags)))
    (root / ".mailcfg-test").mkdir()
    (root / ".mailcfg-test" / "config.json").write_text(json.dumps(gen.to_json(), indent=1))
    return gen


def probe_battery(b, rng: random.Random, hostname: str, local_domains: list[str], relay_rcpts: list[str],
                  virtual_rcpts: list[str], max_probes: int, rng_smtps: random.Random) -> list[Probe]:
    """The standard probes for B's services and table keys (a _Builder, or the same fields read from a
    configuration: tests/realworld.py)."""
    outside = lambda: rng.choice(OUTSIDE)  # noqa: E731
    local = local_domains[0] if local_domains else hostname
    foreign = f"x@{FOREIGN}"
    core: list[Probe] = []
    extra: list[Probe] = []
    wrapped: list[Probe] = []
    for svc in b.services:
        name, port = svc["name"], svc["port"]
        if svc.get("wrapper"):  # TLS from the first byte: every probe has tls=True
            wrapped += [Probe(rng_smtps.choice(OUTSIDE), foreign, SENDER, HELO, sasl_user=SASL_USER, tls=True,
                              service=name, port=port),
                        Probe(rng_smtps.choice(OUTSIDE), foreign, SENDER, HELO, tls=True, service=name, port=port),
                        Probe(TRUSTED, foreign, SENDER, HELO, tls=True, service=name, port=port),
                        Probe(rng_smtps.choice(OUTSIDE), f"postmaster@{local}", SENDER, HELO, tls=True,
                              service=name, port=port)]
            continue
        tls_probe = svc["tls"] and (svc["encrypt"] or svc["auth_only"] or rng.random() < 0.3)

        def p(client: str, rcpt: str, _name=name, _port=port, **kw) -> Probe:
            kw.setdefault("sender", SENDER)
            kw.setdefault("helo", HELO)
            return Probe(client, rcpt, service=_name, port=_port, **kw)

        core += [p(outside(), foreign), p(outside(), f"postmaster@{local}"), p(TRUSTED, foreign),
                 p(outside(), foreign, sasl_user=SASL_USER)]
        if tls_probe:
            core += [p(outside(), foreign, sasl_user=SASL_USER, tls=True), p(outside(), foreign, tls=True)]
        if name == "smtp":
            core += [p("127.0.0.1", foreign), p(outside(), rng.choice(relay_rcpts)),
                     p(outside(), f"nosuchuser@{local}"), p(LAN, foreign)]
            core += [p(outside(), r) for r in virtual_rcpts]
            core += [p(TRUSTED, f"postmaster@{local}"), p(outside(), f"postmaster@{local}", sasl_user=SASL_USER)]
            extra += [p(outside(), r) for r in relay_rcpts[1:]]
            # address tricks open-relay scanners use to sneak a foreign destination past the relay check
            extra += [p(outside(), a) for a in scanner_forms(local, hostname, rng)]
            # who scanners pretend to be: the empty sender, a local sender, the server's own name or address
            # as HELO, and clients over IPv6
            extra += [p(outside(), foreign, sender=""), p(outside(), foreign, sender=f"postmaster@{local}"),
                      p(outside(), foreign, sender="root"), p(outside(), foreign, helo=hostname),
                      p(outside(), foreign, helo="[127.0.0.1]"), p(outside(), foreign, helo="localhost"),
                      p(OUTSIDE6, foreign), p(OUTSIDE6, f"postmaster@{local}"), p("::1", foreign)]
            extra += [p(SPECIAL_CLIENT, foreign), p(SPECIAL_CLIENT, f"postmaster@{local}")]
            extra += [p(outside(), foreign, client_name=n) for n in b.client_names]
            extra += [p(outside(), foreign, helo=h) for h in b.helo_keys]
            extra += [p(outside(), f"postmaster@{local}", helo=h) for h in b.helo_keys[:1]]
            extra += [p(outside(), foreign, helo=None), p(outside(), f"postmaster@{local}", helo=None),
                      p(outside(), f"postmaster@{local}", helo="bad_host!name"),
                      p(outside(), f"postmaster@{local}", helo="nodots"),
                      p(outside(), f"postmaster@{local}", helo="[198.51.100.7]")]
            for key in b.sender_keys:
                special = {"<>": "", "postmaster@": f"postmaster@{FOREIGN}"}
                sender = special.get(key, key if "@" in key else f"bob@{key}")
                extra += [p(outside(), foreign, sender=sender), p(outside(), f"postmaster@{local}", sender=sender)]
            extra += [p(outside(), f"postmaster@{local}", sender=""), p(outside(), f"postmaster@{local}",
                                                                         sender="user")]
            for key in b.rcpt_keys:
                rcpt = {"postmaster@": f"postmaster@{FOREIGN}"}.get(key, key if "@" in key else f"x@{key}")
                extra.append(p(outside(), rcpt))
            extra.append(p(outside(), f"x@{FOREIGN.upper()}"))
        else:
            core += [p(TRUSTED, f"postmaster@{local}"), p(outside(), f"postmaster@{local}", sasl_user=SASL_USER),
                     p(outside(), f"postmaster@{local}")]
            extra += [p("127.0.0.1", foreign), p(outside(), rng.choice(relay_rcpts), sasl_user=SASL_USER)]
    rng.shuffle(extra)
    seen: set[Probe] = set()
    probes = []
    for probe in core + wrapped + extra:
        if probe not in seen and len(probes) < max_probes:
            seen.add(probe)
            probes.append(probe)
    return probes


def scanner_forms(local: str, hostname: str, rng: random.Random) -> list[str]:
    """Recipient forms open-relay scanners try against a server whose own domain is LOCAL: a few of each
    kind, in the spellings that vary (case, a final dot, more than one route hop)."""
    forms = [
        f"user%{FOREIGN}@{local}", f"user%{FOREIGN}@[127.0.0.1]", f'"user%{FOREIGN}"@{local}',  # % hack
        f"@{local}:user@{FOREIGN}", f"@{local},@{hostname}:user@{FOREIGN}",  # source routes, one or two hops
        f"@{local.upper()}:user@{FOREIGN}",
        f'"user@{FOREIGN}"@{local}', f'"user@{FOREIGN}"',  # quoted local parts
        f"{FOREIGN}!user@{local}", f"{FOREIGN}!user", f"{local}!{FOREIGN}!user",  # bang paths
        f"user@{FOREIGN}@{local}", f"user@{local}@{FOREIGN}",  # user@remote@local and the reverse
        "user@[127.0.0.1]", "user@[192.0.2.44]", "user@[IPv6:2001:db8::44]", f"user@[{FOREIGN}]",  # literals
        f"x@{FOREIGN.upper()}", f"x@{FOREIGN}.", f"postmaster@{local.upper()}.", f"postmaster@{local}.",
        f"x@{RELAY}.", f"x@{FOREIGN}..",  # case and final dots
    ]
    return rng.sample(forms, 8)


def generate_batch(workdir: Path, seed: int, count: int, first: int = 0, dns: bool = False) -> list[Generated]:
    """Configurations first..first+count-1 of `seed` under `workdir`, for this machine's facts and map types,
    with a test certificate for those that use TLS."""
    facts, maps = namespace_facts(), available_map_types()
    cert = make_certificate(workdir / "tls")
    return [generate(workdir / f"seed{seed}-{i:04d}", seed, i, facts=facts, map_types=maps, cert=cert, dns=dns)
            for i in range(first, first + count)]
