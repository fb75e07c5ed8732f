"""The Exim engine's per-configuration memos (expansions by the variables they read, list answers by
subject) never change a decision: a probe decided on a configuration that has already decided
others gets the decision it gets on a fresh one, trace and assumptions included."""

from __future__ import annotations

import json
from pathlib import Path

from exim_generator import generate_batch, write_snapshot
from mailcfg.exim import expand
from mailcfg.exim.config import EximConfig, load_exim
from mailcfg.exim.engine import decide
from mailcfg.exim.session import World
from mailcfg.snapshot import load_local
from mailcfg.transaction import Probe

# A list answer that takes something for granted (no /etc/hosts: localhost is assumed), an expansion
# that depends on the sender, and one whose ${lookup} binds $value for its branches
CONFIG = """\
hostlist relay_from_hosts = localhost
acl_smtp_rcpt = acl_check_rcpt
begin acl
acl_check_rcpt:
  deny condition = ${if eq{$sender_address_domain}{blocked.example}}
       message = blocked sender
  accept hosts = +relay_from_hosts
  accept condition = ${lookup{$sender_address_local_part}lsearch{/etc/exim4/friends}{${if eq{$value}{yes}}}{no}}
  deny message = relay not permitted
"""
PROBES = [Probe("127.0.0.1", "x@elsewhere.example", "a@sender.example", "client.example"),
          Probe("127.0.0.1", "x@elsewhere.example", "a@blocked.example", "client.example"),
          Probe("198.51.100.7", "x@elsewhere.example", "friend@sender.example", "client.example"),
          Probe("198.51.100.7", "x@elsewhere.example", "enemy@sender.example", "client.example"),
          Probe("127.0.0.1", "x@elsewhere.example", "a@sender.example", "client.example")]


def _fresh(config: EximConfig, probe: Probe, world: World | None = None):
    config.memo.clear()  # what the configuration remembered: as if just loaded
    expand._SHARED.clear()  # and what every configuration's expansions gave
    return decide(config, probe, world)


def test_remembered_answers_decide_as_fresh_ones(tmp_path: Path):
    root = tmp_path / "snap"
    (root / "etc" / "exim4").mkdir(parents=True)
    (root / "etc" / "exim4" / "exim4.conf").write_text(CONFIG)
    (root / "etc" / "exim4" / "friends").write_text("friend: yes\nenemy: no\n")
    (root / ".mailcfg-host").mkdir()
    (root / ".mailcfg-host" / "facts.json").write_text(json.dumps({"hostname": "mx.example.com"}))
    config = load_exim(load_local(str(root)))
    shared = [decide(config, p) for p in PROBES]
    assert [d.action for d in shared] == ["accept", "reject", "accept", "reject", "accept"]
    assert [_fresh(config, p) for p in PROBES] == shared
    # the list answer remembered from the first probe still says what it took for granted
    assert any("localhost is taken to be" in s.what for s in shared[-1].trace)


def test_generated_configurations_in_any_order(tmp_path: Path):
    for i, generated in enumerate(generate_batch(31, 4)):
        config = load_exim(load_local(str(write_snapshot(generated, tmp_path / str(i)))))
        for world in (World(), World(dns=False)):
            forward = [decide(config, p, world) for p in generated.probes]
            backward = [decide(config, p, world) for p in reversed(generated.probes)][::-1]
            assert backward == forward, generated.name
            assert [_fresh(config, p, world) for p in generated.probes[::3]] == forward[::3], generated.name


