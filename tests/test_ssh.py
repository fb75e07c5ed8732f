"""`mailcfg fetch` and `mailcfg lint ssh://...` against a real OpenSSH sshd on loopback.

The sshd runs in its own mount namespace (`unshare --mount`) in which /etc/postfix is a
bind-mounted test directory holding the open-relay example plus a stock master.cf, so the remote
script reads real absolute paths and the real `postconf` answers for that configuration.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import EXAMPLES
from mailcfg.remote.collect import parse_stream, write_snapshot
from realsshd import Sshd, available, free_port, keygen

pytestmark = pytest.mark.skipif(not available(), reason="needs Debian's sshd, unshare and root (scripts/setup.sh)")


def served_conf(base: Path, example: str = "open-relay") -> Path:
    """An example's etc/postfix plus this machine's stock master.cf, to serve as /etc/postfix."""
    conf = base / "etc-postfix"
    shutil.copytree(EXAMPLES / example / "etc" / "postfix", conf)
    stock = Path("/etc/postfix/master.cf")
    (conf / "master.cf").write_text(stock.read_text() if stock.is_file() else "smtp inet n - y - - smtpd\n")
    return conf


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("sshd")
    srv = Sshd(base, served_conf(base))
    yield srv
    srv.stop()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty HOME: no ~/.ssh/known_hosts, no default keys."""
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def mailcfg(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"} | {"HOME": str(home), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "mailcfg", *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


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
    assert fetched == expected and rc_snap == rc_local == 1
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
    assert remote["findings"] == findings(home, str(snap))[1]
    # fetching again replaces the earlier snapshot
    assert mailcfg(home, "fetch", server.url(), "-o", str(snap), *ssh).returncode == 0


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
    assert len({json.dumps(r["findings"]) for r in results[:50]}) == 1 and results[0]["findings"]

    limited = mailcfg(home, "lint", "-f", "json", "-i", str(inv), "mx", "--limit", "mx0*:!mx05", *ssh)
    assert [r["target"] for r in json.loads(limited.stdout)["targets"]] == \
        [f"mx{i:02d}" for i in range(10) if i != 5]
    bad = mailcfg(home, "lint", "-i", str(inv), "nosuchgroup")
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1 and str(inv) in bad.stderr
