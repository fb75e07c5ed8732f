"""`mailcfg fetch` and `mailcfg lint ssh://...` against a real OpenSSH sshd on loopback.

The sshd runs in its own mount namespace (`unshare --mount`) in which /etc/postfix is a
bind-mounted test directory holding the open-relay example plus a stock master.cf, so the remote
script reads real absolute paths and the real `postconf` answers for that configuration.
"""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import EXAMPLES, named_apart
from mailcfg.remote.collect import StreamError, parse_stream, write_snapshot
from realsshd import Sshd, available, free_port, keygen, served_conf

pytestmark = pytest.mark.skipif(not available(), reason="needs Debian's sshd, unshare and root (scripts/setup.sh)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("sshd")
    srv = Sshd(base, served_conf(base))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def sudo_host(tmp_path_factory):
    """The open-relay host with its HELO table readable by root only; `auditor` may sudo, `guest` not."""
    base = tmp_path_factory.mktemp("sudo")
    conf = served_conf(base)
    os.chmod(conf / "helo_access", 0o600)
    srv = Sshd(base, conf, users={"auditor": "ALL=(root) NOPASSWD: ALL", "guest": None})
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def clean_host(tmp_path_factory):
    """The hardened example, with a verbose log that shows the tunnels it opens as a jump host."""
    base = tmp_path_factory.mktemp("clean")
    srv = Sshd(base, served_conf(base, "hardened-submission"), sshd_options="LogLevel DEBUG1\n")
    yield srv
    srv.stop()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty HOME: no ~/.ssh/known_hosts, no default keys."""
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def mailcfg(home: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"} | {"HOME": str(home), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "mailcfg", *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False, cwd=cwd)


def findings(home: Path, *args: str) -> tuple[int, list[dict]]:
    out = mailcfg(home, "lint", "-f", "json", *args)
    assert out.returncode in (0, 1), out.stderr
    [target] = json.loads(out.stdout)["targets"]
    assert target["status"] == "ok", target
    return out.returncode, target["findings"]


def test_fetch_gives_the_findings_of_the_same_files_linted_locally(server, home, tmp_path):
    kh = server.known_hosts(tmp_path / "known_hosts")
    snap = tmp_path / "snap"
    out = mailcfg(home, "fetch", server.url(), "-o", str(snap), "--known-hosts", str(kh),
                  "--identity", str(server.client_key))
    assert out.returncode == 0, out.stderr
    for name in ("main.cf", "master.cf", "helo_access", "local_users"):  # tables found by the remote script
        assert (snap / "etc/postfix" / name).read_bytes() == (server.conf / name).read_bytes()
    facts = json.loads((snap / ".mailcfg-host/facts.json").read_text())
    assert facts["hostname"] == socket.getfqdn() or facts["hostname"] == socket.gethostname()
    assert {"interface": "lo", "address": "127.0.0.1", "prefix": 8} in facts["addresses"]
    version = subprocess.run(["postconf", "-d", "-h", "mail_version"], capture_output=True, text=True).stdout.strip()
    assert facts["systems"]["postfix"] == {"version": version}
    assert "mydomain = example.org" in (snap / ".mailcfg-host/cmd/postconf-n.txt").read_text()  # real postconf
    assert (snap / ".mailcfg-host/cmd/postconf-M.txt").read_text().startswith("smtp")

    # The same files, laid out locally by the test (host files from this machine's /etc, as sshd serves them).
    local = tmp_path / "local"
    shutil.copytree(server.conf, local / "etc/postfix")
    for name in ("passwd", "hosts", "mailname", "aliases"):
        if Path("/etc", name).is_file():
            shutil.copyfile(Path("/etc", name), local / "etc" / name)
    (local / ".mailcfg-host").mkdir()
    shutil.copyfile(snap / ".mailcfg-host/facts.json", local / ".mailcfg-host/facts.json")
    rc_snap, fetched = findings(home, str(snap))
    rc_local, expected = findings(home, str(local))
    key = {(f["rule"], f["file"], f["line"]) for f in fetched}
    assert key == {(f["rule"], f["file"], f["line"]) for f in expected}
    assert named_apart(fetched) == named_apart(expected) and rc_snap == rc_local == 1
    assert ("postfix-open-relay", "etc/postfix/helo_access", 2) in key  # examples/open-relay/expected.tsv


def test_lint_of_the_host_equals_lint_of_its_fetched_snapshot(server, home, tmp_path):
    kh = server.known_hosts(tmp_path / "known_hosts")
    ssh = ("--known-hosts", str(kh), "--identity", str(server.client_key))
    snap = tmp_path / "snap"
    assert mailcfg(home, "fetch", server.url(), "-o", str(snap), *ssh).returncode == 0
    out = mailcfg(home, "lint", "-f", "json", server.url(), *ssh)
    assert out.returncode == 1, out.stderr
    [remote] = json.loads(out.stdout)["targets"]
    assert remote["target"] == server.url() and remote["status"] == "ok" and remote["systems"] == ["postfix"]
    assert named_apart(remote["findings"]) == named_apart(findings(home, str(snap))[1])
    # fetching again replaces the earlier snapshot
    assert mailcfg(home, "fetch", server.url(), "-o", str(snap), *ssh).returncode == 0


def test_explain_and_test_of_a_host_decide_on_its_collected_configuration(server, home, tmp_path):
    """explain and test take hosts as lint does: collected read-only, then decided as the same files locally."""
    kh = server.known_hosts(tmp_path / "known_hosts")
    ssh = ("--known-hosts", str(kh), "--identity", str(server.client_key))
    local = str(server.conf)  # what the host serves as /etc/postfix
    probe = ("--client", "198.51.100.77", "--helo", "web1.example.org", "--rcpt", "victim@example.com")
    out = mailcfg(home, "explain", server.url(), local, *probe, "-f", "json", *ssh)
    assert out.returncode == 0, out.stderr
    remote, here = json.loads(out.stdout)["targets"]
    assert remote["target"] == server.url() and remote["decision"] == "accept"  # the HELO table's open relay
    mine = ("target", "trace", "assumptions")  # the host's facts (its Postfix version) are known remotely only
    assert {k: v for k, v in remote.items() if k not in mine} == {k: v for k, v in here.items() if k not in mine}
    assert not any("version unknown" in a for a in remote["assumptions"])
    policy = EXAMPLES / "open-relay" / "policy.yml"
    out = mailcfg(home, "test", server.url(), "--policy", str(policy), "-f", "junit", *ssh)
    assert out.returncode == 1, out.stderr
    assert out.stdout.count("<testcase ") == 4 and out.stdout.count('type="probe-failed"') == 1


def test_unknown_host_key_is_refused_unless_accepted(server, home, tmp_path):
    snap = tmp_path / "snap"
    out = mailcfg(home, "fetch", server.url(), "-o", str(snap), "--identity", str(server.client_key))
    assert out.returncode == 3
    [line] = out.stderr.splitlines()
    assert "unknown host key" in line and f"[127.0.0.1]:{server.port}" in line and "--accept-new-host-keys" in line
    assert not snap.exists()

    out = mailcfg(home, "lint", "-f", "json", server.url(), "--identity", str(server.client_key))
    assert out.returncode == 3
    [target] = json.loads(out.stdout)["targets"]
    assert target["status"] == "unreachable" and "unknown host key" in target["error"]

    kh = tmp_path / "known_hosts"
    out = mailcfg(home, "fetch", server.url(), "-o", str(snap), "--identity", str(server.client_key),
                  "--known-hosts", str(kh), "--accept-new-host-keys")
    assert out.returncode == 0, out.stderr
    assert kh.read_text().split() == [f"[127.0.0.1]:{server.port}", "ssh-ed25519", server.host_key]
    assert not (home / ".ssh").exists()  # recorded in --known-hosts, not in ~/.ssh
    out = mailcfg(home, "lint", server.url(), "--identity", str(server.client_key), "--known-hosts", str(kh))
    assert out.returncode == 1, out.stderr


@pytest.mark.parametrize("key_type", ["ssh-ed25519", "ecdsa-sha2-nistp256"])
def test_changed_host_key_is_refused_even_with_accept_new(server, home, tmp_path, key_type):
    other = tmp_path / "other"
    if key_type == "ssh-ed25519":
        old = keygen(other)
    else:
        subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", str(other)], check=True)
        old = other.with_suffix(".pub").read_text().split()[1]
    (home / ".ssh").mkdir()
    server.known_hosts(home / ".ssh/known_hosts", old, key_type)  # the user's own known_hosts
    before = (home / ".ssh/known_hosts").read_text()
    out = mailcfg(home, "fetch", server.url(), "-o", str(tmp_path / "snap"), "--identity", str(server.client_key),
                  "--accept-new-host-keys")
    assert out.returncode == 3
    [line] = out.stderr.splitlines()
    assert "host key CHANGED" in line and "refused" in line and f"[127.0.0.1]:{server.port}" in line
    assert (home / ".ssh/known_hosts").read_text() == before
    assert not (tmp_path / "snap").exists()


def test_unreachable_port_is_reported_and_other_targets_still_linted(home, tmp_path):
    port = free_port()  # nothing listens there
    url = f"ssh://root@127.0.0.1:{port}"
    out = mailcfg(home, "lint", "-f", "json", "--timeout", "3", url, str(EXAMPLES / "open-relay"))
    assert out.returncode == 3
    remote, local = json.loads(out.stdout)["targets"]
    assert remote["target"] == url and remote["status"] == "unreachable" and remote["findings"] == []
    assert "connection refused" in remote["error"] and f"127.0.0.1 port {port}" in remote["error"]
    assert local["status"] == "ok" and local["findings"]
    assert out.stderr.splitlines() == [f"mailcfg: {url}: {remote['error']}"]

    out = mailcfg(home, "fetch", url, "-o", str(tmp_path / "snap"))
    assert out.returncode == 3 and len(out.stderr.splitlines()) == 1 and "unreachable" in out.stderr

    text = mailcfg(home, "lint", "--timeout", "3", url).stdout  # the status is said once
    assert "unreachable: connection refused" in text and text.count("unreachable") == 1, text


def test_fetch_refuses_a_directory_that_is_not_a_snapshot(home, tmp_path):
    (tmp_path / "keep.txt").write_text("mine\n")
    out = mailcfg(home, "fetch", "ssh://root@127.0.0.1:1", "-o", str(tmp_path))
    assert out.returncode == 2 and "not empty" in out.stderr
    assert (tmp_path / "keep.txt").read_text() == "mine\n"


def test_snapshot_writer_keeps_hostile_paths_inside_the_snapshot(tmp_path):
    body = b"x\n"
    stream = (b"motd noise\n=== MAILCFG 1\n"
              + b"=== FILE 2 /../../escaped\n" + body + b"\n"
              + b"=== FILE 2 /.mailcfg-host/facts.json\n" + body + b"\n"
              + b"=== FILE 2 /etc/postfix/main.cf\n" + body + b"\n"
              + b"=== CMD 0 2 ../evil\n" + body + b"\n"
              + b"=== ERR permission-denied /etc/postfix/secret map\n=== END\n")
    collected = parse_stream(stream)
    data = write_snapshot(collected, tmp_path / "snap")
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "evil.txt").exists()
    assert (tmp_path / "snap/etc/postfix/main.cf").read_bytes() == body
    assert {"path": "/etc/postfix/secret map", "reason": "permission-denied"} in data["unreadable"]
    assert {u["path"] for u in data["unreadable"] if u["reason"] == "unsafe-path"} == \
        {"/../../escaped", "/.mailcfg-host/facts.json"}
    assert json.loads((tmp_path / "snap/.mailcfg-host/facts.json").read_text())["systems"] == {"postfix": {}}


@pytest.mark.parametrize("header", ["=== FILE \u00b2 /etc/postfix/main.cf", "=== CMD 0 \u0662 postconf"])
def test_a_size_in_digits_of_another_script_is_garbled_output_not_a_crash(header):
    """A hostile host's header with a size int() would refuse (a superscript) or read (Arabic-Indic digits)."""
    stream = ("=== MAILCFG 1\n" + header + "\nxx\n=== END\n").encode()
    with pytest.raises(StreamError, match="garbled"):
        parse_stream(stream)


def test_a_host_that_never_answers_times_out(home):
    with socket.socket() as silent:  # accepts connections (backlog) but never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        url = f"ssh://root@127.0.0.1:{silent.getsockname()[1]}"
        start = time.monotonic()
        out = mailcfg(home, "lint", "-f", "json", "--timeout", "1", url)
        took = time.monotonic() - start
    assert out.returncode == 3
    [target] = json.loads(out.stdout)["targets"]
    assert target["status"] == "unreachable" and "127.0.0.1 port" in target["error"], target
    assert took < 15


def test_many_hosts_with_bounded_forks_keep_their_order_and_dead_ones_do_not_stop_the_rest(server, home, tmp_path):
    kh = server.known_hosts(tmp_path / "known_hosts")
    dead = [f"ssh://root@127.0.0.1:{free_port()}" for _ in range(3)]
    targets = [server.url()] * 12
    for i, url in enumerate(dead):
        targets.insert(4 * i + 1, url)
    out = mailcfg(home, "lint", "-f", "json", "--forks", "4", "--timeout", "3", "--known-hosts", str(kh),
                  "--identity", str(server.client_key), *targets)
    assert out.returncode == 3, out.stderr
    results = json.loads(out.stdout)["targets"]
    assert [r["target"] for r in results] == targets
    assert [r["status"] for r in results] == ["unreachable" if t in dead else "ok" for t in targets]
    first = next(r["findings"] for r in results if r["status"] == "ok")
    assert first and all(r["findings"] == first for r in results if r["status"] == "ok")


def test_a_fleet_of_52_inventory_hosts_in_one_command(server, home, tmp_path):
    kh = server.known_hosts(tmp_path / "known_hosts")
    port = server.port
    dead = free_port()
    lines = ["all:", "  children:", "    mx:", "      hosts:"]
    lines += [f"        mx{i:02d}: {{ansible_host: 127.0.0.1, ansible_port: {port}, ansible_user: root}}"
              for i in range(50)]
    lines += ["    broken:", "      hosts:"]
    lines += [f"        gone{i}: {{ansible_host: 127.0.0.1, ansible_port: {dead}}}" for i in range(2)]
    inv = tmp_path / "inventory.yml"
    inv.write_text("\n".join(lines) + "\n")
    ssh = ("--known-hosts", str(kh), "--identity", str(server.client_key), "--timeout", "3")
    out = mailcfg(home, "lint", "-f", "json", "-i", str(inv), "all", "--forks", "8", *ssh)
    assert out.returncode == 3, out.stderr
    results = json.loads(out.stdout)["targets"]
    assert [r["target"] for r in results] == [f"mx{i:02d}" for i in range(50)] + ["gone0", "gone1"]
    assert [r["status"] for r in results].count("ok") == 50
    assert all(r["status"] == "unreachable" and "refused" in r["error"] for r in results[50:])
    assert len({json.dumps(named_apart(r["findings"])) for r in results[:50]}) == 1 and results[0]["findings"]

    limited = mailcfg(home, "lint", "-f", "json", "-i", str(inv), "mx", "--limit", "mx0*:!mx05", *ssh)
    assert [r["target"] for r in json.loads(limited.stdout)["targets"]] == \
        [f"mx{i:02d}" for i in range(10) if i != 5]
    bad = mailcfg(home, "lint", "-i", str(inv), "nosuchgroup")
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1 and str(inv) in bad.stderr


def lint_json(home: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    out = mailcfg(home, "lint", "-f", "json", *args)
    return out, json.loads(out.stdout)["targets"]


def test_root_only_files_are_reported_per_file_and_read_with_become(sudo_host, server, home, tmp_path):
    kh = sudo_host.known_hosts(tmp_path / "known_hosts")
    ssh = ("--known-hosts", str(kh), "--identity", str(sudo_host.client_key))
    out, [plain] = lint_json(home, sudo_host.url("auditor"), *ssh)
    assert plain["status"] == "ok", plain
    assert plain["unreadable"] == [{"path": "/etc/postfix/helo_access", "reason": "permission-denied"}]
    assert f"mailcfg: {sudo_host.url('auditor')}: /etc/postfix/helo_access not read (permission-denied); " \
           "try --become" in out.stderr.splitlines()
    assert "postfix-open-relay" not in {f["rule"] for f in plain["findings"]}  # the table it needs was not read

    out, [become] = lint_json(home, sudo_host.url("auditor"), "--become", *ssh)
    assert become["status"] == "ok" and become["unreadable"] == [] and out.returncode == 1
    as_root = lint_json(home, sudo_host.url("root"), *ssh)[1][0]
    assert named_apart(become["findings"]) == named_apart(as_root["findings"])
    assert ("postfix-open-relay", "etc/postfix/helo_access", 2) in \
        {(f["rule"], f["file"], f["line"]) for f in become["findings"]}

    snap = tmp_path / "snap"  # a fetch without --become keeps the reasons, and linting it says so again
    out = mailcfg(home, "fetch", sudo_host.url("auditor"), "-o", str(snap), *ssh)
    assert out.returncode == 0 and "/etc/postfix/helo_access not read (permission-denied)" in out.stderr
    assert lint_json(home, str(snap))[1][0]["unreadable"] == plain["unreadable"]


def test_become_without_sudo_rights_is_a_clear_failure(sudo_host, home, tmp_path):
    kh = sudo_host.known_hosts(tmp_path / "known_hosts")
    out, [target] = lint_json(home, sudo_host.url("guest"), "--become", "--known-hosts", str(kh),
                              "--identity", str(sudo_host.client_key))
    assert out.returncode == 3 and target["status"] == "unreachable"
    assert target["error"].startswith("--become: `sudo -n sh -s` failed") and "sudo" in target["error"][30:]


def test_inventory_become_role_and_skipped_rules(sudo_host, home, tmp_path):
    kh = sudo_host.known_hosts(tmp_path / "known_hosts")
    inv = tmp_path / "inventory.yml"
    inv.write_text(f"""\
all:
  vars: {{ansible_host: 127.0.0.1, ansible_port: {sudo_host.port}, ansible_user: auditor}}
  hosts:
    plain:
    audited: {{ansible_become: true}}
    submission: {{mailcfg_become: yes, mailcfg_role: submission, mailcfg_skip_rules: [postfix-open-relay]}}
""")
    out, results = lint_json(home, "-i", str(inv), "all", "--known-hosts", str(kh),
                             "--identity", str(sudo_host.client_key))
    rules = [{f["rule"] for f in r["findings"]} for r in results]
    assert [r["unreadable"] != [] for r in results] == [True, False, False]
    assert "postfix-open-relay" in rules[1] and "postfix-open-relay" not in rules[0] | rules[2]

    snap = tmp_path / "snap"  # the role travels in the snapshot (the skipped rules do not: they are a choice)
    assert mailcfg(home, "fetch", "-i", str(inv), "submission", "-o", str(snap), "--known-hosts", str(kh),
                   "--identity", str(sudo_host.client_key)).returncode == 0
    assert json.loads((snap / ".mailcfg-host/facts.json").read_text())["roles"] == ["submission"]
    assert named_apart(lint_json(home, str(snap))[1][0]["findings"]) == named_apart(results[1]["findings"])

    inv.write_text(inv.read_text().replace("postfix-open-relay]", "postfix-open-rely]"))
    out = mailcfg(home, "lint", "-i", str(inv), "all")
    assert out.returncode == 2 and "postfix-open-rely" in out.stderr and len(out.stderr.splitlines()) == 1
    assert "did you mean 'postfix-open-relay'?" in out.stderr


def test_a_clean_host_has_no_findings(clean_host, home, tmp_path):
    kh = clean_host.known_hosts(tmp_path / "known_hosts")
    out, [target] = lint_json(home, clean_host.url(), "--known-hosts", str(kh),
                              "--identity", str(clean_host.client_key))
    assert out.returncode == 0 and target["status"] == "ok" and target["findings"] == [], out.stderr


def ssh_config(home: Path, text: str) -> None:
    (home / ".ssh").mkdir(exist_ok=True)
    (home / ".ssh/config").write_text(textwrap.dedent(text))


def test_proxyjump_from_ssh_config_reaches_the_host_through_the_jump_host(server, clean_host, home, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text(server.known_hosts_line() + clean_host.known_hosts_line())
    ssh_config(home, f"""\
        Host jump
          HostName 127.0.0.1
          Port {clean_host.port}
          User root
          IdentityFile {clean_host.client_key}
        Host relay-behind
          HostName 127.0.0.1
          Port {server.port}
          User root
          IdentityFile {server.client_key}
          ProxyJump jump
        Host dead-behind
          HostName 127.0.0.1
          Port {server.port}
          ProxyJump root@127.0.0.1:{free_port()}
        """)
    out, [via, dead] = lint_json(home, "relay-behind", "dead-behind", "--known-hosts", str(kh), "--timeout", "3")
    direct = findings(home, server.url(), "--known-hosts", str(kh), "--identity", str(server.client_key))[1]
    assert via["status"] == "ok" and named_apart(via["findings"]) == named_apart(direct)
    assert f"target 127.0.0.1 port {server.port}" in (clean_host.base / "sshd.log").read_text()  # the tunnel
    assert dead["status"] == "unreachable" and dead["error"].startswith("via jump host ssh://root@127.0.0.1:")
    assert "connection refused" in dead["error"] and out.returncode == 3


def test_proxycommand_from_ssh_config_is_run_locally(server, home, tmp_path):
    marker = tmp_path / "relay-used"
    relay = tmp_path / "relay.py"
    relay.write_text(textwrap.dedent(f"""\
        import pathlib, socket, sys, threading
        pathlib.Path({str(marker)!r}).write_text(" ".join(sys.argv[1:]))
        s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
        def up():
            while data := sys.stdin.buffer.read1(65536):
                s.sendall(data)
        threading.Thread(target=up, daemon=True).start()
        while data := s.recv(65536):
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        """))
    ssh_config(home, f"""\
        Host relay-proxied
          HostName 127.0.0.1
          Port {server.port}
          User root
          ProxyCommand {sys.executable} {relay} %h %p
        """)
    kh = server.known_hosts(tmp_path / "known_hosts")
    rc, found = findings(home, "relay-proxied", "--known-hosts", str(kh), "--identity", str(server.client_key))
    assert rc == 1 and "postfix-open-relay" in {f["rule"] for f in found}
    assert marker.read_text() == f"127.0.0.1 {server.port}"


def test_encrypted_key_from_the_environment_or_one_prompt(server, home, tmp_path):
    key = tmp_path / "locked_ed25519"
    keygen(key, passphrase="correct horse")
    (server.public / "authorized_keys").write_text((server.public / "authorized_keys").read_text()
                                                   + key.with_suffix(".pub").read_text())
    kh = server.known_hosts(tmp_path / "known_hosts")
    args = ("lint", "-f", "json", server.url(), "--known-hosts", str(kh), "--identity", str(key))
    out = mailcfg(home, *args)
    [target] = json.loads(out.stdout)["targets"]
    assert target["status"] == "unreachable" and "encrypted" in target["error"] and "MAILCFG_SSH_PASSPHRASE" in \
        target["error"]
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"} | {"HOME": str(home), "NO_COLOR": "1"}
    ok = subprocess.run([sys.executable, "-m", "mailcfg", *args], capture_output=True, text=True, check=False,
                        env=env | {"MAILCFG_SSH_PASSPHRASE": "correct horse"})
    assert ok.returncode == 1 and json.loads(ok.stdout)["targets"][0]["status"] == "ok", ok.stderr
    assert "correct horse" not in ok.stdout + ok.stderr

    # On a terminal: one prompt, the answer not echoed
    report = tmp_path / "report.json"
    pid, fd = pty.fork()
    if pid == 0:  # the child: mailcfg on the pty
        os.execve(sys.executable, [sys.executable, "-m", "mailcfg", *args, "-o", str(report)], env)
    seen = b""
    deadline = time.monotonic() + 60
    answered = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        if not answered and b"Passphrase for " in seen:
            os.write(fd, b"correct horse\n")
            answered = True
    _, status = os.waitpid(pid, 0)
    assert answered and os.waitstatus_to_exitcode(status) == 1, seen
    assert str(key).encode() in seen and b"correct horse" not in seen
    assert json.loads(report.read_text())["targets"][0]["status"] == "ok"


def test_a_snapshot_whose_main_cf_was_not_readable_is_not_linted_as_if_empty(home, tmp_path):
    snap = tmp_path / "snap"
    (snap / "etc/postfix").mkdir(parents=True)
    (snap / "etc/postfix/master.cf").write_text("smtp inet n - y - - smtpd\n")
    (snap / ".mailcfg-host").mkdir()
    (snap / ".mailcfg-host/facts.json").write_text(json.dumps(
        {"unreadable": [{"path": "/etc/postfix/main.cf", "reason": "permission-denied"}]}))
    out, [target] = lint_json(home, str(snap))
    assert out.returncode == 2 and target["status"] == "error" and target["findings"] == []
    # the target names the snapshot; the error does not repeat it
    assert target["target"] == str(snap)
    assert target["error"] == "/etc/postfix/main.cf could not be read on the host (permission-denied); " \
                              "fetch it with --become"


# --- names that are shell syntax, bastions from the inventory, known_hosts as OpenSSH reads it ---

RELAY = """\
import pathlib, socket, sys, threading
pathlib.Path(sys.argv[1]).write_text(repr(sys.argv[2:]))
s = socket.create_connection(("127.0.0.1", int(sys.argv[3])))  # whatever host name it was given
def up():
    while data := sys.stdin.buffer.read1(65536):
        s.sendall(data)
threading.Thread(target=up, daemon=True).start()
while data := s.recv(65536):
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
"""


def test_target_names_with_shell_syntax_never_reach_the_proxy_command(server, home, tmp_path):
    canary, marker, relay = tmp_path / "canary", tmp_path / "relay-args", tmp_path / "relay.py"
    relay.write_text(RELAY)
    ssh_config(home, f"""\
        Host odd
          HostName 127.0.0.1$(touch {canary})`touch {canary}`;touch {canary}
          Port {server.port}
          User root
          HostKeyAlias relay-host
          ProxyCommand {sys.executable} {relay} {marker} %h %p %n
        Host *canary* *quoted* mx1
          Port {server.port}
          ProxyCommand {sys.executable} {relay} {marker} %h %p %n
        """)
    kh = tmp_path / "known_hosts"
    kh.write_text(f"relay-host ssh-ed25519 {server.host_key}\n")  # under its HostKeyAlias only
    # Names a wildcard Host block matches. A word with a slash is a local path: these create ./canary
    for name in ("$(touch canary)", "x$(touch${IFS}canary)", "`touch canary`", "a;touch canary", "a|touch canary",
                 "root$(touch${IFS}canary)@mx1", "'quoted'", "-oProxyCommand=touch${IFS}canary", "a\ntouch canary"):
        out = mailcfg(home, "lint", "-f", "json", "--known-hosts", str(kh), "--identity", str(server.client_key),
                      "--", name, cwd=tmp_path)
        assert out.returncode == 2 and len(out.stderr.splitlines()) == 1 and "not a host name" in out.stderr, out
        assert not marker.exists() and not canary.exists()
    out = mailcfg(home, "fetch", "x$(touch${IFS}canary)", "-o", "snap", cwd=tmp_path)
    assert out.returncode == 2 and "not a host name" in out.stderr and not canary.exists() and not marker.exists()

    # A HostName the user's own config gives reaches the command as one quoted word, not as shell syntax.
    rc, found = findings(home, "odd", "--known-hosts", str(kh), "--identity", str(server.client_key))
    assert rc == 1 and "postfix-open-relay" in {f["rule"] for f in found}
    assert marker.read_text() == repr([f"127.0.0.1$(touch {canary})`touch {canary}`;touch {canary}",
                                       str(server.port), "odd"])
    assert not canary.exists()


def test_proxyjump_from_inventory_ssh_args_goes_through_the_jump_host(server, clean_host, home, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text(server.known_hosts_line() + clean_host.known_hosts_line())
    ssh_config(home, f"""\
        Host jumpbox
          HostName 127.0.0.1
          Port {clean_host.port}
          User root
          IdentityFile {clean_host.client_key}
        Host 127.0.0.1
          ProxyJump jumpbox
        """)
    inv = tmp_path / "inventory.yml"
    inv.write_text(f"""\
all:
  vars: {{ansible_host: 127.0.0.1, ansible_port: {server.port}, ansible_user: root,
          ansible_ssh_private_key_file: {server.client_key}}}
  hosts:
    dash-j: {{ansible_ssh_common_args: '-J jumpbox -o ControlMaster=auto -o ControlPersist=60s'}}
    option: {{ansible_ssh_extra_args: '-o ProxyJump=root@127.0.0.1:{free_port()}'}}
    cipher: {{ansible_ssh_common_args: '-o ProxyJump=jumpbox -o Ciphers=aes256-ctr'}}
    by-config:
""")
    log = clean_host.base / "sshd.log"
    before = len(log.read_bytes())
    out, [jumped, dead, refused, configured] = lint_json(home, "-i", str(inv), "all", "--known-hosts", str(kh),
                                                         "--timeout", "3")
    assert jumped["status"] == "ok" and "postfix-open-relay" in {f["rule"] for f in jumped["findings"]}
    # through the jump host ssh_config names for 127.0.0.1
    assert named_apart(configured["findings"]) == named_apart(jumped["findings"])
    tunnels = log.read_bytes()[before:].decode().count(f"target 127.0.0.1 port {server.port}")
    assert tunnels == 2  # dash-j's and by-config's; none for the refused host
    assert dead["status"] == "unreachable" and dead["error"].startswith("via jump host ssh://root@127.0.0.1:")
    assert refused["status"] == "error" and refused["findings"] == []
    assert refused["error"] == f"{inv}:7: ansible_ssh_common_args: mailcfg cannot honour -o Ciphers=aes256-ctr; " \
                               "refused rather than connecting differently from Ansible"
    assert out.returncode == 3 and f"mailcfg: cipher: {refused['error']}" in out.stderr.splitlines()


def test_revoked_host_key_is_refused_even_when_also_listed(server, home, tmp_path):
    kh = tmp_path / "known_hosts"
    revoked = f"@revoked * ssh-ed25519 {server.host_key}\n"
    for text in (server.known_hosts_line() + revoked, revoked):
        kh.write_text(text)
        out, [target] = lint_json(home, server.url(), "--known-hosts", str(kh), "--identity", str(server.client_key),
                                  "--accept-new-host-keys")
        assert out.returncode == 3 and target["status"] == "unreachable"
        assert "is REVOKED" in target["error"] and f"{kh}:" in target["error"] and "refused" in target["error"]
        assert kh.read_text() == text  # never accepted as new


@pytest.fixture(scope="module")
def ca_host(tmp_path_factory):
    """The open-relay host offering a host certificate signed by a test CA."""
    base = tmp_path_factory.mktemp("ca")
    keygen(base / "host_ca")
    srv = Sshd(base, served_conf(base), host_ca=base / "host_ca")
    yield srv
    srv.stop()


def test_cert_authority_lines_are_understood_and_only_their_hosts_refused(ca_host, server, home, tmp_path):
    ca = (ca_host.base / "host_ca.pub").read_text().split()[1]
    kh = tmp_path / "known_hosts"
    kh.write_text(f"@cert-authority [127.0.0.1]:{ca_host.port} ssh-ed25519 {ca}\n" + server.known_hosts_line())
    # OpenSSH itself trusts the host through the CA with this file
    ssh = subprocess.run(["ssh", "-F", "none", "-o", f"UserKnownHostsFile={kh}", "-o", "GlobalKnownHostsFile=none",
                          "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-i", str(ca_host.client_key),
                          "-p", str(ca_host.port), "root@127.0.0.1", "true"], capture_output=True, text=True,
                         timeout=30, env={"HOME": str(home), "PATH": os.environ["PATH"]})
    assert ssh.returncode == 0, ssh.stderr
    keys = ca_host.public / "authorized_keys"  # one --identity for both hosts
    keys.write_text(keys.read_text() + server.client_key.with_suffix(".pub").read_text())
    _, [by_ca, plain] = lint_json(home, ca_host.url(), server.url(), "--known-hosts", str(kh),
                                  "--identity", str(server.client_key), "--accept-new-host-keys")
    assert by_ca["status"] == "unreachable" and plain["status"] == "ok"
    assert f"trusted only through @cert-authority ({kh}:1)" in by_ca["error"]
    assert "cannot verify OpenSSH host certificates" in by_ca["error"]
    assert kh.read_text().count("\n") == 2  # nothing accepted as new for it


def test_system_known_hosts_hashed_is_read(server, home, tmp_path):
    etc_ssh = tmp_path / "etc-ssh"
    shutil.copytree("/etc/ssh", etc_ssh, ignore=shutil.ignore_patterns("ssh_host_*"))
    (etc_ssh / "ssh_known_hosts").write_text(server.known_hosts_line())
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(etc_ssh / "ssh_known_hosts")], check=True,
                   capture_output=True)
    assert "127.0.0.1" not in (etc_ssh / "ssh_known_hosts").read_text()
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"} | {"HOME": str(home), "NO_COLOR": "1"}
    # mailcfg in its own mount namespace where the test's directory is /etc/ssh: the machine's is untouched
    out = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                          'mount --bind "$1" /etc/ssh && shift && exec "$@"', "sh", str(etc_ssh),
                          sys.executable, "-m", "mailcfg", "lint", "-f", "json", server.url(),
                          "--identity", str(server.client_key)], capture_output=True, text=True, env=env,
                         timeout=120, check=False)
    [target] = json.loads(out.stdout)["targets"]
    assert target["status"] == "ok" and out.returncode == 1, out.stderr
    # without that file the same host is unknown
    out, [target] = lint_json(home, server.url(), "--identity", str(server.client_key))
    assert target["status"] == "unreachable" and "unknown host key" in target["error"]