def test_a_finished_session_is_freed_without_the_cycle_collector(tmp_path):
    """A session's Context and Environment call back into it without a reference cycle: decisions leave no
    session behind for the cycle collector, so a policy or relay search does not run it every few decisions."""
    import gc

    from mailcfg.exim.expand import Context
    from mailcfg.exim.match import Environment
    from mailcfg.exim.session import Session

    configs = [(load_exim(load_local(str(write_snapshot(g, tmp_path / str(i))))), g.probes)
               for i, g in enumerate(generate_batch(5, 12))]
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what the collector finds is kept in gc.garbage to be looked at
    try:
        decided = 0
        for config, probes in configs:
            for probe in probes:
                if probe.port in (None, 25, 465, 587):
                    decide(config, probe)
                    decided += 1
        gc.collect()
        left = [type(o).__name__ for o in gc.garbage if isinstance(o, Session | Context | Environment)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert decided > 100 and not left, (decided, left[:5])


def test_an_answer_kept_for_every_configuration_holds_only_where_the_files_it_asked_for_agree(tmp_path: Path):
    """Expansions are kept across configurations with whether each file they asked for exists: the same
    `${if exists}` text gives each configuration its own answer, whichever configuration came first."""
    text = CONFIG.replace("  accept hosts = +relay_from_hosts\n",
                          "  accept condition = ${if exists{/etc/exim4/open}{yes}{no}}\n"
                          "  accept hosts = +relay_from_hosts\n")
    outsider = Probe("198.51.100.7", "x@elsewhere.example", "enemy@sender.example", "client.example")
    configs = {}
    for name, open_file in (("closed", False), ("open", True)):
        root = tmp_path / name
        (root / "etc" / "exim4").mkdir(parents=True)
        (root / "etc" / "exim4" / "exim4.conf").write_text(text)
        (root / "etc" / "exim4" / "friends").write_text("friend: yes\nenemy: no\n")
        if open_file:
            (root / "etc" / "exim4" / "open").write_text("")
        configs[name] = root
    for order in (("closed", "open"), ("open", "closed")):
        expand._SHARED.clear()
        actions = {name: decide(load_exim(load_local(str(configs[name]))), outsider).action for name in order}
        assert actions == {"closed": "reject", "open": "accept"}, order


def test_an_answer_that_read_a_files_lines_is_kept_for_its_own_configuration_only(tmp_path: Path):
    outsider = Probe("198.51.100.7", "x@elsewhere.example", "enemy@sender.example", "client.example")
    roots = {}
    for name, friends in (("no", "enemy: no\n"), ("yes", "enemy: yes\n")):
        root = roots[name] = tmp_path / name
        (root / "etc" / "exim4").mkdir(parents=True)
        (root / "etc" / "exim4" / "exim4.conf").write_text(CONFIG)
        (root / "etc" / "exim4" / "friends").write_text(friends)
    for order in (("no", "yes"), ("yes", "no")):
        expand._SHARED.clear()
        actions = {name: decide(load_exim(load_local(str(roots[name]))), outsider).action for name in order}
        assert actions == {"no": "reject", "yes": "accept"}, order


def test_the_answers_kept_for_the_whole_run_stay_bounded():
    """A text that reads the client's address gets an answer per client: however many clients a long run
    sees, the text's tree starts over before it holds more than expand._ANSWERS_PER_TEXT of them."""
    text = "${if eq{$sender_host_address}{192.0.2.1}{yes}{no}}"
    expand._SHARED.clear()
    for i in range(3 * expand._ANSWERS_PER_TEXT):
        ctx = expand.Context({"sender_host_address": f"198.51.{i // 250}.{i % 250}"}, answers={})
        assert expand.expand(text, ctx).value == "no"
    tree = expand._SHARED[text]
    assert 0 < len(tree.then) <= expand._ANSWERS_PER_TEXT
    ctx = expand.Context({"sender_host_address": "192.0.2.1"}, answers={})
    assert expand.expand(text, ctx).value == "yes"


# Statements whose lists answer alike for every subject (`hosts = :`, a list a missing file expands to
# nothing), in a nested ACL and beside conditions that read the probe: each goes on, or ends the ACL, as it
# would with nothing remembered
FIXED = """\
acl_smtp_rcpt = acl_check_rcpt
begin acl
acl_exceptions:
  accept hosts = ${if exists{/etc/exim4/missing}{/etc/exim4/missing}{}}
  accept senders = :
acl_check_rcpt:
  accept hosts = :
  accept !hosts = *
         message = never given
  warn hosts = ${if exists{/etc/exim4/missing}{/etc/exim4/missing}{}}
       message = never expanded
  accept hosts = ${if exists{/etc/exim4/missing}{x}{*}}
         senders = a@sender.example
         message = ${if eq{$sender_address}{}{bounce}{welcome}}
  deny !acl = acl_exceptions
       hosts = ! :
       sender_domains = *
       message = ${sender_address} refused
  accept
"""


def test_statements_that_go_on_for_every_probe_decide_as_fresh_ones(tmp_path: Path):
    root = tmp_path / "snap"
    (root / "etc" / "exim4").mkdir(parents=True)
    (root / "etc" / "exim4" / "exim4.conf").write_text(FIXED)
    config = load_exim(load_local(str(root)))
    probes = [Probe("198.51.100.7", "x@elsewhere.example", sender, "client.example")
              for sender in ("a@sender.example", "", "b@sender.example", "a@sender.example", "")]
    shared = [decide(config, p) for p in probes + probes[::-1]]
    assert {d.action for d in shared} == {"accept", "reject"}
    assert [_fresh(config, p) for p in probes + probes[::-1]] == shared


def test_the_list_answers_kept_for_a_configuration_stay_bounded(tmp_path: Path):
    """Each new client brings its own list answers: however many a long run sees, a configuration keeps at
    most match.ANSWERS_KEPT of them, and decides as before once they start over."""
    from mailcfg.exim import match
    from mailcfg.exim.session import _Start

    root = tmp_path / "snap"
    (root / "etc" / "exim4").mkdir(parents=True)
    (root / "etc" / "exim4" / "exim4.conf").write_text(CONFIG)
    (root / "etc" / "exim4" / "friends").write_text("friend: yes\n")
    config = load_exim(load_local(str(root)))
    probes = [Probe(f"198.51.{i // 250}.{i % 250 + 1}", "x@elsewhere.example", f"s{i}@sender.example", "c.example")
              for i in range(3 * match.ANSWERS_KEPT)]
    decided = [decide(config, p) for p in probes]
    assert 0 < len(config.memo[_Start].scope.answers) <= match.ANSWERS_KEPT
    assert [_fresh(config, p) for p in probes[-3:]] == decided[-3:]
