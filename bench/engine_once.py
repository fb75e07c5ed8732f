"""One engine measurement, in a process of its own (bench/run.py runs it several times and takes the median).

Usage: engine_once.py postfix|exim CONFIGS  - prints "<decisions> <seconds>"

The process loads the configurations of one system only, as `mailcfg test` loads the one it checks, and
decides each configuration's own probes once (the first time: nothing about them is known yet). The loading
is not timed; the lazily worked-out parts of each configuration (effective settings, tables) are.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def loaded(system: str, count: int, tmp: Path) -> tuple[list, object]:
    from mailcfg.snapshot import load_local

    if system == "postfix":
        from mailcfg.postfix.config import load_postfix
        from mailcfg.postfix.engine import decide
        from postfix_generator import generate_batch

        return [(load_postfix(load_local(str(g.root))), g.probes) for g in generate_batch(tmp, 18, count)], decide
    from exim_generator import generate_batch, write_snapshot
    from mailcfg.exim.config import load_exim
    from mailcfg.exim.engine import decide

    return [(load_exim(load_local(str(write_snapshot(g, tmp / str(i))))), g.probes)
            for i, g in enumerate(generate_batch(18, count))], decide


def main() -> None:
    system, count = sys.argv[1], int(sys.argv[2])
    with tempfile.TemporaryDirectory(prefix="mailcfg-bench-") as tmp:
        configs, decide = loaded(system, count, Path(tmp))
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