def test_known_hosts_files_and_alias_from_ssh_config(server, home, tmp_path):
    (tmp_path / "global").write_text(f"mx-alias ssh-ed25519 {server.host_key}\n")
    (tmp_path / "user").write_text(f"other-alias ssh-ed25519 {server.host_key}\n")
    ssh_config(home, f"""\
        Host mx
          HostName 127.0.0.1
          Port {server.port}
          User root
          IdentityFile {server.client_key}
          HostKeyAlias mx-alias
          GlobalKnownHostsFile {tmp_path / "global"}
        Host mx-user
          HostName 127.0.0.1
          Port {server.port}
          User root
          IdentityFile {server.client_key}
          HostKeyAlias other-alias
          UserKnownHostsFile {tmp_path / "user"}
          GlobalKnownHostsFile none
        Host mx-wrong
          HostName 127.0.0.1
          Port {server.port}
          User root
          IdentityFile {server.client_key}
          HostKeyAlias mx-alias
          GlobalKnownHostsFile none
        """)
    out, results = lint_json(home, "mx", "mx-user", "mx-wrong")
    assert [r["status"] for r in results] == ["ok", "ok", "unreachable"], out.stderr
    assert "unknown host key" in results[2]["error"] and "for mx-alias" in results[2]["error"]


def test_a_host_listed_with_two_keys_of_one_type_is_trusted(server, home, tmp_path):
    old = keygen(tmp_path / "rotated")  # e.g. the key before a rotation, still listed first
    kh = tmp_path / "known_hosts"
    kh.write_text(server.known_hosts_line(old) + server.known_hosts_line())
    rc, found = findings(home, server.url(), "--known-hosts", str(kh), "--identity", str(server.client_key))
    assert rc == 1 and found
    kh.write_text(server.known_hosts_line(old) + server.known_hosts_line(keygen(tmp_path / "other")))
    _, [target] = lint_json(home, server.url(), "--known-hosts", str(kh), "--identity", str(server.client_key))
    assert target["status"] == "unreachable" and "host key CHANGED" in target["error"]


