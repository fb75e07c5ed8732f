"""exim-open-relay and the Exim fixes, judged by the real Exim 4.96.

For generated configurations (plain and Debian), exim-open-relay must fire exactly where the real
Exim lets an outsider relay (the rule's own outsider probes, asked of the real Exim). Then the
open relays are fixed with the real command line (`mailcfg fix --write`, safe fixes first, then
unsafe ones); the real Exim, on the fixed files (Debian: regenerated with the real
update-exim4.conf), must refuse every outsider, and every other probe of the generator must get
the answer it got before, except outsiders' relay attempts and (after the unsafe fix) clients in
the ranges it removed.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import realexim as rx
from exim_generator import generate_batch, real_config, write_snapshot
from mailcfg.exim.config import load_exim
from mailcfg.exim.engine import recipient_domain
from mailcfg.exim.match import in_list
from mailcfg.exim.probes import listening_ports, outsider_trials, user_trial
from mailcfg.exim.session import Session, World
from mailcfg.lint import lint_snapshot
from mailcfg.rules.exim_relay import open_relays, wide_items
from mailcfg.snapshot import load_local
from mailcfg.transaction import Probe
from test_exim_differential import with_host_addresses

SEED = int(os.environ.get("MAILCFG_EXIM_FIX_SEED", "23"))
CONFIGS = int(os.environ.get("MAILCFG_EXIM_FIX_CONFIGS", "35"))
NO_DNS = World(dns=False)


def _real_open(gen, root: Path, work: Path) -> bool:
    config = load_exim(load_local(str(root)))
    probes = [t.probe for t in outsider_trials(config, NO_DNS)]
    real = real_config(gen, root, work)
    return any(a.action == "accept" for a in rx.real_answers(real.path, probes, real.macros))


def _fix(root: Path, unsafe: bool) -> str:
    """The real command line, as an admin runs it; what it says."""
    args = ["fix", str(root), "--write", "--rule", "exim-open-relay", "--rule", "exim-relay-from-any"]
    run = subprocess.run([sys.executable, "-m", "mailcfg", *args, *(["--unsafe-fixes"] if unsafe else [])],
                         capture_output=True, text=True, check=False, timeout=300)
    assert run.returncode in (0, 1) and "Traceback" not in run.stderr, run.stderr
    return run.stderr


def _ours(config, domain: str) -> bool:
    """Whether the (fixed) configuration receives or relays mail for `domain` from anyone."""
    session = Session(config, Probe("198.51.100.1", f"x@{domain}"), NO_DNS)
    lists = " : ".join(f"+{n}" for n in ("local_domains", "relay_to_domains") if ("domain", n) in config.parsed.lists)
    return bool(lists) and bool(in_list(session.env, "domain", lists, domain))


def _intended(probe, answer: rx.Answer, fixed, removed: list[str], whole_acl: bool, ports: list[int]) -> bool:
    """A change the fixes are meant to make: a relay attempt by a client that is not logged in, for a
    domain the fixed configuration does not take mail for (the wildcard that made it "ours" is gone;
    the domain as the RCPT ACL sees it, after the percent hack), or a client in a removed range. After
    acl_smtp_rcpt is pointed from an inline ACL at the configuration's RCPT ACL (`whole_acl`, an unsafe
    fix), that ACL's refusals of clients that are not logged in are intended too. A transaction on a
    port the daemon does not listen on (the generator asks Exim as if it arrived there) cannot happen:
    what the fix does to it is nobody's loss (`ports`: the original's, which the fix must keep)."""
    if rx.probe_port(probe) not in ports:
        return True
    domain = recipient_domain(fixed, probe, NO_DNS)  # None: an address Exim refuses, or one that may stay local
    if not answer.auth_ok and (whole_acl or (domain is not None and not _ours(fixed, domain.lower()))):
        return True
    client = ipaddress.ip_address(probe.client)
    for item in removed:
        try:
            if client in ipaddress.ip_network(item.strip(), strict=False):
                return True
        except ValueError:
            if item.strip() == "*":
                return True
    return False


def test_open_relay_rule_and_fixes_against_real_exim(tmp_path: Path):
    counts: Counter[str] = Counter()
    problems: list[str] = []
    for gen in generate_batch(SEED, CONFIGS):
        root = with_host_addresses(write_snapshot(gen, tmp_path / gen.name))
        config = load_exim(load_local(str(root)))
        found = bool(open_relays(config, NO_DNS))
        real_open = _real_open(gen, root, tmp_path / "real")
        counts["configs"] += 1
        counts["open (real)"] += real_open
        if found != real_open:
            problems.append(f"{gen.name}: exim-open-relay {'fires' if found else 'is silent'} but the real Exim "
                            f"{'lets' if real_open else 'does not let'} an outsider relay")
            continue
        if not real_open:
            continue
        original = real_config(gen, root, tmp_path / "before")
        before = rx.real_answers(original.path, gen.probes, original.macros)
        removed = [item for item, _, _ in wide_items(config)]
        fixed = tmp_path / "fixed" / gen.name
        shutil.copytree(root, fixed)
        said = _fix(fixed, unsafe=False)
        if _real_open(gen, fixed, tmp_path / "real"):
            said += _fix(fixed, unsafe=True)
            if _real_open(gen, fixed, tmp_path / "real"):
                counts["left open"] += 1
                if open_relays(load_exim(load_local(str(fixed))), NO_DNS):
                    continue  # no fix offered, and lint still says so: left for the admin
                problems.append(f"{gen.name}: still an open relay after the fixes, and lint no longer says so")
                continue
            counts["closed by the unsafe fix"] += 1
        else:
            counts["closed by the safe fix"] += 1
            removed = []
        after_real = real_config(gen, fixed, tmp_path / "after")
        after = rx.real_answers(after_real.path, gen.probes, after_real.macros)
        fixed_config = load_exim(load_local(str(fixed)))
        ports = listening_ports(config)
        if listening_ports(fixed_config) != ports:
            problems.append(f"{gen.name}: the fixes changed the ports Exim listens on: {ports} -> "
                            f"{listening_ports(fixed_config)}")
        for probe, old, new in zip(gen.probes, before, after, strict=True):
            whole_acl = "(unsafe): acl_smtp_rcpt = " in said
            if (old.action, old.lines) != (new.action, new.lines) and \
                    not _intended(probe, old, fixed_config, removed, whole_acl, ports):
                problems.append(f"{gen.name}: {probe} changed from {old.lines} to {new.lines}")
    print(f"\nExim fixes, seed {SEED}: {dict(counts)}")
    assert counts["open (real)"] >= 3, counts
    assert counts["closed by the safe fix"] + counts["closed by the unsafe fix"] >= 1, counts
    assert not problems, "\n".join(problems[:15])


def test_users_cannot_relay_fix_against_real_exim(tmp_path: Path):
    """Where logged-in users are refused, the fix lets the real Exim accept them, and no outsider
    gains anything."""
    counts: Counter[str] = Counter()
    problems: list[str] = []
    for gen in generate_batch(SEED + 1, CONFIGS):
        root = with_host_addresses(write_snapshot(gen, tmp_path / gen.name))
        config = load_exim(load_local(str(root)))
        if not any(f.rule == "exim-users-cannot-relay" for f in lint_snapshot(load_local(str(root))).findings):
            continue
        counts["users refused"] += 1
        user = user_trial(config, NO_DNS).probe
        outsiders = [t.probe for t in outsider_trials(config, NO_DNS)]
        real = real_config(gen, root, tmp_path / "before")
        [before] = rx.real_answers(real.path, [user], real.macros)
        if before.action == "accept":
            problems.append(f"{gen.name}: the rule says users are refused, the real Exim accepts {user}")
            continue
        outside_before = rx.real_answers(real.path, outsiders, real.macros)
        fixed = tmp_path / "fixed" / gen.name
        shutil.copytree(root, fixed)
        run = subprocess.run([sys.executable, "-m", "mailcfg", "fix", str(fixed), "--write", "--rule",
                              "exim-users-cannot-relay"], capture_output=True, text=True, check=False, timeout=300)
        assert "Traceback" not in run.stderr, run.stderr
        after_real = real_config(gen, fixed, tmp_path / "after")
        [after] = rx.real_answers(after_real.path, [user], after_real.macros)
        if "fix exim-users-cannot-relay" not in run.stderr:
            counts["no fix offered"] += 1
            continue
        counts["fixed"] += 1
        if after.action != "accept":
            problems.append(f"{gen.name}: after the fix the real Exim still says {after.lines} to {user}")
        for probe, old, new in zip(outsiders, outside_before, rx.real_answers(after_real.path, outsiders,
                                                                               after_real.macros), strict=True):
            if new.action == "accept" and old.action != "accept":
                problems.append(f"{gen.name}: the fix lets an outsider relay: {probe}")
    print(f"\nExim users-cannot-relay fixes, seed {SEED + 1}: {dict(counts)}")
    assert counts["fixed"] >= 2, counts
    assert not problems, "\n".join(problems[:15])
