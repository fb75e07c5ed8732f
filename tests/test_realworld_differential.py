"""The public configurations of ../shared/corpus/realworld, judged by the real daemons.

Every configuration the real Postfix (or Exim) can start, after the neutralisation
tests/realworld.py does and writes down per file, answers the standard probe set through the real
daemon (tests/postfix_generator.py's battery for its own services and domains, through smtpd with
XCLIENT; tests/exim_generator.py's through `exim -bh`), and mailcfg's engine must give the same
answers. The open-relay verdict must agree too: postfix-open-relay (exim-open-relay) is present
when a probe relays for an outsider on the real server, and every witness it names relays there.

The table (one row per configuration, with its corpus files and neutralisation steps below) is
printed (pytest -n 0 -s) and written to realworld-report.txt in each test's temporary directory. Where
the neutralisation itself causes a difference, EXPECTED says so. Both tests run every configuration:
a few seconds each at most (a policy service that is not there is tried once, see realworld.py).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import realpostfix as rp
import realworld as rw
from mailcfg.postfix.config import load_postfix
from mailcfg.postfix.engine import decide
from mailcfg.postfix.services import public as is_public
from mailcfg.postfix.services import views
from mailcfg.rules.postfix_relay import open_relays
from mailcfg.snapshot import load_local
from postfix_generator import FOREIGN, OUTSIDE

# corpus folder -> why a disagreement there comes from the neutralisation, not from mailcfg
EXPECTED: dict[str, str] = {}


def _relays(probe, real) -> bool:
    """An outsider, unauthenticated and nameless, got a foreign recipient accepted."""
    foreign = FOREIGN in probe.rcpt.lower() or "[192.0.2." in probe.rcpt or "relay-probe.invalid" in probe.rcpt
    return real.action == "accept" and probe.client in (*OUTSIDE, "198.51.100.77", "203.0.113.77") \
        and probe.client_name is None and probe.sasl_user is None and foreign


def _why_undecided(comparison: rp.Comparison) -> str:
    reasons = Counter(r["why"].split(";")[0][:70] for r in comparison.rows if r["status"] == "undecided")
    return "".join(f"; {n}x {why}" for why, n in reasons.most_common(2))


def _files(setup: rw.Setup, rows: list[dict]) -> list[str]:
    return [r["path"] for r in rows if r["repo"].replace("/", "__") == setup.name
            or (setup.name.startswith("_unattributed") and r["repo"].startswith("(unattributed"))]


def test_postfix_corpus_agrees_with_real_postfix(harness, tmp_path_factory):
    work = tmp_path_factory.mktemp("realworld-postfix")
    cert = rp.make_certificate(work / "tls")
    rows = [r for r in rw.manifest() if r["system"] == "postfix"]
    setups = []
    for folder in rw.postfix_folders():
        setup = rw.postfix_setup(folder, work / folder.name, cert, [])
        setup.files = _files(setup, rows)
        setups.append(setup)
    runnable = [s for s in setups if s.why_not is None]
    configs = {s.name: load_postfix(load_local(str(s.root))) for s in runnable}
    probes = {s.name: rw.postfix_probes(configs[s.name], s.name) for s in runnable}
    for s in runnable:
        if not probes[s.name]:
            s.why_not = "no smtpd on 25, 587 or 465"
    runnable = [s for s in runnable if s.why_not is None]
    witnesses = {s.name: open_relays(configs[s.name]) for s in runnable}
    # one run: the battery, then postfix-open-relay's witnesses replayed
    answers = harness.run([(s.root, probes[s.name] + [o.attempt.probe for o in witnesses[s.name]])
                           for s in runnable])
    observed = {s.name: a[:len(probes[s.name])] for s, a in zip(runnable, answers, strict=True)}
    replays = {s.name: a[len(probes[s.name]):] for s, a in zip(runnable, answers, strict=True)}

    table, failures = [], []
    totals = {"compared": 0, "agree": 0, "undecided": 0, "verdicts": 0, "verdicts_agree": 0}
    for s in setups:
        if s.why_not is None and all(r.stage == "startup" and r.reply.startswith("master:")
                                     for r in observed[s.name]):
            s.why_not = f"Postfix does not start: {observed[s.name][0].reply}"
        if s.why_not is not None:
            table.append(f"{s.name:42} not started: {s.why_not}")
            continue
        comparison = rp.Comparison()
        for probe, real in zip(probes[s.name], observed[s.name], strict=True):
            comparison.add(s.name, s.root, probe, real, decide(configs[s.name], probe))
        agree, compared = comparison.count("agree"), comparison.compared
        totals["compared"] += compared
        totals["agree"] += agree
        totals["undecided"] += comparison.count("undecided")
        public = {service.name for service, view in views(configs[s.name]) if is_public(service, view)}
        real_open = [p for p, r in zip(probes[s.name], observed[s.name], strict=True)
                     if _relays(p, r) and p.service in public]
        unconfirmed = [o.attempt.probe for o, r in zip(witnesses[s.name], replays[s.name], strict=True)
                       if r.action != "accept"]
        verdict_ok = bool(real_open) <= bool(witnesses[s.name]) and not unconfirmed
        totals["verdicts"] += 1
        totals["verdicts_agree"] += verdict_ok
        verdict = (f"open relay: mailcfg {'yes' if witnesses[s.name] else 'no'}, real "
                   f"{'yes' if real_open or (witnesses[s.name] and not unconfirmed) else 'no'}")
        table.append(f"{s.name:42} started; probes agreed {agree}/{compared} "
                     f"({comparison.count('undecided')} undecided{_why_undecided(comparison)}); {verdict}; "
                     f"verdict {'agreed' if verdict_ok else 'DISAGREES'}")
        if (comparison.failures() or not verdict_ok) and s.name not in EXPECTED:
            failures.append(comparison.report(10) + "".join(f"\n  witness not confirmed: {p}" for p in unconfirmed)
                            + ("\n  the real Postfix relays " + str(real_open[0]) if real_open and
                               not witnesses[s.name] else ""))
    _report("Postfix", setups, table, totals, failures, work)


def test_exim_corpus_agrees_with_real_exim(tmp_path_factory):
    """The same for Exim: `exim -bh` sessions on each configuration Exim accepts, against the engine
    (told that there is no DNS here, as the Exim differential does)."""
    import realexim as rx
    from exim_generator import OUTSIDE as EXIM_OUTSIDE
    from exim_generator import OUTSIDE6
    from mailcfg.exim.config import load_exim
    from mailcfg.exim.engine import decide as exim_decide
    from mailcfg.rules.exim_relay import open_relays as exim_open_relays
    from test_exim_differential import NO_DNS, agrees, with_host_addresses

    work = tmp_path_factory.mktemp("realworld-exim")
    rows = [r for r in rw.manifest() if r["system"] == "exim"]
    table, failures = [], []
    totals = {"compared": 0, "agree": 0, "undecided": 0, "verdicts": 0, "verdicts_agree": 0}
    setups = []
    for folder in rw.exim_folders():
        setup, run = rw.exim_setup(folder, work / "snap" / folder.name, work / "real", [])
        setup.files = _files(setup, rows)
        setups.append(setup)
        if setup.why_not is not None or run is None:
            table.append(f"{setup.name:42} not started: {setup.why_not}")
            continue
        config = load_exim(load_local(str(with_host_addresses(setup.root))))
        probes = rw.exim_probes(config, setup.name)
        answers = rx.real_answers(run.config, probes, run.macros)
        agree = compared = undecided = 0
        wrong = []
        reasons: Counter[str] = Counter()
        for probe, answer in zip(probes, answers, strict=True):
            decision = exim_decide(config, probe, NO_DNS)
            if decision.undecided:
                undecided += 1
                reasons[decision.undecided[0][:70]] += 1
                continue
            compared += 1
            if agrees(decision, answer):
                agree += 1
            else:
                wrong.append(f"{setup.name}: {probe}\n  exim: {answer.lines}\n  mailcfg: {decision.reply} "
                             f"({decision.action})")
        outsiders = (*EXIM_OUTSIDE, OUTSIDE6)
        real_open = [p for p, a in zip(probes, answers, strict=True)
                     if a.action == "accept" and p.client in outsiders and p.sasl_user is None
                     and "foreign.example" in p.rcpt.lower()]
        # the verdict in the world the real Exim runs in here (no DNS); the one with DNS is reported beside it
        trials = exim_open_relays(config, NO_DNS)
        with_dns = exim_open_relays(config)
        replies = rx.real_answers(run.config, [t.probe for t in trials], run.macros) if trials else []
        unconfirmed = [t.probe for t, a in zip(trials, replies, strict=True) if a.action != "accept"]
        verdict_ok = bool(real_open) <= bool(trials) and not unconfirmed
        totals["compared"] += compared
        totals["agree"] += agree
        totals["undecided"] += undecided
        totals["verdicts"] += 1
        totals["verdicts_agree"] += verdict_ok
        why = "".join(f"; {n}x {reason}" for reason, n in reasons.most_common(2))
        table.append(f"{setup.name:42} started; probes agreed {agree}/{compared} ({undecided} undecided{why}); open "
                     f"relay: mailcfg {'yes' if trials else 'no'}, real "
                     f"{'yes' if real_open or (trials and not unconfirmed) else 'no'}; verdict "
                     f"{'agreed' if verdict_ok else 'DISAGREES'}; with DNS mailcfg says "
                     f"{'open relay' if with_dns else 'no open relay'}")
        if (wrong or not verdict_ok) and setup.name not in EXPECTED:
            failures.append("\n".join(wrong[:8]) + "".join(f"\n  witness not confirmed: {p}" for p in unconfirmed)
                            + (f"\n  the real Exim relays {real_open[0]}" if real_open and not trials else ""))
    _report("Exim", setups, table, totals, failures, work)


def _report(mta: str, setups, table: list[str], totals: dict, failures: list[str], work: Path) -> None:
    """The summary, a line per configuration and its neutralisation steps, printed and kept beside the run;
    then the checks: at least half the corpus started, no disagreement that is not expected."""
    steps = [f"{s.name} ({', '.join(s.files)}):\n" + "".join(f"    - {step}\n" for step in s.steps) for s in setups]
    pct = 100.0 * totals["agree"] / totals["compared"] if totals["compared"] else 100.0
    summary = (f"{mta} corpus: {len(setups)} configurations ({sum(len(s.files) for s in setups)} files), "
               f"{totals['verdicts']} started; decisions agreed {totals['agree']}/{totals['compared']} ({pct:.2f}%), "
               f"{totals['undecided']} undecided (not compared); open-relay verdicts agreed "
               f"{totals['verdicts_agree']}/{totals['verdicts']}")
    report = "\n".join([summary, *table, "", "Neutralisation per configuration:", *steps])
    (work / "realworld-report.txt").write_text(report + "\n")
    print("\n" + report)
    assert totals["verdicts"] >= len(setups) // 2, report
    assert not failures, "\n\n".join(failures)
