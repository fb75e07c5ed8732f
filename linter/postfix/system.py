"""Postfix as mailcfg sees it: where its configuration is, how it is loaded and decides, how fixes reach a host."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from mailcfg.dependence import Dependency, relevant
from mailcfg.errors import MailcfgError
from mailcfg.postfix import collect
from mailcfg.postfix.config import MAIN_CF, MASTER_CF, POSTFIX_DIR, PostfixConfig, load_postfix
from mailcfg.postfix.dependence import dependencies
from mailcfg.postfix.engine import decide_on, select_service
from mailcfg.postfix.known import has_service_suffix, is_known
from mailcfg.postfix.references import references
from mailcfg.postfix.services import port as listening_port
from mailcfg.postfix.services import views
from mailcfg.postfix.subject import subject
from mailcfg.snapshot import Mount, Snapshot
from mailcfg.system import Decider, Layout, MailSystem, Model, Wanted, output
from mailcfg.transaction import Decision, Probe


def _detect(snapshot: Snapshot) -> bool:
    return any((local := snapshot.local_path(p)) is not None and os.path.lexists(local) for p in (MAIN_CF, MASTER_CF))


def _single(target: str, path: Path) -> list[Mount]:
    """main.cf or master.cf (by name, or a file of settings) with the files beside it; it keeps its own name."""
    host = MASTER_CF if path.name.startswith("master.cf") else MAIN_CF
    return [Mount(host, path, shown=path.name), Mount(POSTFIX_DIR, path.parent)]


# What serves hosts only (fix --apply, a collection's redaction) loads with the first host: a local lint needs neither.
def _mta(_run):
    from mailcfg.postfix.reload import POSTFIX

    return POSTFIX


def _redact(collected):
    from mailcfg.postfix.redact import redact

    return redact(collected)


def _load(snapshot: Snapshot, _: Mapping[str, Model]) -> PostfixConfig:
    return load_postfix(snapshot)


def _decider(config: Model) -> Decider:
    assert isinstance(config, PostfixConfig)

    def decide(probe: Probe) -> tuple[Decision, list[Dependency]]:
        service = select_service(config, probe.service, probe.port)
        if probe.service is not None and probe.port is not None and listening_port(config, service) != probe.port:
            raise MailcfgError(f"service {probe.service!r} listens on port {listening_port(config, service)}, "
                               f"not {probe.port}: give --service or --port, not both")
        view = next(v for s, v in views(config) if s is service)
        decision = decide_on(view, probe)
        return decision, relevant(dependencies(view, probe, decision), decision.action)
    return decide


def _host_facts(files: Mapping[str, bytes], commands: Mapping[str, tuple[int, bytes]]) -> dict | None:
    if not any(p.endswith(("/main.cf", "/master.cf")) for p in files) and "postconf-n" not in commands:
        return None
    m = re.search(r"^mail_version\s*=\s*(\S+)", output(commands, "postconf-d-mail_version") or "", re.M)
    return {"version": m[1]} if m else {}


def _wanted(snapshot: Snapshot | None, _: Mapping[str, tuple[int, bytes]]) -> Wanted:
    if snapshot is None:
        return Wanted()
    refs = references(load_postfix(snapshot))
    return Wanted(reads=refs.reads, secrets=refs.secrets)


SYSTEM = MailSystem(
    name="postfix",
    title="Postfix",
    detect=_detect,
    load=_load,
    layout=Layout(
        directories=(POSTFIX_DIR,),
        looked_for="main.cf, master.cf",
        single=_single,
        by_name=lambda name: name.startswith(("main.cf", "master.cf")),
        knows=lambda name: is_known(name) or has_service_suffix(name),
        essential=(MAIN_CF, MASTER_CF),
        creatable=(MAIN_CF,),  # a fix may write main.cf where there is none; master.cf has the stock one
    ),
    decider=_decider,
    mta=_mta,
    owns=(POSTFIX_DIR + "/",),
    wanted=_wanted,
    host_facts=_host_facts,
    collect=collect.SCRIPT,
    redact=_redact,
    first_files=collect.FILES,
    subject=subject,
    is_setting=is_known,
    fix_order=("postfix-no-relay-check", "postfix-syntax", "postfix-open-relay", "postfix-mynetworks-too-wide",
               "postfix-permit-mx-backup", "postfix-submission-no-auth", "postfix-users-cannot-relay",
               "postfix-inbound-rejected", "postfix-sasl-anonymous", "postfix-auth-without-tls",
               "postfix-soft-bounce"),
    fix_first=("postfix-open-relay", "postfix-no-relay-check"),
)