def test_proxycommand_from_inventory_ssh_args(server, home, tmp_path):
    marker, relay = tmp_path / "relay-args", tmp_path / "relay.py"
    relay.write_text(RELAY)
    inv = tmp_path / "inventory.ini"
    inv.write_text(f"[mx]\nmx1 ansible_host=127.0.0.1 ansible_port={server.port} ansible_user=root "
                   f"ansible_ssh_private_key_file={server.client_key}\n[mx:vars]\n"
                   f"ansible_ssh_common_args='-o ProxyCommand=\"{sys.executable} {relay} {marker} %h %p %r\"'\n")
    out, [target] = lint_json(home, "-i", str(inv), "mx", "--known-hosts", str(server.known_hosts(tmp_path / "kh")))
    assert target["status"] == "ok" and out.returncode == 1, out.stderr
    assert marker.read_text() == repr(["127.0.0.1", str(server.port), "root"])


def test_revoked_host_keys_from_ssh_config_as_openssh_reads_it(server, home, tmp_path):
    kh = server.known_hosts(tmp_path / "known_hosts")
    revoked = tmp_path / "revoked"
    revoked.write_text(f"# retired keys\nssh-ed25519 {server.host_key}\n")
    openssh = subprocess.run(["ssh", "-F", "none", "-o", f"UserKnownHostsFile={kh}", "-o", f"RevokedHostKeys={revoked}",
                              "-o", "BatchMode=yes", "-i", str(server.client_key), "-p", str(server.port),
                              "root@127.0.0.1", "true"], capture_output=True, text=True, timeout=30,
                             env={"HOME": str(home), "PATH": os.environ["PATH"]})
    assert openssh.returncode != 0 and "revoked" in openssh.stderr.lower()  # ssh itself refuses it
    ssh_config(home, f"""\
        Host mx
          HostName 127.0.0.1
          Port {server.port}
          User root
          IdentityFile {server.client_key}
          RevokedHostKeys {revoked}
        """)
    out, [target] = lint_json(home, "mx", "--known-hosts", str(kh))
    assert target["status"] == "unreachable" and f"is REVOKED ({revoked}:2)" in target["error"], out.stderr
    subprocess.run(["ssh-keygen", "-q", "-k", "-f", str(revoked), str(server.base / "host_ed25519.pub")], check=True,
                   capture_output=True)
    out, [target] = lint_json(home, "mx", "--known-hosts", str(kh))
    assert target["status"] == "error" and "binary KRL" in target["error"] and out.returncode == 2


