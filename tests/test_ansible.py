"""The Ansible collection mailcfg.mailcfg (ansible_collections/mailcfg/mailcfg/), run for real.

`ansible-test sanity` checks the collection. Then two real `ansible-playbook` runs (each start costs
seconds, so each covers several assertions) work on real hosts: `mx`, served by the real sshd of
tests/realsshd.py with a real Postfix master running on the open-relay example (tests/test_apply.py's
Host); `dead`, a port nothing listens on; `mx3`, a host not built yet (nothing listens either), that
only the pre-deploy play targets.

1. `--check --diff`: lint and a fix preview on mx and dead, the lint module's EXAMPLES, and a role's
   pre-deploy check on mx3 with its group_vars; the mailcfg_report callback writes one JSON report.
2. the fix module's EXAMPLES on mx (a preview in check mode, then the fix with a backup, notifying
   the play's handler that reloads Postfix), then lint again; the callback writes SARIF.
The real Postfix (tests/realpostfix.py) answers an outside client's relay attempt on the files before
and after.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import realpostfix as rp
from conftest import REPO
from mailcfg.transaction import Probe
from realsshd import available, free_port

pytestmark = pytest.mark.skipif(not available(), reason="needs Debian's sshd, unshare and root (scripts/setup.sh)")

COLLECTION = REPO / "ansible_collections" / "mailcfg" / "mailcfg"
BIN = Path(sys.executable).parent
OUTSIDER = Probe("198.51.100.7", "victim@relay-probe.invalid", "someone@outside.example", "web1.example.org",
                 service="smtp")

# --- ansible-test sanity ------------------------------------------------------------------------------

# What runs without a download: ansible-test's own code-smell scripts in its own Python.
OFFLINE = ("action-plugin-docs", "changelog", "compile", "empty-init", "ignores", "line-endings", "no-assert",
           "no-get-exception", "no-illegal-filenames", "no-smart-quotes", "replace-urlopen", "shebang",
           "symlinks", "use-argspec-type-path", "use-compat-six")
# These make a virtualenv each, install pinned requirements from PyPI and need pip bootstrapped by a
# script ansible-test downloads from ci-files.testing.ansible.com, which this network does not reach:
# MAILCFG_ANSIBLE_SANITY=all runs them with the stand-in below (first run: a few minutes of pip).
VENV = ("ansible-doc", "import", "pep8", "pylint", "runtime-metadata", "validate-modules", "yamllint")
GET_PIP = '''\
"""Stand-in for ansible-test's get-pip bootstrap: pip from ensurepip, then `pip install` of the arguments."""
import ensurepip
import ssl
import subprocess
import sys

