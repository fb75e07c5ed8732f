"""exim-open-relay finds relays that open for what an outsider chooses itself (its sender, its HELO,
the recipient's local part), and the real Exim 4.96 confirms each one: the attempt the rule reports
is replayed with `exim -bh` and accepted there too. What no outsider can choose (a name in DNS) is
undecided, never a pass."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import realexim as rx
from mailcfg.exim.config import load_exim
from mailcfg.exim.probes import outsider_trials
from mailcfg.exim.session import World
from mailcfg.lint import lint_snapshot
from mailcfg.rules.exim_relay import open_relays
from mailcfg.snapshot import load_local

pytestmark = pytest.mark.skipif(rx.available() is not None, reason=str(rx.available()))

NO_DNS = World(dns=False)
CONFIG = """\
primary_hostname = mx.example.com
domainlist local_domains = example.com
domainlist relay_to_domains =
hostlist relay_from_hosts = 127.0.0.1
addresslist partners = lsearch;/etc/exim4/partners
acl_smtp_rcpt = acl_check_rcpt
begin acl
acl_check_rcpt:
  accept hosts = +relay_from_hosts
{statement}
  require message = relay not permitted
          domains = +local_domains : +relay_to_domains
  accept
begin routers
remote:
  driver = manualroute
  domains = ! +local_domains
  route_list = * 192.0.2.10
  transport = remote_smtp
local:
  driver = accept
  domains = +local_domains
  transport = local_delivery
begin transports
remote_smtp:
  driver = smtp
local_delivery:
  driver = appendfile
  file = /dev/null
"""
PARTNERS = "# partners who may send through us\nbilling@partner.example: yes\n"

CHOSEN = {
    "a sender pattern": ("accept senders = *@example.com", "sender"),
    "a sender domain through a named list": ("accept sender_domains = +local_domains", "sender"),
    "a sender in a lookup file": ("accept senders = +partners", "sender"),
    "a regular expression on the sender": (r"accept condition = ${if match{$sender_address}{\N^info@\N}}", "sender"),
    "the HELO name": ("accept condition = ${if eq{$sender_helo_name}{mx.example.com}}", "helo"),
    "a verified HELO (the client's own address literal)": ("accept verify = helo", "helo"),
    "a local part without its domain": ("accept local_parts = postmaster : abuse", "rcpt"),
}


def _snapshot(root: Path, statement: str) -> Path:
    (root / "etc" / "exim4").mkdir(parents=True)
    (root / "etc" / "exim4" / "exim4.conf").write_text(CONFIG.format(statement=statement))
    (root / "etc" / "exim4" / "partners").write_text(PARTNERS)
    (root / ".mailcfg-host").mkdir()
    (root / ".mailcfg-host" / "facts.json").write_text(json.dumps({"hostname": "mx.example.com"}))
    return root


@pytest.fixture
def readable() -> Iterator[Path]:
    """A directory Exim's own user can read (pytest's are root's alone): Exim reads lookup files
    after giving up root."""
    directory = Path(tempfile.mkdtemp(prefix="mailcfg-exim-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory)


def _real(root: Path, work: Path, readable: Path) -> Path:
    """The configuration for the real Exim, its lookup file where Exim can read it."""
    partners = readable / "partners"
    partners.write_text(PARTNERS)
    partners.chmod(0o644)
    text = (root / "etc/exim4/exim4.conf").read_text().replace("/etc/exim4/partners", str(partners))
    return rx.write_config(work / "exim.conf", text)


@pytest.mark.parametrize("name", list(CHOSEN))
def test_a_relay_by_a_chosen_value_is_found_and_real_exim_confirms_it(tmp_path: Path, name: str, readable: Path):
    statement, varied = CHOSEN[name]
    root = _snapshot(tmp_path / "snap", statement)
    config = load_exim(load_local(str(root)))
    found = open_relays(config, NO_DNS)
    assert found, f"{name}: no open relay found"
    trial = found[0]
    plain = trial.probe.sender == "someone@outside.example" and trial.probe.helo == "client.outside.example" \
        and trial.probe.rcpt == "victim@relay-probe.invalid"
    assert not plain, f"{name}: the plain attempt should be refused, {trial.probe} was accepted"
    assert varied in trial.form.lower() or (varied == "rcpt" and "local part" in trial.form), trial.form
    (tmp_path / "work").mkdir()
    [answer] = rx.real_answers(_real(root, tmp_path / "work", readable), [trial.probe])
    assert answer.action == "accept", f"{name}: mailcfg says {trial.probe} relays; real Exim: {answer.lines}"
    findings = [f for f in lint_snapshot(load_local(str(root))).findings if f.rule == "exim-open-relay"]
    assert findings and trial.form.split(" (")[0] in findings[0].message, [f.message for f in findings]


def test_a_plain_configuration_is_no_open_relay_for_any_chosen_value(tmp_path: Path, readable: Path):
    """Every attempt of the search is asked of the real Exim too: none is accepted, as mailcfg says."""
    root = _snapshot(tmp_path / "snap", "  deny senders = *@spam.example")
    config = load_exim(load_local(str(root)))
    assert not open_relays(config, NO_DNS)
    (tmp_path / "work").mkdir()
    trials = outsider_trials(config, NO_DNS)
    answers = rx.real_answers(_real(root, tmp_path / "work", readable), [t.probe for t in trials])
    accepted = [(t.probe, a.lines) for t, a in zip(trials, answers, strict=True) if a.action == "accept"]
    assert not accepted, accepted[:3]
    assert all(t.decision.action == a.action for t, a in zip(trials, answers, strict=True))


def test_a_name_only_dns_can_match_is_undecided_not_a_pass(tmp_path: Path):
    root = _snapshot(tmp_path / "snap", "  accept hosts = partner-mx.example.net")
    findings = lint_snapshot(load_local(str(root))).findings
    assert not [f for f in findings if f.rule == "exim-open-relay"]
    undecided = [f for f in findings if f.rule == "exim-undecided"]
    assert undecided and "partner-mx.example.net" in undecided[0].message, [f.message for f in findings]