def test_a_command_s_output_error_and_exit_code_over_an_aead_cipher(server, home, tmp_path, monkeypatch):
    """In-process: the remote command's streams and exit code come back (waited for, not polled), on
    AES-GCM, which mailcfg asks for first (no per-packet MAC in Python); the host key still checked."""
    from mailcfg.remote.hosts import HostSpec
    from mailcfg.remote.route import connect
    from mailcfg.remote.ssh import SshOptions

    monkeypatch.setenv("HOME", str(home))  # no ~/.ssh of this machine's
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    options = SshOptions(known_hosts=server.known_hosts(tmp_path / "known_hosts"), identity=server.client_key)
    spec = HostSpec.from_url(server.url())
    with connect(spec, options) as conn:
        assert conn.client.get_transport().remote_cipher == "aes128-gcm@openssh.com"
        big = 300_000  # more than one SSH window's packet: read as it arrives
        assert conn.run("sh -s", f"head -c {big} /dev/zero; printf err >&2; exit 3".encode()) == \
            (3, b"\0" * big, b"err")
    (tmp_path / "known_hosts").write_text(server.known_hosts_line(keygen(tmp_path / "other")))
    with pytest.raises(Exception, match="CHANGED"):
        connect(spec, options)


def test_scripts_one_after_another_in_one_remote_shell(server, home, tmp_path, monkeypatch):
    """In-process: the collection's steps share one channel and one remote `sh -s`: each script's output
    comes back on its own (up to the line the shell prints after it), the shell keeps its state from one
    script to the next, and one that exits ends the session with its exit code."""
    from mailcfg.remote.hosts import HostSpec
    from mailcfg.remote.route import connect
    from mailcfg.remote.ssh import SshOptions

    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    options = SshOptions(known_hosts=server.known_hosts(tmp_path / "known_hosts"), identity=server.client_key,
                         command_timeout=20)
    with connect(HostSpec.from_url(server.url()), options) as conn, conn.shell("sh -s") as sh:
        sh.send(b"x=kept; echo $$; printf 'MAILCFG_DONE_not-the-marker\\n'\n", last=False)
        rc, out, err = sh.read()
        pid, rest = out.split(b"\n", 1)
        assert (rc, rest, err) == (None, b"MAILCFG_DONE_not-the-marker\n", b"") and pid.isdigit()
        big = 300_000  # more than a window: the marker is found in the output as it arrives
        sh.send(f"head -c {big} /dev/zero; echo $x; printf err >&2\n".encode(), last=False)
        rc, out, err = sh.read()
        assert (rc, out) == (None, b"\0" * big + b"kept\n")
        # a child still printing after the step: the step's line was seen, and is not lost to what follows
        sh.send(b"echo step; (sleep 0.3; head -c 100000 /dev/zero) &\n", last=False)
        time.sleep(1)
        assert sh.read()[:2] == (None, b"step\n")
        sh.send(b"echo $$; exit 4\n", last=False)
        rc, out, late = sh.read()
        assert (rc, out[-len(pid) - 1:]) == (4, pid + b"\n") and err + late == b"err"


