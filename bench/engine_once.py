"""Engine measurements in a process of their own, on configurations bench/run.py wrote.

Usage: engine_once.py DIR [INDEX]       - prints "<decisions> <seconds>"
       engine_once.py DIR --varied N

DIR holds `system` (postfix or exim) and one folder per configuration: its snapshot (`snapshot/`) and
its probes (`probes.json`, each probe's fields: data, never code). Without INDEX every configuration is
decided, one after another, as a run over many snapshots decides them: what the engine keeps for the
whole process (value splits, address scans, expansions) carries over from one configuration to the
next. With INDEX that configuration alone is: nothing is known yet but what importing the engine
brings. Each configuration's probes are decided once (its first decisions); loading is not timed, the
work each configuration leaves until its first decisions (effective settings, tables) is.

With --varied N, each configuration decides N probes made from its own, every one with a client
address, HELO name, sender and recipient no earlier probe had (same domains, so the same paths are
taken): what `mailcfg test` of a long policy does, with nothing any per-value memo could reuse.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path


def varied(probe, i: int):
    """`probe` with the i-th client address, HELO, sender and recipient, new to this run."""
    _, at, domain = probe.rcpt.rpartition("@")
    _, s_at, s_domain = probe.sender.rpartition("@")
    return dataclasses.replace(
        probe, client=f"{1 + i * 37 % 223}.{i // 256 % 256}.{i % 256}.{1 + i * 7 % 253}",
        helo=None if probe.helo is None else f"host{i}.example{i % 7}.net",
        sender=f"s{i}@{s_domain}" if s_at else probe.sender, rcpt=f"r{i}@{domain}" if at else probe.rcpt)


def main() -> None:
    root = Path(sys.argv[1])
    from mailcfg.snapshot import load_local
    from mailcfg.transaction import Probe

    if (root / "system").read_text() == "postfix":
        from mailcfg.postfix.config import load_postfix as load
        from mailcfg.postfix.engine import decide
    else:
        from mailcfg.exim.config import load_exim as load
        from mailcfg.exim.engine import decide
    folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: int(p.name))
    many = int(sys.argv[3]) if sys.argv[2:3] == ["--varied"] else 0
    if len(sys.argv) == 3:
        folders = [folders[int(sys.argv[2])]]
    configs = [(load(load_local(str(f / "snapshot"))),
                [Probe(**fields) for fields in json.loads((f / "probes.json").read_text())]) for f in folders]
    if many:
        configs = [(config, [varied(probes[i % len(probes)], i) for i in range(many)]) for config, probes in configs]
    decisions, spent = 0, 0.0
    for config, probes in configs:
        start = time.perf_counter()
        for probe in probes:
            try:
                decide(config, probe)
            except Exception:  # a probe naming a service the configuration lacks: not a decision
                continue
            decisions += 1
        spent += time.perf_counter() - start
    print(decisions, spent)


if __name__ == "__main__":
    main()
