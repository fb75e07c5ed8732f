"""What a fix would change: the configuration with its edits applied, read afresh and asked again.

A relay fix must close the relay and nothing else: mail from the internet to the host's own
domains, clients trusted to relay, and logged-in users must get the answers they get today. The
edited files are written to a private copy of the target, read like the original and decided
with the same engine.
"""

from __future__ import annotations

import ipaddress
import shutil
import tempfile
from pathlib import Path

from mailcfg.edits import Edit, apply
from mailcfg.exim.config import EximConfig, load_exim
from mailcfg.exim.engine import decide
from mailcfg.exim.lists import split_list
from mailcfg.exim.probes import OUTSIDE_HELO, local_domain_names, logged_in, user_trial
from mailcfg.outsiders import OUTSIDE_SENDER, OUTSIDE_V4, VICTIM
from mailcfg.postfix.probe import Probe
from mailcfg.snapshot import load_local


def legitimate(config: EximConfig, trusted: bool = True, users: bool = True) -> list[Probe]:
    """Mail that must keep working: from the internet to the host's domains (with a foreign and an
    empty sender), from each relay_from_hosts network (when `trusted`), and from a logged-in user
    (when `users`)."""
    probes = []
    for domain in local_domain_names(config)[:3]:
        for sender in (OUTSIDE_SENDER, ""):
            probes.append(Probe(OUTSIDE_V4[0], f"postmaster@{domain}", sender, OUTSIDE_HELO))
    named = config.parsed.lists.get(("host", "relay_from_hosts"))
    for item in split_list(named.value) if named and trusted else []:
        host = _first_host(item)
        if host:
            probes.append(Probe(host, VICTIM, OUTSIDE_SENDER, OUTSIDE_HELO))
    user = user_trial(config)
    if users and logged_in(user):  # a user who cannot log in is an outsider like any other
        probes.append(user.probe)
    return probes


def _first_host(item: str) -> str | None:
    try:
        net = ipaddress.ip_network(item.strip(), strict=False)
    except ValueError:
        return None
    return str(net.network_address if net.num_addresses <= 2 else net.network_address + 1)


def edited(config: EximConfig, edits: tuple[Edit, ...], work: Path) -> EximConfig:
    """The configuration as it would read with `edits` applied (files copied into `work`)."""
    snapshot = config.snapshot
    if snapshot.exim_file is not None:  # a single file: only it is the target
        work.mkdir()
        shutil.copy2(snapshot.exim_file, work / snapshot.exim_file.name)
    else:
        shutil.copytree(snapshot.root, work, symlinks=True)
    for name in {e.file for e in edits}:
        source = config.sources[name]
        assert source.real_path is not None
        target = work / source.real_path.relative_to(snapshot.root)
        target.write_text("".join(apply(source.lines, [e for e in edits if e.file == name])), encoding="utf-8",
                          errors="surrogateescape")
    entry = work / snapshot.exim_file.name if snapshot.exim_file is not None else work
    copy = load_local(str(entry), name=snapshot.target)
    copy.facts = snapshot.facts
    return load_exim(copy)


def keeps_answers(config: EximConfig, edits: tuple[Edit, ...], probes: list[Probe]) -> bool:
    """Whether every probe gets the same decided answer after `edits` as before."""
    with tempfile.TemporaryDirectory(prefix="mailcfg-whatif-") as tmp:
        after = edited(config, edits, Path(tmp) / "copy")
        for probe in probes:
            old, new = decide(config, probe), decide(after, probe)
            if old.undecided and new.undecided:
                continue  # nothing can be said about it either way
            if bool(old.undecided) != bool(new.undecided) or (old.action, old.reply) != (new.action, new.reply):
                return False
    return True