def test_a_login_that_runs_no_shell_is_told_its_input_has_ended(server, home, tmp_path):
    """A key whose authorized_keys line forces a command that reads its input to the end (no shell will
    print the line mailcfg waits for first): after the connect timeout it gets the end of its input, and
    what it said is reported, not a timeout of the whole collection."""
    key = tmp_path / "forced_ed25519"
    keygen(key)
    forced = 'command="cat >/dev/null; echo restricted-key >&2; exit 1" '
    keys = server.public / "authorized_keys"
    keys.write_text(keys.read_text() + forced + key.with_suffix(".pub").read_text())
    kh = server.known_hosts(tmp_path / "known_hosts")
    out = mailcfg(home, "lint", "-f", "json", server.url(), "--known-hosts", str(kh), "--identity", str(key),
                  "--timeout", "1")
    [target] = json.loads(out.stdout)["targets"]
    assert target["status"] == "unreachable" and out.returncode == 3
    assert target["error"] == "the collection script did not run (exit code 1): restricted-key"


def test_a_shell_slow_to_start_still_runs_every_step(server, home, tmp_path, monkeypatch):
    """A shell that does not print its first line within the connect timeout (a slow login) is told its
    input has ended: it still runs the script it was sent, and the next script gets a shell of its own."""
    from mailcfg.remote.hosts import HostSpec
    from mailcfg.remote.route import connect
    from mailcfg.remote.ssh import SshOptions

    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    options = SshOptions(known_hosts=server.known_hosts(tmp_path / "known_hosts"), identity=server.client_key,
                         timeout=1, command_timeout=20)
    with connect(HostSpec.from_url(server.url()), options) as conn, conn.shell("sleep 2; sh -s") as sh:
        sh.send(b"echo one $$\n", last=False)
        rc, first, _ = sh.read()
        sh.send(b"echo two $$\n", last=False)
        rc2, second, _ = sh.read()
    assert (rc, rc2) == (None, None) and first.startswith(b"one ") and second.startswith(b"two ")
    assert first.split()[1] != second.split()[1]  # another shell


