"""`mailcfg fix --write` proven on a real Postfix with Dovecot SASL (tests/realpostfix.py).

Broken configurations (an open relay, submission without SASL, no relay check, a misspelt
restriction) are fixed with the real command line, then the real Postfix answers real SMTP
sessions before and after: an outside client must get "554 5.7.1 ... Relay access denied", a
logged-in user (real AUTH PLAIN after STARTTLS) must be able to send to a foreign domain, and
mail from the internet to the host itself must still be accepted.

Then configurations the project has never seen (the generator, with a seed no other test uses):
wherever the real Postfix shows an outsider relaying and the open-relay fix applies, after
`fix --write --rule postfix-open-relay` no outsider relays any more, and every other probe
(trusted and logged-in clients, mail to the host's own domains) gets exactly the answer it got
before. A second run changes nothing.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import realpostfix as rp
from mailcfg.lint import lint_path
from mailcfg.postfix.config import load_postfix
from mailcfg.postfix.effective import ParameterView
from mailcfg.postfix.probes import final_domains
from mailcfg.rules.postfix_relay import open_relays
from mailcfg.snapshot import load_local
from mailcfg.transaction import Probe
from postfix_generator import FOREIGN, HELO, OUTSIDE, SENDER, generate_batch

CONFIGS = int(os.environ.get("MAILCFG_FIX_CONFIGS", "200"))
SEED = int(os.environ.get("MAILCFG_FIX_SEED", "5150"))

OUTSIDER = Probe("198.51.100.7", f"victim@{FOREIGN}", "someone@outside.example", "web1.example.org",
                 service="smtp")
USER = Probe("198.51.100.8", f"friend@{FOREIGN}", "alice@example.org", "laptop.example.net", sasl_user="alice",
             tls=True, service="submission")
LOCAL = Probe("198.51.100.9", "postmaster@mx1.example.org", "someone@outside.example", "mail.outside.example",
              service="smtp")
TLS = """\
smtpd_tls_cert_file = /etc/postfix/tls/harness-cert.pem
smtpd_tls_key_file = /etc/postfix/tls/harness-key.pem
smtpd_tls_security_level = may
"""
BASE = """\
compatibility_level = 3.6
myhostname = mx1.example.org
mydestination = $myhostname, localhost
mynetworks = 127.0.0.0/8
alias_maps =
local_recipient_maps =
""" + TLS
SMTP = "smtp      inet  n       -       n       -       -       smtpd"
SUBMISSION = ("submission inet n       -       n       -       -       smtpd\n"
              "  -o syslog_name=postfix/submission\n  -o smtpd_tls_security_level=encrypt\n"
              "  -o smtpd_sasl_auth_enable=yes\n  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject")

SCENARIOS = {
    "submission-without-sasl": (BASE + "smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, "
                                "reject_unauth_destination\n",
                                [SMTP, SUBMISSION.replace("smtpd_sasl_auth_enable=yes",
                                                          "smtpd_sasl_auth_enable=no")]),
    "no-relay-check": (BASE + "smtpd_relay_restrictions =\n"
                       "smtpd_recipient_restrictions = check_recipient_access inline:{ abuse@example.org=OK }\n",
                       [SMTP, SUBMISSION]),
    "misspelt-restriction": (BASE + "smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, "
                             "reject_unauth_destination\n"
                             "smtpd_recipient_restrictions = reject_non_fqdn_recipent\n", [SMTP, SUBMISSION]),
}


# Fixes that need --unsafe-fixes, and fixes that only work combined with another.
UNSAFE_SCENARIOS = {
    # a HELO table opens the relay: closing it takes relaying from web1 (unsafe, and said so)
    "helo-table-relay": (BASE + "smtpd_relay_restrictions = permit_mynetworks,\n"
                         "    check_helo_access inline:{ web1.example.org=OK },\n"
                         "    permit_sasl_authenticated,\n    reject_unauth_destination\n", [SMTP, SUBMISSION]),
    # the whole internet in mynetworks, and a client list that only let inbound mail in through it:
    # closing the relay reveals that, and its fix lets mail to the host's own domains in again
    "mynetworks-everyone": (BASE.replace("mynetworks = 127.0.0.0/8", "mynetworks = 0.0.0.0/0").replace(
        "mydestination = $myhostname, localhost", "mydestination = $myhostname, localhost, example.org")
        + "smtpd_client_restrictions = permit_mynetworks, reject\n", [SMTP, SUBMISSION]),
    # submission with neither SASL nor TLS: AUTH is turned on only together with TLS
    "submission-without-sasl-or-tls": (BASE + "smtpd_relay_restrictions = permit_mynetworks, "
                                       "permit_sasl_authenticated, reject_unauth_destination\n",
                                       [SMTP, SUBMISSION.replace("auth_enable=yes", "auth_enable=no")
                                        .replace("security_level=encrypt", "security_level=none")]),
}


def mailcfg(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mailcfg", *args], capture_output=True, text=True, check=False,
                          env={**os.environ, "NO_COLOR": "1"})


def snapshot(root: Path, main: str, services: list[str], cert: tuple[Path, Path]) -> Path:
    etc = root / "etc" / "postfix"
    (etc / "tls").mkdir(parents=True)
    (etc / "main.cf").write_text(main)
    (etc / "master.cf").write_text(rp.master_cf(services))
    shutil.copy(cert[0], etc / "tls" / "harness-cert.pem")
    shutil.copy(cert[1], etc / "tls" / "harness-key.pem")
    rp.finish_snapshot(root)
    return root


def test_fixed_scenarios_refuse_outsiders_and_let_users_send(harness, tmp_path):
    cert = rp.make_certificate(tmp_path / "tls")
    before, after = [], []
    for name, (main, services) in SCENARIOS.items():
        before.append(snapshot(tmp_path / name / "before", main, services, cert))
        after.append(snapshot(tmp_path / name / "after", main, services, cert))
        out = mailcfg("fix", str(after[-1]), "--write")
        assert out.returncode in (0, 1) and "file(s) written" in out.stderr, out.stderr
        assert mailcfg("fix", str(after[-1])).stdout == ""  # a second run changes nothing
    old = harness.run([(root, [OUTSIDER, USER, LOCAL]) for root in before])
    new = harness.run([(root, [OUTSIDER, USER, LOCAL]) for root in after])
    broken = dict(zip(SCENARIOS, old, strict=True))
    assert broken["submission-without-sasl"][1].action != "accept"
    assert broken["no-relay-check"][0].action == "error" and broken["no-relay-check"][0].stage == "startup"
    assert broken["misspelt-restriction"][2].reply.startswith("451 4.3.5")
    for name, (outsider, user, local) in zip(SCENARIOS, new, strict=True):
        assert outsider.action == "reject" and outsider.reply.startswith("554 5.7.1 ") \
            and outsider.reply.endswith("Relay access denied"), (name, outsider.transcript)
        assert user.action == "accept" and user.code == 250, (name, user.transcript)
        assert local.action == "accept", (name, local.transcript)  # and the host still receives its own mail


def test_unsafe_and_combined_fixes_close_the_relay_and_keep_users_and_inbound_mail(harness, tmp_path):
    cert = rp.make_certificate(tmp_path / "tls")
    before, after = [], []
    for name, (main, services) in UNSAFE_SCENARIOS.items():
        before.append(snapshot(tmp_path / name / "before", main, services, cert))
        after.append(snapshot(tmp_path / name / "after", main, services, cert))
        out = mailcfg("fix", str(after[-1]), "--write", "--unsafe-fixes")
        assert out.returncode in (0, 1) and "file(s) written" in out.stderr, out.stderr
        assert "would cause new findings" not in out.stderr, out.stderr
        assert mailcfg("fix", str(after[-1]), "--unsafe-fixes").stdout == ""  # a second run changes nothing
    # before, a user could not even start TLS on the submission service: only lint can say so
    assert "postfix-submission-no-auth" in {f.rule for f in lint_path(str(before[-1])).findings}
    old = harness.run([(root, [OUTSIDER, LOCAL]) for root in before])
    new = harness.run([(root, [OUTSIDER, USER, LOCAL]) for root in after])
    broken = dict(zip(UNSAFE_SCENARIOS, old, strict=True))
    assert broken["helo-table-relay"][0].action == "accept"
    assert broken["mynetworks-everyone"][0].action == "accept"
    for name, (outsider, user, local) in zip(UNSAFE_SCENARIOS, new, strict=True):
        assert outsider.action == "reject" and outsider.code == 554, (name, outsider.transcript)  # relay closed
        assert user.action == "accept" and user.code == 250, (name, user.transcript)
        assert local.action == "accept", (name, local.transcript)
    fixed = {name: (root / "etc/postfix/master.cf").read_text() for name, root in zip(UNSAFE_SCENARIOS, after,
                                                                                      strict=True)}
    assert "-o smtpd_tls_security_level=encrypt" in fixed["submission-without-sasl-or-tls"]


def _foreign(probe: Probe) -> bool:
    return FOREIGN in probe.rcpt.lower() or "[192.0.2." in probe.rcpt or "relay-probe.invalid" in probe.rcpt


@dataclass
class Case:
    """A generated configuration the real Postfix shows to be an open relay."""

    root: Path
    probes: list[Probe]  # the generator's, then the open-relay rule's witness transactions
    outsiders: set[int]  # which of them come from an outside client, unauthenticated, to a foreign domain
    before: list[rp.Observed]

    def relays(self, answers: list[rp.Observed]) -> list[Probe]:
        return [self.probes[i] for i in self.outsiders if answers[i].action == "accept"]


def _accepted(answer: rp.Observed | None) -> bool:
    return answer is not None and answer.action == "accept"


def _fixed(case: Case, workdir: Path, *args: str) -> Path | None:
    """A copy of the case after `mailcfg fix --write ARGS`; None when no fix applied."""
    root = workdir / case.root.name
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(case.root, root)
    out = mailcfg("fix", str(root), "--write", *args)
    assert out.returncode in (0, 1), out.stderr  # 1 while findings are left; 2 only for bad input
    if "file(s) written" not in out.stderr:
        return None
    again = mailcfg("fix", str(root), *args)
    assert again.stdout == "", again.stdout  # a second run changes nothing
    # a relay with a second way in (a public mynetworks besides a table) is closed only by the fixes of both
    return None if "postfix-open-relay" in {f.rule for f in lint_path(str(root)).findings} else root


def test_fix_closes_open_relays_on_unseen_configurations_and_changes_nothing_else(harness, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("fix-generated")
    generated = generate_batch(workdir, SEED, CONFIGS)
    # The real Postfix is the judge; the rule only picks which configurations are worth asking it about
    # (the rule itself is held to the real Postfix in test_relay_rules_differential.py).
    picked = []
    for g in generated:
        witnesses = [o.attempt.probe for o in open_relays(load_postfix(load_local(str(g.root))))]
        if witnesses:
            twins = [dataclasses.replace(p, sasl_user=None) for p in g.probes if p.sasl_user is not None]
            probes = g.probes + witnesses + twins
            outsiders = {i for i, p in enumerate(probes) if p.sasl_user is None and _foreign(p) and (
                i >= len(g.probes) or (p.client in OUTSIDE and p.client_name is None))}
            picked.append((g.root, probes, outsiders))
    answers = harness.run([(root, probes) for root, probes, _ in picked])
    cases = [Case(root, probes, outsiders, real) for (root, probes, outsiders), real in zip(picked, answers,
                                                                                            strict=True)]
    cases = [c for c in cases if c.relays(c.before)]

    safe = [(c, root) for c in cases if (root := _fixed(c, workdir / "safe", "--rule", "postfix-open-relay"))]
    rest = [c for c in cases if all(c is not s for s, _ in safe)]
    unsafe = [(c, root) for c in rest if (root := _fixed(c, workdir / "unsafe", "--unsafe-fixes", "--rule",
                                                             "postfix-open-relay", "--rule",
                                                             "postfix-mynetworks-too-wide"))]
    replies = harness.run([(root, c.probes) for c, root in safe + unsafe])
    problems = []
    for k, ((case, _root), now) in enumerate(zip(safe + unsafe, replies, strict=True)):
        for probe in case.relays(now):
            problems.append(f"{case.root.name}: still relays {probe}")
        view = ParameterView(load_postfix(load_local(str(case.root))))
        trusted = [ipaddress.ip_network(w.strip("[]").replace("]/", "/"), strict=False)
                   for w in view.items("mynetworks") if re.fullmatch(r"[\[\]0-9a-fA-F:./]+", w)]
        answers = dict(zip(case.probes, case.before, strict=True))
        for i, (probe, was, new) in enumerate(zip(case.probes, case.before, now, strict=True)):
            if (new.action, new.reply) == (was.action, was.reply):
                continue
            logged_in = any(line.startswith("S: 235") for line in was.transcript)
            if k >= len(safe):  # a narrower mynetworks changes what its clients may do: only users must not notice
                if logged_in and was.action == "accept":
                    problems.append(f"{case.root.name}: logged-in {probe} got {was.reply!r}, now {new.reply!r}")
                continue
            closed = was.action == "accept" and new.reply.endswith("Relay access denied")
            if (i in case.outsiders
                    # a service whose smtpd could not start shares the fixed list, and now runs
                    or (was.action == "error" and was.stage == "startup")
                    # still refused, now by the relay check
                    or (was.action != "accept" and new.action != "accept" and new.reply.endswith("Relay access denied"))
                    # the opening closed for a client the admin never marked as trusted
                    or (closed and not logged_in and not any(
                        ipaddress.ip_address(probe.client) in n for n in trusted if n.version == 4))
                    # a login that did not matter: the same client relayed without it
                    or (closed and logged_in and _accepted(answers.get(dataclasses.replace(probe, sasl_user=None))))):
                continue
            problems.append(f"{case.root.name}: {probe} got {was.reply!r} before and {new.reply!r} after")
    left = [c.root.name for c in rest if all(c is not u for u, _ in unsafe)]
    print(f"\n{CONFIGS} configurations: {len(cases)} open relays on the real Postfix; the safe fix closed "
          f"{len(safe)}, the unsafe fixes (open relay taking relaying from a named identity, mynetworks) "
          f"{len(unsafe)}, no fix offered: {', '.join(left) or 'none'}")
    for name in left:  # no correct fix exists for these (say, defer_if_reject among the items to move): lint says so
        assert {(f.rule, f.fix) for f in lint_path(str(workdir / name)).findings} >= {("postfix-open-relay", None)}
    assert unsafe, "the generator should make open relays that need unsafe fixes"
    assert len(safe) + len(unsafe) >= 0.75 * len(cases)
    assert not problems, "\n".join(problems[:20])


ALL_CONFIGS = int(os.environ.get("MAILCFG_FIX_ALL_CONFIGS", "90"))
ALL_SEED = int(os.environ.get("MAILCFG_FIX_ALL_SEED", "6161"))


def test_fix_with_unsafe_fixes_closes_every_open_relay_and_keeps_users_and_inbound_mail(harness, tmp_path_factory):
    """What a user runs on an open relay: `fix --write --unsafe-fixes`, every rule. The real Postfix must
    then refuse every outsider, still accept every logged-in user (over TLS: the unsafe
    postfix-auth-without-tls fix ends AUTH without it) and every well-behaved server on the internet
    sending to the host's own domains that it accepted before; where that mail was let in only by a
    mynetworks that trusted it, and something else now refuses it, lint must say so."""
    workdir = tmp_path_factory.mktemp("fix-all")
    generated = generate_batch(workdir, ALL_SEED, ALL_CONFIGS)
    picked = []
    for g in generated:
        witnesses = [o.attempt.probe for o in open_relays(load_postfix(load_local(str(g.root))))]
        picked.append((g.root, g.probes + witnesses))
    answers = harness.run(picked)
    cases = [(root, probes, real) for (root, probes), real in zip(picked, answers, strict=True)
             if any(_outsider(p) and a.action == "accept" for p, a in zip(probes, real, strict=True))]
    fixed = []
    for root, _probes, _real in cases:
        copy = workdir / "fixed" / root.name
        shutil.copytree(root, copy)
        out = mailcfg("fix", str(copy), "--write", "--unsafe-fixes")
        assert out.returncode in (0, 1), out.stderr
        fixed.append(copy)
    replies = harness.run([(copy, probes) for copy, (_root, probes, _real) in zip(fixed, cases, strict=True)])
    problems, closed = [], 0
    for copy, (root, probes, before), now in zip(fixed, cases, replies, strict=True):
        still = [p for p, a in zip(probes, now, strict=True) if _outsider(p) and a.action == "accept"]
        problems += [f"{root.name}: still relays {p}" for p in still[:1]]
        closed += not still
        view = ParameterView(load_postfix(load_local(str(root))))
        trusted = [ipaddress.ip_network(w.strip("[]").replace("]/", "/"), strict=False)
                   for w in view.items("mynetworks") if re.fullmatch(r"[\[\]0-9a-fA-F:./]+", w)]
        revealed = {f.service for f in lint_path(str(copy)).findings if f.rule == "postfix-inbound-rejected"}
        own = {d.lower() for d in final_domains(view)} | {view.get("myhostname").lower()}
        for probe, was, new in zip(probes, before, now, strict=True):
            if was.action != "accept" or new.action == "accept":
                continue
            if any(line.startswith("S: 235") for line in was.transcript) and probe.tls:
                problems.append(f"{root.name}: logged-in {probe} got {was.reply!r}, now {new.reply!r}")
            elif _inbound(probe) and probe.rcpt.rpartition("@")[2].lower() in own:
                named = [n for n in trusted if n.version == 4 and n.prefixlen >= 8
                         and ipaddress.ip_address(probe.client) in n]
                if named or probe.service in revealed:
                    continue  # a client of a listed network lost its trust, or lint reports what refuses it now
                problems.append(f"{root.name}: inbound {probe} got {was.reply!r}, now {new.reply!r}")
    print(f"\n{ALL_CONFIGS} configurations: {len(cases)} open relays on the real Postfix; after "
          f"`fix --write --unsafe-fixes` {closed} closed, {len(problems)} problems")
    assert cases, "the generator should make open relays"
    assert not problems, "\n".join(problems[:20])


def _outsider(probe: Probe) -> bool:
    return probe.sasl_user is None and probe.client in OUTSIDE and probe.client_name is None and _foreign(probe)


def _inbound(probe: Probe) -> bool:
    """A server on the internet with a proper HELO and sender, on port 25, to no foreign domain."""
    return (probe.sasl_user is None and probe.client in OUTSIDE and probe.client_name is None and probe.port == 25
            and not _foreign(probe) and probe.helo == HELO and probe.sender == SENDER)
