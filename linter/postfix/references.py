"""The host files a Postfix configuration makes the analysis read, and those that hold credentials.

A fetch collects only what the decision engine reads (an allow-list of parameters, expanded the way
Postfix expands them, in main.cf and in every smtpd service's `-o` overrides), never what a
credential setting names. Both sets are computed from the parsed configuration, so `$name`
indirection, continuation lines and `proxy:` wrapping are seen exactly as Postfix sees them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mailcfg.postfix.config import PostfixConfig
from mailcfg.postfix.effective import ParameterView
from mailcfg.postfix.restrictions import LISTS, class_names
from mailcfg.postfix.services import main_view, views
from mailcfg.postfix.tables import KEYED_FILE_TYPES, PATTERN_FILE_TYPES, WRAPPER_TYPES, parse_ref
from mailcfg.postfix.tokens import split

# Match lists and lookup tables the decision engine consults (relay, recipient, client, helo and
# sender decisions); restriction lists and classes are added per view.
ENGINE_PARAMETERS = (
    "mynetworks", "relay_domains", "mydestination", "permit_mx_backup_networks", "smtpd_sasl_exceptions_networks",
    "virtual_alias_domains", "virtual_mailbox_domains", "virtual_alias_maps", "virtual_maps",
    "virtual_mailbox_maps", "relay_recipient_maps", "local_recipient_maps", "alias_maps", "canonical_maps",
    "recipient_canonical_maps", "smtpd_sender_login_maps",
)
# A parameter whose files may hold passwords, private keys or certificates (which may carry the key).
CREDENTIAL_NAME = re.compile(r"passw|secret|credential|_key|_cert|_chain|tls", re.I)
# Any absolute path in a credential setting's value, whatever wraps it (unionmap:{...}, pipemap:{...},
# inline:{...}): a secret named too often is merely not collected, one missed would be.
ANY_PATH = re.compile(r"/[^\s,{}]+")
# Files collected by name whatever a parameter says: they hold no credential.
SYSTEM_FILES = frozenset({"/etc/passwd", "/etc/hosts", "/etc/mailname", "/etc/aliases"})


@dataclass
class References:
    """The files a configuration names: those the analysis reads and those holding secrets."""

    reads: set[str] = field(default_factory=set)  # host paths the analysis reads
    secrets: set[str] = field(default_factory=set)  # host paths named by a credential setting


def references(config: PostfixConfig) -> References:
    refs = References()
    seen_tables: set[str] = set()
    for view in [main_view(config), *(v for _, v in views(config))]:
        for name in (*ENGINE_PARAMETERS, *LISTS, *sorted(class_names(view))):
            for path, is_table in _files(view.get(name)):
                refs.reads.add(path)
                if is_table and name not in ENGINE_PARAMETERS:
                    _access_results(view, path, refs, seen_tables)
    credential_views = [main_view(config), *(ParameterView(config, s) for s in config.master.services)]
    names = {p.name for p in config.main.entries} | {o.name for s in config.master.services for o in s.overrides}
    for view in credential_views:
        for name in sorted(n for n in names if CREDENTIAL_NAME.search(n)):
            refs.secrets.update(path for path, _ in _files(view.get(name)))
            raw = view.raw(name) or ""  # the literal value too, should expansion have hidden a name
            refs.secrets.update(path for path, _ in _files(raw))
            for value in (view.get(name) or "", raw):
                refs.secrets.update(p for m in ANY_PATH.findall(value) for p in (m, m.rstrip(")")))
    refs.secrets -= SYSTEM_FILES
    return refs


def _files(value: str) -> list[tuple[str, bool]]:
    """(host path, is a table) for each file-based table and `/file` item in a list value."""
    found: list[tuple[str, bool]] = []
    for tok in split(value):
        for text in {tok.text, tok.inner()}:
            text = text.lstrip("!")
            if text.startswith("/"):
                found.append((text, False))
                continue
            path = _table_file(text)
            if path is not None:
                found.append((path, True))
    return found


def _table_file(text: str) -> str | None:
    ref = parse_ref(text)
    while ref is not None and ref.type in WRAPPER_TYPES:
        ref = parse_ref(ref.name)
    if ref is None or ref.type not in KEYED_FILE_TYPES | PATTERN_FILE_TYPES or not ref.name.startswith("/"):
        return None
    return ref.name


def _access_results(view: ParameterView, path: str, refs: References, seen: set[str]) -> None:
    """Tables named in the results of an access table (restriction lists it returns), once each."""
    if path in seen:
        return
    seen.add(path)
    real = view.config.snapshot.resolve(path)
    if real is None:
        return
    for line in real.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        words = line.split(None, 1)
        value = line if line[0].isspace() else words[1] if len(words) > 1 else ""  # a continuation is all value
        for inner, is_table in _files(value):
            refs.reads.add(inner)
            if is_table:
                _access_results(view, inner, refs, seen)