ensurepip.bootstrap()
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]  # get-pip's own options
# ansible-test hides pip's configuration: the system's CA store, as a pip that uses truststore would
cafile = ssl.get_default_verify_paths().openssl_cafile
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "--cert", cafile, *args]))
'''


def pinned_pip() -> str:
    """The pip version ansible-test bootstraps into its virtualenvs (its bootstrap script is named after it)."""
    import ansible_test

    source = (Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py").read_text()
    found = re.search(r"\bpip='([0-9.]+)'", source)
    assert found, "ansible-test no longer names the pip it bootstraps where this test looks"
    return found.group(1)


def test_ansible_test_sanity_passes():
    tests = OFFLINE + (VENV if os.environ.get("MAILCFG_ANSIBLE_SANITY") == "all" else ())
    home = REPO / ".ansible-test"  # ansible-test's cache of virtualenvs, kept between runs
    cache = home / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / f"get_pip_{pinned_pip().replace('.', '_')}.py").write_text(GET_PIP)
    env = os.environ | {"HOME": str(home)}
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    args = [str(BIN / "ansible-test"), "sanity", "--local", "--python", python, *(f"--test={t}" for t in tests)]
    out = subprocess.run(args, cwd=COLLECTION, capture_output=True, text=True, env=env, timeout=900, check=False)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    for test in tests:
        assert f'Running sanity test "{test}"' in out.stdout + out.stderr


def test_without_mailcfg_on_the_controller_the_task_fails_naming_the_library(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import sys\nsys.modules['mailcfg'] = None  # not importable\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")} | {
        "HOME": str(tmp_path), "PYTHONPATH": str(site), "ANSIBLE_COLLECTIONS_PATH": str(REPO),
        "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False"}
    out = subprocess.run([str(BIN / "ansible"), "localhost", "-m", "mailcfg.mailcfg.lint", "-a",
                          json.dumps({"files": {"/etc/postfix/main.cf": "mynetworks = 0.0.0.0/0\n"}})],
                         env=env, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Failed to import the required Python library (mailcfg==0.1.0)" in out.stdout, out.stdout
    assert f"Python {sys.executable}" in out.stdout and "Traceback" not in out.stdout + out.stderr


# --- tracing a rendered line to its template ----------------------------------------------------------

def test_a_rendered_line_is_traced_to_the_one_template_line_that_sets_it_or_not_at_all():
    sys.path.insert(0, str(REPO))
    try:
        from ansible_collections.mailcfg.mailcfg.plugins.plugin_utils.templates import trace, trace_line
    finally:
        sys.path.remove(str(REPO))
    rendered = "# managed\nmynetworks = 0.0.0.0/0\nsmtpd_relay_restrictions = permit_mynetworks,\n" \
        "    reject_unauth_destination\nrelay_domains = a\n"
    template = "# {{ ansible_managed }}\n\nmynetworks = {{ nets | join(', ') }}\n" \
        "smtpd_relay_restrictions = permit_mynetworks,\n    reject_unauth_destination\n" \
        "{% if x %}\nrelay_domains = a\n{% else %}\nrelay_domains = b\n{% endif %}\n"
    assert trace_line(rendered, 2, template) == (3, 1)  # by the setting's name: Jinja wrote its value
    assert trace_line(rendered, 4, template) == (5, 5)  # the same text
    assert trace_line(rendered, 5, template) == (7, 1)  # the same text, though the name is set twice
    assert trace_line(rendered.replace("= a", "= c"), 5, template) is None  # set on two lines: not guessed
    assert trace_line(rendered, 9, template) is None
    found = [{"rule": "r", "file": "etc/postfix/main.cf", "line": 2, "column": 14},
             {"rule": "r", "file": "etc/postfix/main.cf", "line": 5, "column": 1},
             {"rule": "r", "file": "etc/postfix/helo_access", "line": 1, "column": 1}]
    rendered_c = rendered.replace("= a", "= c")
    traced, untraced = trace(found, {"/etc/postfix/main.cf": rendered_c},
                             {"/etc/postfix/main.cf": ("roles/mx/templates/main.cf.j2", template)})
    assert traced[0] == {"rule": "r", "file": "roles/mx/templates/main.cf.j2", "line": 3, "column": 1,
                         "rendered": {"file": "etc/postfix/main.cf", "line": 2, "column": 14}}
    assert traced[1] == dict(found[1], template="roles/mx/templates/main.cf.j2") and traced[2] == found[2]
    assert untraced == ["r at /etc/postfix/main.cf:5 is not traced to a line of roles/mx/templates/main.cf.j2 "
                        "(its setting is written by Jinja or set on several lines)"]


# --- the play ------------------------------------------------------------------------------------------

def examples(module: str) -> str:
    """The EXAMPLES of a docs stub, as a tasks file."""
    tree = ast.parse((COLLECTION / "plugins" / "modules" / f"{module}.py").read_text())
    [text] = [n.value.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "EXAMPLES"]
    return text


TEMPLATE = """\
# {{ ansible_managed }}
compatibility_level = 3.6
myhostname = {{ inventory_hostname }}.example.org
mydestination = $myhostname, localhost
mynetworks = {{ mail_trusted_networks | join(', ') }}
smtpd_relay_restrictions = permit_mynetworks,
    permit_sasl_authenticated,
    reject_unauth_destination
"""

ROLE_TASKS = """\
- name: Check what this role would write, before writing it
  mailcfg.mailcfg.lint:
    files:
      /etc/postfix/main.cf: "{{ lookup('ansible.builtin.template', 'main.cf.j2') }}"
    templates:
      /etc/postfix/main.cf: main.cf.j2
    fail_on: error

- name: Deploy main.cf (here beside the playbook; never reached with a bad template)
  ansible.builtin.template:
    src: main.cf.j2
    dest: "{{ out }}/{{ inventory_hostname }}-deployed-main.cf"
  delegate_to: localhost
"""

AUDIT = """\
- name: Audit the mail hosts
  hosts: mail
  gather_facts: false
  tasks:
    - name: Lint
      mailcfg.mailcfg.lint:
        fail_on: never
      register: lint
    - name: Lint as an unprivileged user, through sudo
      mailcfg.mailcfg.lint:
        fail_on: never
      become: true
      vars:
        ansible_user: auditor
      register: lint_become
    - name: Preview the fixes
      mailcfg.mailcfg.fix:
        unsafe: true
      register: preview
    - name: The lint module's EXAMPLES
      ansible.builtin.import_tasks: lint-examples.yml
      ignore_errors: true
    - name: Keep the results
      ansible.builtin.copy:
        content: "{{ {'lint': lint, 'become': lint_become, 'preview': preview, 'example': mail_lint} | to_json }}"
        dest: "{{ out }}/{{ inventory_hostname }}-audit.json"
        mode: "0600"
      delegate_to: localhost
      check_mode: false

- name: Pre-deploy check of the hosts to be built
  hosts: new_mail
  gather_facts: false
  roles:
    - postfix
"""

FIX = """\
- name: Fix the mail hosts
  hosts: mx
  gather_facts: false
  handlers:
    - name: Reload postfix
      ansible.builtin.command: postfix reload
      register: reloaded
      changed_when: true
  tasks:
    - name: The fix module's EXAMPLES
      ansible.builtin.import_tasks: fix-examples.yml
    - name: Reload now
      ansible.builtin.meta: flush_handlers
    - name: Lint again
      mailcfg.mailcfg.lint:
        fail_on: never
      register: after
    - name: Keep the results
      ansible.builtin.copy:
        content: "{{ {'preview': mail_fix_preview, 'after': after, 'reloaded': reloaded} | to_json }}"
        dest: "{{ out }}/{{ inventory_hostname }}-fix.json"
        mode: "0600"
      delegate_to: localhost
"""


class Play:
    """The playbook directory, its inventory and a way to run ansible-playbook on it."""

    def __init__(self, root: Path, mx, control: Path):
        self.root, self.mx, self.out = root, mx, root / "out"
        self.out.mkdir(parents=True)
        key, kh = mx.sshd.client_key, mx.kh
        common = f"-o UserKnownHostsFile={kh} -o StrictHostKeyChecking=yes -o ConnectTimeout=5"
        inventory = {
            "all": {
                "vars": {"ansible_user": "root", "ansible_ssh_private_key_file": str(key),
                         "ansible_ssh_common_args": common, "ansible_python_interpreter": "/usr/bin/python3",
                         "ansible_remote_tmp": "/tmp/.mailcfg-ansible-remote", "out": str(self.out)},
                "children": {
                    "mail": {"hosts": {"mx": {"ansible_host": "127.0.0.1", "ansible_port": mx.sshd.port},
                                       "dead": {"ansible_host": "127.0.0.1", "ansible_port": free_port()}}},
                    "new_mail": {"hosts": {"mx3": {"ansible_host": "127.0.0.1", "ansible_port": free_port()}}},
                },
            },
        }
        (root / "inventory.yml").write_text(json.dumps(inventory))
        (root / "group_vars").mkdir()
        (root / "group_vars" / "all.yml").write_text("mail_trusted_networks: [127.0.0.0/8]\n")
        # the mistake the pre-deploy check must stop: the new hosts' group trusts the whole internet
        (root / "group_vars" / "new_mail.yml").write_text(
            "mail_trusted_networks: [127.0.0.0/8, 192.0.2.0/24, 0.0.0.0/0]\n")
        role = root / "roles" / "postfix"
        (role / "templates").mkdir(parents=True)
        (role / "tasks").mkdir()
        (role / "templates" / "main.cf.j2").write_text(TEMPLATE)
        (role / "tasks" / "main.yml").write_text(ROLE_TASKS)
        (root / "templates").mkdir()
        (root / "templates" / "main.cf.j2").write_text(TEMPLATE)  # for the lint EXAMPLES' pre-deploy task
        (root / "lint-examples.yml").write_text(examples("lint"))
        (root / "fix-examples.yml").write_text(examples("fix"))
        (root / "audit.yml").write_text(AUDIT)
        (root / "fix.yml").write_text(FIX)
        self.home = root / "home"
        self.home.mkdir()
        self.control = control

    def run(self, playbook: str, *args: str, report: str, fmt: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK" and not k.startswith("ANSIBLE_")} | {
            "HOME": str(self.home), "LC_ALL": "C.UTF-8", "NO_COLOR": "1",
            "ANSIBLE_COLLECTIONS_PATH": str(REPO), "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "False",
            "ANSIBLE_LOCAL_TEMP": str(self.home / "tmp"), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_HOST_KEY_CHECKING": "True", "ANSIBLE_PIPELINING": "True",
            # one connection per host for the whole run, gone a few seconds after it
            "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=5s",
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(self.control),
            "ANSIBLE_SSH_TRANSFER_METHOD": "piped",  # the test sshd has no sftp subsystem
            "ANSIBLE_SHOW_CUSTOM_STATS": "True", "ANSIBLE_CALLBACKS_ENABLED": "mailcfg.mailcfg.mailcfg_report",
            "MAILCFG_REPORT_FILE": str(self.out / report), "MAILCFG_REPORT_FORMAT": fmt,
        }
        return subprocess.run([str(BIN / "ansible-playbook"), "-i", "inventory.yml", playbook, *args], cwd=self.root,
                              env=env, capture_output=True, text=True, timeout=300, check=False)

    def kept(self, name: str) -> dict:
        return json.loads((self.out / name).read_text())


@pytest.fixture(scope="module")
def mx(tmp_path_factory):
    from test_apply import Host

    host = Host(tmp_path_factory.mktemp("ansible-mx"), users={"auditor": "ALL=(root) NOPASSWD: ALL"})
    os.chmod(host.conf / "helo_access", 0o600)  # for root only: without become, the relay is not decided
    yield host
    host.stop()


def recap(stdout: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP: host -> {ok, changed, unreachable, failed, skipped, rescued, ignored}."""
    rows = re.findall(r"^(\S+)\s+:\s+(ok=.*)$", stdout.split("PLAY RECAP")[-1], re.M)
    return {host: {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)} for host, counts in rows}


def custom_stats(stdout: str) -> dict:
    match = re.search(r"^\s*RUN: (\{.*\})\s*$", stdout.split("CUSTOM STATS")[-1], re.M)
    assert match, stdout[-2000:]
    return json.loads(match.group(1))


def cli_findings(host) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "mailcfg", "lint", "-f", "json", host.url, *host.ssh],
                         capture_output=True, text=True, timeout=120, check=False,
                         env={k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"} | {"NO_COLOR": "1"})
    assert out.returncode in (0, 1), out.stderr
    [target] = json.loads(out.stdout)["targets"]
    assert target["status"] == "ok", target
    return target["findings"]


def without_fingerprint(findings: list[dict]) -> list[dict]:
    """A fingerprint names its target (the CLI's ssh:// URL, Ansible's inventory name): the rest must agree."""
    return [{k: v for k, v in f.items() if k != "fingerprint"} for f in findings]


def relay_answer(harness, root: Path, files: dict[str, bytes]) -> rp.Observed:
    """The real Postfix's answer to an outsider relaying, on these /etc/postfix files (the host's own
    `master_service_disable = inet` left out, master.cf the harness's smtp service, and hash: tables
    read as texthash: from their source, as tests/realworld.py does: no postmap in the harness)."""
    etc = root / "etc" / "postfix"
    etc.mkdir(parents=True)
    for name, data in files.items():
        text = data.decode()
        if name == "main.cf":
            text = text.replace("master_service_disable = inet\n", "").replace("hash:/etc/", "texthash:/etc/")
        (etc / name).write_text(text)
    (etc / "master.cf").write_text(rp.master_cf(["smtp      inet  n       -       n       -       -       smtpd"]))
    rp.finish_snapshot(root)
    [[answer]] = harness.run([(root, [OUTSIDER])])
    return answer


@pytest.fixture
def control_dir():
    """ssh's control sockets: their path must fit a sun_path (108 bytes), which pytest's temporary paths
    (deeper under a parallel run's worker) may not."""
    path = Path(tempfile.mkdtemp(prefix="mailcfg-cp-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_playbooks_lint_fix_and_stop_a_bad_template_on_real_hosts(mx, harness, tmp_path, control_dir):
    mx.reset()
    play = Play(tmp_path / "play", mx, control_dir)
    expected = cli_findings(mx)
    assert "postfix-open-relay" in {f["rule"] for f in expected}
    before = {p.name: p.read_bytes() for p in mx.conf.iterdir() if p.is_file()}

    # 1. --check --diff: lint, fix preview, the lint EXAMPLES, and the pre-deploy play
    audit = play.run("audit.yml", "--check", "--diff", report="audit.json", fmt="json")
    hosts = recap(audit.stdout)
    assert hosts["dead"]["unreachable"] == 1 and hosts["dead"]["ok"] == 0, audit.stdout  # it fails alone
    assert hosts["mx"]["failed"] == 0 and hosts["mx"]["unreachable"] == 0, audit.stdout
    assert hosts["mx3"]["failed"] == 1 and hosts["mx3"]["unreachable"] == 0, audit.stdout
    assert {p.name: p.read_bytes() for p in mx.conf.iterdir() if p.is_file()} == before  # --check: no byte
    kept = play.kept("mx-audit.json")
    lint, preview = kept["lint"], kept["preview"]
    assert without_fingerprint(lint["findings"]) == without_fingerprint(expected)  # what `mailcfg lint` says
    assert lint["status"] == "ok" and lint["systems"] == ["postfix"] and not lint.get("failed")
    assert kept["become"]["findings"] == lint["findings"]  # become honoured: auditor reads through sudo
    assert lint["summary"]["rules"]["postfix-open-relay"] >= 1
    assert preview["changed"] and preview["files"] == ["/etc/postfix/main.cf"]
    assert "\n-    check_helo_access hash:/etc/postfix/helo_access,\n" in audit.stdout  # --diff shows the change
    assert "postfix-open-relay" in {f["rule"] for f in preview["fixed"]}
    # per-rule counts, summed over the lint tasks that did not fail (Ansible drops a failed task's stats)
    stats = custom_stats(audit.stdout)
    # on mx: Lint, Lint as auditor, the first lint EXAMPLE and its pre-deploy one (group_vars/all.yml: no
    # relay); the relay-only EXAMPLE failed
    assert stats["mailcfg_hosts"] == 4
    assert stats["mailcfg_rule_postfix_open_relay"] == sum(x["summary"]["rules"]["postfix-open-relay"]
                                                          for x in (lint, kept["become"], kept["example"]))
    # the pre-deploy check stopped mx3's bad template before the deploy task, naming the template line
    assert not list(play.out.glob("*-deployed-main.cf"))
    report = {t["target"]: t for t in play.kept("audit.json")["targets"]}
    [predeploy] = [t for name, t in report.items() if name.startswith("mx3")]
    relay = [f for f in predeploy["findings"] if f["rule"] == "postfix-open-relay"]
    assert relay and all(f["file"] == "roles/postfix/templates/main.cf.j2" and f["line"] == 5 for f in relay)
    assert [t["status"] for n, t in report.items() if n.startswith("dead")] == ["unreachable"]
    core = ("rule", "severity", "message", "file", "line", "column", "service", "fix")
    assert [[f[k] for k in core] for f in report["mx: Lint"]["findings"]] == [[f[k] for k in core]
                                                                             for f in lint["findings"]]

    # 2. the fix EXAMPLES: preview in check mode, then the fix, the handler reloads Postfix; lint again
    fixed = play.run("fix.yml", "--diff", report="fix.sarif", fmt="sarif")
    assert recap(fixed.stdout)["mx"]["failed"] == 0, fixed.stdout + fixed.stderr
    kept = play.kept("mx-fix.json")
    # without `unsafe`, the preview leaves the relay (its fix is unsafe), and names it
    assert not kept["preview"]["changed"] and kept["preview"]["files"] == []
    assert "postfix-open-relay" in {f["rule"] for f in kept["preview"]["findings"]}
    assert kept["reloaded"]["rc"] == 0 and kept["reloaded"]["cmd"] == ["postfix", "reload"]  # the handler ran
    assert mx.running()
    assert "postfix-open-relay" not in {f["rule"] for f in kept["after"]["findings"]}
    [backup] = [p for p in mx.conf.iterdir() if p.name.startswith("main.cf.") and p.name != "main.cf"]
    assert backup.read_bytes() == before["main.cf"]
    sarif = play.kept("fix.sarif")
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["tool"]["driver"]["name"] == "mailcfg"

    # the real Postfix: the outsider relayed through the files before, and is refused after
    tables = {n: before[n] for n in ("helo_access", "local_users")}
    old = relay_answer(harness, tmp_path / "before", {"main.cf": before["main.cf"], **tables})
    new = relay_answer(harness, tmp_path / "after", {"main.cf": (mx.conf / "main.cf").read_bytes(), **tables})
    assert old.action == "accept", old.transcript
    assert new.action == "reject" and new.code == 554 and "Relay access denied" in new.reply, new.transcript
