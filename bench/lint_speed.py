"""How fast `mailcfg lint` analyses local snapshots: parse + effective config + all rules.

Usage: .venv/bin/python bench/lint_speed.py [ROUNDS]
Prints snapshots per second over the bundled examples and the corpus's Postfix hosts
(each corpus host's main.cf/master.cf copied into a snapshot). Nothing here is asserted.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from mailcfg.lint import lint_path

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus" / "realworld" / "postfix"


def corpus_snapshots(root: Path) -> list[Path]:
    snaps = []
    for host in sorted(p for p in CORPUS.iterdir() if p.is_dir()):
        target = root / host.name / "etc" / "postfix"
        target.mkdir(parents=True)
        for f in host.iterdir():
            name = "master.cf" if "master.cf" in f.name else "main.cf"
            shutil.copy(f, target / name)
        snaps.append(root / host.name)
    return snaps


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    with tempfile.TemporaryDirectory() as tmp:
        targets = [p for p in sorted((REPO / "examples").iterdir()) if p.is_dir()] + corpus_snapshots(Path(tmp))
        findings = sum(len(lint_path(str(t)).findings) for t in targets)  # warm-up, and a sanity figure
        start = time.perf_counter()
        for _ in range(rounds):
            for t in targets:
                lint_path(str(t))
        elapsed = time.perf_counter() - start
    n = rounds * len(targets)
    print(f"{len(targets)} snapshots x {rounds} rounds: {elapsed:.2f} s, "
          f"{n / elapsed:.0f} snapshots/s, {1000 * elapsed / n:.1f} ms each ({findings} findings per round)")


if __name__ == "__main__":
    main()
