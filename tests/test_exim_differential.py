"""The Exim decision engine against the real Exim 4.96 (`exim4 -C FILE -bh ADDRESS`).

Configurations the project has never seen come from tests/exim_generator.py (plain ones, and
Debian ones built by the real update-exim4.conf); each probe is asked of the real Exim and of the
engine, which must give the same answer and the same reply text. There is no DNS on this machine:
the engine is told so (World(dns=False)), and must then predict what Exim does without it.

MAILCFG_EXIM_SEED and MAILCFG_EXIM_CONFIGS choose other or larger batches.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path

import realexim as rx
from exim_generator import generate_batch, real_config, write_snapshot
from mailcfg.exim.config import load_exim
from mailcfg.exim.engine import decide
from mailcfg.exim.session import World
from mailcfg.remote.collect import IP_ADDR
from mailcfg.snapshot import load_local
from mailcfg.transaction import Decision

SEED = int(os.environ.get("MAILCFG_EXIM_SEED", "11"))
CONFIGS = int(os.environ.get("MAILCFG_EXIM_CONFIGS", "30"))
NO_DNS = World(dns=False)


def with_host_addresses(root: Path) -> Path:
    """The machine's interface addresses in the snapshot's facts, as `mailcfg fetch` records them
    (`@[]` in Exim lists means them)."""
    facts = root / ".mailcfg-host" / "facts.json"
    data = json.loads(facts.read_text())
    out = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=True).stdout
    data["addresses"] = [{"interface": m[1], "address": m[2], "prefix": int(m[3])} for m in IP_ADDR.finditer(out)]
    facts.write_text(json.dumps(data))
    return root


def agrees(decision: Decision, answer: rx.Answer) -> bool:
    if answer.stage == "starttls":  # the probe wanted TLS and Exim offered none: the engine must know that
        return any(s.what == "STARTTLS" and s.result == "not offered" for s in decision.trace)
    return decision.action == answer.action and decision.reply == "\n".join(answer.lines)


def test_engine_answers_as_real_exim_does(tmp_path: Path):
    counts: Counter[str] = Counter()
    wrong: list[str] = []
    for gen in generate_batch(SEED, CONFIGS):
        root = with_host_addresses(write_snapshot(gen, tmp_path / gen.name))
        real = real_config(gen, root, tmp_path / "real")
        answers = rx.real_answers(real.path, gen.probes, real.macros)
        config = load_exim(load_local(str(root)))
        counts[gen.kind] += 1
        for probe, answer in zip(gen.probes, answers, strict=True):
            decision = decide(config, probe, NO_DNS)
            counts["probes"] += 1
            if decision.undecided:
                counts["undecided"] += 1
                continue
            if agrees(decision, answer):
                counts["agree"] += 1
            else:
                wrong.append(f"{gen.name}: {probe}\n  exim: {answer.lines}\n  mailcfg: {decision.reply} "
                             f"({decision.action})")
    print(f"\nExim differential, seed {SEED}: {dict(counts)}")
    assert counts["plain"] and counts["debian"], counts
    assert counts["undecided"] <= counts["probes"] // 50, counts  # the engine decides nearly everything
    assert not wrong, f"{len(wrong)} of {counts['probes']} probes disagree:\n" + "\n".join(wrong[:15])
