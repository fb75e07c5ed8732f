"""The relay rules against a real Postfix.

postfix-open-relay: present exactly where an outsider can relay.

For each generated configuration the real Postfix answers the generator's probes. Ground truth:
the configuration is an open relay when an outside client (documentation addresses, with no
verified host name of its own: that would make it a specific, named host), without
authenticating, got 250 for a foreign recipient (plain or disguised with an address trick).
Then, both ways:
- every configuration the real Postfix shows to be open must carry postfix-open-relay;
- every finding of postfix-open-relay is replayed on the real Postfix, and its witness
  transaction must really relay (the rule tries HELO names, senders and address forms the
  generator may not have tried, so only the real server can confirm those).

postfix-users-cannot-relay and postfix-inbound-rejected: the transactions they are built on
(a logged-in client sending out on each AUTH service; an outside sender writing to each of the
host's domains) are replayed on the real Postfix, which must answer as the engine predicted.
"""

from __future__ import annotations

import os

from mailcfg.postfix.config import load_postfix
from mailcfg.rules.postfix_relay import inbound_refusals, open_relays, user_trials
from mailcfg.snapshot import load_local
from postfix_generator import FOREIGN, OUTSIDE, OUTSIDE6, generate_batch

CONFIGS = int(os.environ.get("MAILCFG_RULE_CONFIGS", "60"))
SEED = int(os.environ.get("MAILCFG_RULE_SEED", "4242"))


def _foreign(rcpt: str) -> bool:
    return FOREIGN in rcpt.lower() or "[192.0.2." in rcpt


def test_open_relay_rule_matches_real_postfix(harness, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("relay-rules")
    generated = generate_batch(workdir, SEED, CONFIGS)
    observed = harness.run([(g.root, g.probes) for g in generated])
    truth = {}
    for g, answers in zip(generated, observed, strict=True):
        relays = [p for p, real in zip(g.probes, answers, strict=True)
                  if real.action == "accept" and p.client in (*OUTSIDE, OUTSIDE6) and p.client_name is None
                  and p.sasl_user is None and _foreign(p.rcpt)]
        truth[g.root] = relays
    openings = {g.root: open_relays(load_postfix(load_local(str(g.root)))) for g in generated}
    witnessed = [g for g in generated if openings[g.root]]
    replies = harness.run([(g.root, [o.attempt.probe for o in openings[g.root]]) for g in witnessed])

    missed = [f"{g.root}: the real Postfix relays {truth[g.root][0]} but postfix-open-relay is silent"
              for g in generated if truth[g.root] and not openings[g.root]]
    unconfirmed = []
    for g, answers in zip(witnessed, replies, strict=True):
        for opening, real in zip(openings[g.root], answers, strict=True):
            if real.action != "accept":
                unconfirmed.append(f"{g.root}: postfix-open-relay says {opening.attempt.probe} relays, the real "
                                   f"Postfix answers {real.reply!r}")
    open_count = sum(1 for g in generated if truth[g.root])
    print(f"\n{CONFIGS} configurations: {open_count} open relays by real probes, {len(witnessed)} flagged, "
          f"{len(missed)} missed, {len(unconfirmed)} findings not confirmed by the real Postfix")
    assert open_count > 0 and len(witnessed) < CONFIGS, "the generator should make both open and closed relays"
    assert not missed and not unconfirmed, "\n".join(missed + unconfirmed)


def test_user_and_inbound_trials_match_real_postfix(harness, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("relay-trials")
    generated = generate_batch(workdir, SEED + 1, CONFIGS)
    trials = {}
    for g in generated:
        config = load_postfix(load_local(str(g.root)))
        trials[g.root] = [t for t in user_trials(config) + inbound_refusals(config) if not t.decision.undecided]
    with_trials = [g for g in generated if trials[g.root]]
    replies = harness.run([(g.root, [t.probe for t in trials[g.root]]) for g in with_trials])
    wrong = []
    for g, answers in zip(with_trials, replies, strict=True):
        for trial, real in zip(trials[g.root], answers, strict=True):
            if (real.action, real.code) != (trial.decision.action, trial.decision.code):
                wrong.append(f"{g.root}: {trial.probe}: engine {trial.decision.reply!r}, real {real.reply!r}")
    count = sum(len(trials[g.root]) for g in with_trials)
    refused = sum(1 for g in with_trials for t in trials[g.root] if t.decision.action != "accept")
    print(f"\n{count} rule transactions replayed ({refused} refusals), {len(wrong)} differ from the real Postfix")
    assert count and refused, "the generator should give the rules something to look at"
    assert not wrong, "\n".join(wrong)
