"""Engine measurements in a process of their own, on configurations bench/run.py wrote.

Usage: engine_once.py DIR [INDEX]  - prints "<decisions> <seconds>"

DIR holds `system` (postfix or exim) and one folder per configuration: its snapshot (`snapshot/`) and
its probes (`probes.json`, each probe's fields: data, never code). Without INDEX every configuration is
decided, one after another, as a run over many snapshots decides them: what the engine keeps for the
whole process (value splits, address scans, expansions) carries over from one configuration to the
next. With INDEX that configuration alone is: nothing is known yet but what importing the engine
brings. Each configuration's probes are decided once (its first decisions); loading is not timed, the
work each configuration leaves until its first decisions (effective settings, tables) is.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


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
    if len(sys.argv) > 2:
        folders = [folders[int(sys.argv[2])]]
    configs = [(load(load_local(str(f / "snapshot"))),
                [Probe(**fields) for fields in json.loads((f / "probes.json").read_text())]) for f in folders]
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
