"""How Exim reads MAIL FROM and RCPT TO, against the real Exim 4.96: every form an open-relay scanner
uses, and the syntax errors around them, with Exim's own reply texts. The ACL echoes $local_part and
$domain, so a wrong reading shows in the reply even where the verdict would be the same."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import realexim as rx
from conftest import EXAMPLES
from mailcfg.decisions import explain, run_policy
from mailcfg.exim.config import load_exim
from mailcfg.exim.engine import decide
from mailcfg.exim.session import World
from mailcfg.policy import load_policy
from mailcfg.snapshot import load_local
from mailcfg.transaction import Probe

pytestmark = pytest.mark.skipif(rx.available() is not None, reason=str(rx.available()))

CONFIG = """\
primary_hostname = mx.example.com
domainlist local_domains = @ : example.com
{options}
acl_smtp_rcpt = acl_check_rcpt
begin acl
acl_check_rcpt:
  accept domains = +local_domains
         message = 250 local lp=$local_part d=$domain
  deny   message = relay not permitted lp=$local_part d=$domain
begin routers
local:
  driver = accept
  domains = +local_domains
  transport = t
begin transports
t:
  driver = appendfile
  file = /dev/null
"""
# A leading space: written as the client sends it, without angle brackets (mailcfg.exim.address.argument)
RECIPIENTS = [
    "victim@remote.example", "@example.com:victim@remote.example",
    "@example.com,@mx.example.com:victim@remote.example", " @example.com:victim@remote.example",
    " @example.com,@x.example:v@remote.example", "<@EXAMPLE.COM:V@Remote.Example>",
    "@remote.example:root@example.com", "<@example.com, @x.example:v@remote.example>",
    "@example.com:@x.example:v@r.example", "@:v@remote.example", "@example.com", "@example.com:postmaster",
    '"user@remote.example"@example.com', '"user@remote.example"', "user@remote.example@example.com",
    "remote.example!user@example.com", "user%remote.example@example.com", "user%remote.example@EXAMPLE.com",
    "victim@[192.0.2.254]", " victim@[192.0.2.254]", "victim@[IPv6:2001:db8::1]", "Victim@EXAMPLE.COM",
    "victim@example.com.", "victim@remote.example.", "postmaster", "Postmaster", "root", "<>", "Name <v@example.com>",
    "<<v@example.com>>", "v(comment)@example.com", "<v@example.com", "<v@example.com>;", "v;x@example.com",
    "a\\@b@example.com", '"a b"@example.com', " a b@example.com", " x@example.com NOTIFY=NEVER",
    "<x@example.com> FOO=bar", "v@example..com", "v@-x.example", ".v@example.com", "v..w@example.com",
    '"unterminated@example.com', "v@ex_ample.com",
]
SENDERS = ["", "x@remote.example", "<@a.example:x@remote.example>", "x", "<x@remote.example> SIZE=1000",
           "<x@remote.example> FOO", "x@[192.0.2.1]", "<x@[192.0.2.1]>", '"x y"@remote.example', "x@remote.example bar"]
OPTIONS = {
    "defaults": "",
    "permissive": "allow_domain_literals\nstrip_trailing_dot\nstrip_excess_angle_brackets\n"
                  "percent_hack_domains = *\nrecipient_unqualified_hosts = *\nsender_unqualified_hosts = *\n"
                  "qualify_domain = example.com",
}


@pytest.mark.parametrize("options", list(OPTIONS))
def test_addresses_are_read_as_real_exim_reads_them(tmp_path: Path, options: str):
    root = tmp_path / "snap"
    (root / "etc" / "exim4").mkdir(parents=True)
    text = CONFIG.format(options=OPTIONS[options])
    (root / "etc" / "exim4" / "exim4.conf").write_text(text)
    (root / ".mailcfg-host").mkdir()
    (root / ".mailcfg-host" / "facts.json").write_text(json.dumps({"hostname": "mx.example.com"}))
    config = load_exim(load_local(str(root)))
    probes = [Probe("198.51.100.7", rcpt, "", "client.example.net") for rcpt in RECIPIENTS]
    probes += [Probe("198.51.100.7", "root@example.com", sender, "client.example.net") for sender in SENDERS]
    answers = rx.real_answers(rx.write_config(tmp_path / "exim.conf", text), probes)
    wrong = []
    for probe, answer in zip(probes, answers, strict=True):
        decision = decide(config, probe, World(dns=False))
        if (decision.action, decision.reply) != (answer.action, "\n".join(answer.lines)):
            wrong.append(f"MAIL FROM:{probe.sender!r} RCPT TO:{probe.rcpt!r}\n  exim: {answer.lines}\n  mailcfg: "
                         f"{decision.reply}")
    assert not wrong, f"{len(wrong)} of {len(probes)} disagree:\n" + "\n".join(wrong)


def test_explain_and_test_read_source_routes_as_exim_does(tmp_path: Path):
    """explain shows the address Exim reads; a policy file's probes use the same reading."""
    host = str(EXAMPLES / "exim-hosting")
    shown = explain(host, Probe("198.51.100.7", "@example.org:victim@remote.example", "", "client.example.net"))
    assert shown.decision.reply == "550 relay not permitted"
    assert any(s.result == "read" and "<victim@remote.example>" in s.note for s in shown.decision.trace)
    policy = tmp_path / "policy.yml"
    policy.write_text("probes:\n"
                      "  - {name: in, client: 198.51.100.7, rcpt: '@remote.example:postmaster@example.org', "
                      "expect: accept}\n"
                      "  - {name: out, client: 198.51.100.7, rcpt: ' @example.org,@example.net:v@remote.example', "
                      "expect: reject}\n")
    run = run_policy(host, load_policy(policy))
    assert [(c.actual, c.passed) for c in run.results] == [("accept", True), ("reject", True)], run.results
