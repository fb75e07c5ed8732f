"""The decision engine against a real Postfix: every generated probe must get the same answer.

A real Postfix 3.7 (Debian's) runs each generated configuration in its own network and mount
namespace, with Dovecot as its SASL backend (tests/realpostfix.py); tests/postfix_generator.py
makes the configurations and their probes. MAILCFG_DIFF_CONFIGS (default 100) and
MAILCFG_DIFF_SEED choose how many and which; the snapshots stay on disk (pytest's basetemp) for
reproduction: `scripts/postfix-differential --replay ROOT` runs one again.

The first tests check the harness itself on known configurations, so a broken harness shows up as
such and not as hundreds of disagreements.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import realpostfix as rp
from mailcfg.transaction import Probe

CONFIGS = int(os.environ.get("MAILCFG_DIFF_CONFIGS", "60"))
SEED = int(os.environ.get("MAILCFG_DIFF_SEED", "20261128"))
OUTSIDE = "198.51.100.7"
FOREIGN = "x@foreign.example"


def _baseline(root: Path, main_extra: str = "", smtp_options: str = "") -> Path:
    rp.write_baseline(root)
    main = root / "etc" / "postfix" / "main.cf"
    main.write_text(main.read_text() + main_extra)
    rp.finish_snapshot(root)
    if smtp_options:
        master = root / "etc" / "postfix" / "master.cf"
        text = master.read_text().replace("smtpd\nsubmission", f"smtpd\n{smtp_options}\nsubmission", 1)
        master.write_text(text)
    return root


def _run(harness: rp.Harness, root: Path, probes: list[Probe]) -> list[rp.Observed]:
    return harness.run([(root, probes)])[0]


def test_relay_denied_for_outsiders_accepted_after_real_auth(harness, tmp_path):
    root = _baseline(tmp_path / "snap")
    outside = Probe(OUTSIDE, FOREIGN, "a@example.org", "client.example", service="smtp", port=25)
    auth_587 = Probe(OUTSIDE, FOREIGN, "a@example.org", "client.example", sasl_user="alice", service="submission",
                     port=587)
    auth_25 = Probe(OUTSIDE, FOREIGN, "a@example.org", "client.example", sasl_user="alice", service="smtp", port=25)
    loopback = Probe("127.0.0.1", FOREIGN, "", None, service="smtp", port=25)
    real = _run(harness, root, [outside, auth_587, auth_25, loopback])
    assert (real[0].action, real[0].stage, real[0].reply) == \
        ("reject", "rcpt", "554 5.7.1 <x@foreign.example>: Relay access denied")
    assert (real[1].action, real[1].reply) == ("accept", "250 2.1.5 Ok")
    assert any("235 2.7.0 Authentication successful" in line for line in real[1].transcript)
    # no AUTH offered on port 25 (smtpd_sasl_auth_enable = no): the client stays unauthenticated
    assert real[2].reply == "554 5.7.1 <x@foreign.example>: Relay access denied"
    assert not any(line.startswith("C: AUTH") for line in real[2].transcript)
    assert (real[3].action, real[3].code) == ("accept", 250)  # 127.0.0.1 is in mynetworks (host style)


def test_no_working_relay_check_is_a_startup_error(harness, tmp_path):
    root = _baseline(tmp_path / "snap", "smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated\n")
    real = _run(harness, root, [Probe(OUTSIDE, FOREIGN, "a@example.org", "client.example", port=25),
                                Probe(OUTSIDE, FOREIGN, "a@example.org", "client.example", port=587)])
    for r in real:
        assert (r.action, r.stage, r.code) == ("error", "startup", None)
        assert "specify at least one working instance of: reject_unauth_destination" in r.reply
    # the next configuration runs normally again (master had throttled the dying smtpd)
    again = _run(harness, _baseline(tmp_path / "good"),
                 [Probe(OUTSIDE, FOREIGN, "a@example.org", "client.example", port=25)])
    assert again[0].code == 554


@pytest.mark.parametrize("soft_bounce", [False, True])
def test_tls_required_and_soft_bounce(harness, tmp_path, soft_bounce):
    cert, key = rp.make_certificate(tmp_path / "tls")
    root = _baseline(tmp_path / "snap", f"soft_bounce = {'yes' if soft_bounce else 'no'}\n"
                     "smtpd_tls_cert_file = /etc/postfix/c.pem\nsmtpd_tls_key_file = /etc/postfix/k.pem\n"
                     "smtpd_tls_security_level = may\n", smtp_options="  -o smtpd_tls_security_level=encrypt")
    (root / "etc/postfix/c.pem").write_bytes(cert.read_bytes())
    (root / "etc/postfix/k.pem").write_bytes(key.read_bytes())
    real = _run(harness, root, [Probe(OUTSIDE, FOREIGN, "a@example.org", "client.example", port=25),
                                Probe(OUTSIDE, FOREIGN, "a@example.org", "client.example", port=25, tls=True)])
    # soft_bounce turns even the protocol-level 530 into a 4xx (430 4.7.0), not only restriction rejects
    no_tls = ("defer", "mail", "430 4.7.0 Must issue a STARTTLS command first") if soft_bounce else \
        ("reject", "mail", "530 5.7.0 Must issue a STARTTLS command first")
    assert (real[0].action, real[0].stage, real[0].reply) == no_tls
    assert any(line == "S: 220 2.0.0 Ready to start TLS" for line in real[1].transcript)
    relay = "454 4.7.1" if soft_bounce else "554 5.7.1"
    assert (real[1].stage, real[1].reply) == ("rcpt", f"{relay} <x@foreign.example>: Relay access denied")


def test_refused_xclient_is_a_harness_error(harness, tmp_path):
    root = _baseline(tmp_path / "snap", smtp_options="  -o smtpd_authorized_xclient_hosts=")
    with pytest.raises(rp.HarnessError, match="XCLIENT"):
        _run(harness, root, [Probe(OUTSIDE, FOREIGN, "a@example.org", "client.example", port=25)])


def test_engine_agrees_with_real_postfix(harness, tmp_path_factory):
    pytest.importorskip("mailcfg.postfix.engine", reason="the decision engine is not there yet")
    workdir = tmp_path_factory.mktemp("postfix-diff")
    comparison, generated = rp.run_differential(harness, workdir, SEED, CONFIGS)
    assert len(generated) == CONFIGS
    assert comparison.compared > 0.5 * len(comparison.rows), comparison.summary()
    print(f"\nPostfix differential, seed {SEED}, {CONFIGS} configurations: {comparison.summary()}")
    if comparison.failures():
        pytest.fail(f"engine vs real Postfix {rp.postfix_version()}, seed {SEED}, {CONFIGS} configurations "
                    f"(snapshots in {workdir}):\n" + comparison.report(), pytrace=False)
