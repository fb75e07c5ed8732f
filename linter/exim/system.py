"""Exim as mailcfg sees it: where its configuration is, how it is loaded and decides, how fixes reach a host."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from mailcfg.dependence import Dependency, relevant
from mailcfg.errors import MailcfgError
from mailcfg.exim import collect
from mailcfg.exim.services import SERVICE_PORTS, service_port
from mailcfg.snapshot import Mount, Snapshot
from mailcfg.system import Decider, Layout, MailSystem, Model, Wanted, output
from mailcfg.transaction import Decision, Probe

if TYPE_CHECKING:
    from mailcfg.exim.config import EximConfig

EXIM_DIR = "/etc/exim4"
DEBIAN_CONF = "update-exim4.conf.conf"
# Names Exim's own files go by: a directory holding one is an Exim configuration directory.
FILES = ("exim4.conf", "exim4.conf.template", DEBIAN_CONF, "exim.conf", "configure")
# Lines only an Exim configuration has: section starts, named lists, includes.
_EXIM_LINE = re.compile(r"^[ \t]*(?:begin[ \t]+(?:acls?|routers?|transports?|authenticators?|retrys?|rewrites?"
                        r"|local_scans?)[ \t]*$|(?:domain|host|address|localpart)list[ \t]+\w+[ \t]*="
                        r"|\.include(?:_if_exists)?[ \t])", re.M | re.I)
# router/transport/authenticator definitions without their `begin`: one part of Debian's conf.d
_CONF_D_PART = (re.compile(r"^[ \t]*driver[ \t]*=", re.M),
                "a part of Debian's split Exim configuration? lint the directory holding conf.d and "
                "update-exim4.conf.conf")


# Exim's option table, a collection's redaction and fix --apply's script load when asked (a Postfix
# target's lint asks none of them).
def _knows(name: str) -> bool:
    from mailcfg.exim.options import known

    return name in known().main


def _redact(collected):
    from mailcfg.exim.redact import redact

    return redact(collected)


def _mta(run):
    from mailcfg.exim.reload import EXIM, EXIM_DEBIAN

    # Debian's fixes edit update-exim4.conf's input, which rebuilds what Exim reads
    return EXIM_DEBIAN if any(fix.stale for fix in run.applied) else EXIM


def _detect(snapshot: Snapshot) -> bool:
    if snapshot.is_snapshot:
        return any((snapshot.root / d).is_dir() for d in ("etc/exim4", "etc/exim"))
    found = [snapshot.local_path(f"{EXIM_DIR}/{name}") for name in (*FILES, "conf.d")]
    return any(p is not None and os.path.lexists(p) for p in found[:-1]) or (found[-1] is not None
                                                                            and found[-1].is_dir())


def _single(target: str, path: Path) -> list[Mount]:
    """update-exim4.conf.conf with its directory (conf.d, the template); another Exim configuration alone."""
    if path.name == DEBIAN_CONF:
        return [Mount(EXIM_DIR, path.parent)]
    return [Mount(EXIM_DIR + "/exim4.conf", path, shown=target)]


# The parser and the engine load with the first Exim configuration, not with the list of systems
# (every run consults it: a Postfix host's lint, `mailcfg --help`'s neighbours, a fleet's start).
def _load(snapshot: Snapshot, _: Mapping[str, Model]) -> EximConfig:
    from mailcfg.exim.config import load_exim

    return load_exim(snapshot)


def _decider(exim: Model) -> Decider:
    from mailcfg.exim.config import EximConfig
    from mailcfg.exim.dependence import dependencies
    from mailcfg.exim.engine import decide as decide_exim

    assert isinstance(exim, EximConfig)

    def decide(probe: Probe) -> tuple[Decision, list[Dependency]]:
        probe = _port_probe(probe)
        decision = decide_exim(exim, probe)
        return decision, relevant(dependencies(exim, probe, decision), decision.action)
    return decide


def _port_probe(probe: Probe) -> Probe:
    """Exim has no master.cf: a service names its port (smtp, submission, submissions, or a number)."""
    if probe.service is None:
        return probe
    port = service_port(probe.service)
    if port is None:
        raise MailcfgError(f"Exim has no service {probe.service!r}: name a port (--port N) or one of "
                           f"{', '.join(SERVICE_PORTS)}")
    if probe.port is not None and probe.port != port:
        raise MailcfgError(f"service {probe.service!r} is port {port}, not {probe.port}: "
                           f"give --service or --port, not both")
    return replace(probe, port=port, service=None)


def _wanted(snapshot: Snapshot | None, commands: Mapping[str, tuple[int, bytes]]) -> Wanted:
    found = Wanted()
    if snapshot is not None:
        from mailcfg.exim.references import references

        refs = references(snapshot)
        found = Wanted(refs.reads, refs.optional, refs.loads, refs.secrets)
    # the file `exim -bP config_file` names: a build may read its configuration from anywhere
    rc, out = commands.get("exim-bP-config_file", (1, b""))
    path = out.decode("utf-8", "replace").strip()
    if rc == 0 and path.startswith("/") and "\n" not in path:
        found.optional.add(path)
        found.loads.add(path)
    return found


def _subject(exim: Model, file: str, line: int) -> str | None:
    from mailcfg.exim.subject import subject

    return subject(exim, file, line)


def _host_facts(files: Mapping[str, bytes], commands: Mapping[str, tuple[int, bytes]]) -> dict | None:
    if not any(p.startswith((EXIM_DIR + "/", "/etc/exim/")) for p in files) and "exim-bV" not in commands:
        return None
    m = re.search(r"Exim version (\S+)", output(commands, "exim-bV") or "")
    return {"version": m[1]} if m else {}


SYSTEM = MailSystem(
    name="exim",
    title="Exim",
    detect=_detect,
    load=_load,
    layout=Layout(
        directories=(EXIM_DIR, "/etc/exim"),
        looked_for="Exim configuration or " + DEBIAN_CONF,
        single=_single,
        by_name=lambda name: name in FILES or name == "config.autogenerated",
        sure=lambda text: _EXIM_LINE.search(text) is not None,
        knows=_knows,
        hints=(_CONF_D_PART,),
    ),
    decider=_decider,
    mta=_mta,
    owns=(EXIM_DIR + "/", "/etc/exim/", "/etc/exim.conf"),
    wanted=_wanted,
    host_facts=_host_facts,
    collect=collect.SCRIPT,
    redact=_redact,
    first_files=(*collect.FILES, collect.CONF_D),  # phase 1 sends every conf.d part run_parts can pick
    subject=_subject,
    fix_order=("exim-no-rcpt-acl", "exim-open-relay", "exim-relay-from-any", "exim-users-cannot-relay",
               "exim-auth-without-tls"),
    fix_first=("exim-open-relay", "exim-relay-from-any", "exim-no-rcpt-acl"),
)
