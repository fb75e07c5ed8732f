"""The Exim engine's what-if over undecided conditions concludes only from branches it explored."""

from __future__ import annotations

import json
from pathlib import Path

from mailcfg.exim.config import load_exim
from mailcfg.exim.engine import decide
from mailcfg.exim.session import World
from mailcfg.snapshot import load_local
from mailcfg.transaction import Probe

# Met, the first condition leads to a second one the snapshot cannot decide either (a file it lacks);
# a real Exim found on a public configuration answered 451 where that branch was cut short as "not met".
CONFIG = """\
acl_smtp_rcpt = acl_check_rcpt
begin acl
acl_check_rcpt:
  require verify = ${env{CHECK_WHAT}{recipient}{sender}}
  require condition = ${lookup{$local_part}lsearch{/etc/exim4/not-in-the-snapshot}{yes}{no}}
  accept
"""


def test_a_branch_with_undecided_conditions_of_its_own_is_no_conclusion(tmp_path: Path):
    root = tmp_path / "snap"
    (root / "etc" / "exim4").mkdir(parents=True)
    (root / "etc" / "exim4" / "exim4.conf").write_text(CONFIG)
    (root / ".mailcfg-host").mkdir()
    (root / ".mailcfg-host" / "facts.json").write_text(json.dumps({"hostname": "mx.example.com"}))
    decision = decide(load_exim(load_local(str(root))), Probe("198.51.100.7", "x@mx.example.com", "", "client.example"),
                      World(dns=False))
    assert decision.undecided, (decision.reply, [s.result for s in decision.trace])