def test_a_server_that_never_answers_the_request_to_run_a_command_times_out(home, tmp_path):
    """The login succeeds, then the server keeps the answer to `exec` back (paramiko itself waits for it
    without a timeout): the host is reported unreachable once the step's time limit has passed, and the run
    ends."""
    import paramiko

    released = threading.Event()

    class KeepsItsAnswer(paramiko.ServerInterface):
        def get_allowed_auths(self, username):
            return "publickey"

        def check_auth_publickey(self, username, key):
            return paramiko.AUTH_SUCCESSFUL

        def check_channel_request(self, kind, chanid):
            return paramiko.OPEN_SUCCEEDED

        def check_channel_exec_request(self, channel, command):
            released.wait(60)
            return False

    host_key = paramiko.ECDSAKey.generate()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    transports = []

    def serve():
        conn, _ = listener.accept()
        transport = paramiko.Transport(conn)
        transport.add_server_key(host_key)
        transports.append(transport)
        transport.start_server(server=KeepsItsAnswer())

    threading.Thread(target=serve, daemon=True).start()
    keygen(tmp_path / "id_ed25519")
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key.get_name()} {host_key.get_base64()}\n")
    try:
        out = mailcfg(home, "lint", "-f", "json", "--command-timeout", "2", f"ssh://root@127.0.0.1:{port}",
                      "--identity", str(tmp_path / "id_ed25519"), "--known-hosts", str(tmp_path / "known_hosts"))
    finally:
        released.set()
        for transport in transports:
            transport.close()
        listener.close()
    assert out.returncode == 3, out.stderr
    [target] = json.loads(out.stdout)["targets"]
    assert target["status"] == "unreachable", target
    assert "did not answer the request to run a command within 2s" in target["error"], target
