"""known_hosts files as OpenSSH reads them: markers, hashed names, patterns, unreadable lines."""

from __future__ import annotations

import subprocess
from pathlib import Path

import paramiko
import pytest
from mailcfg.errors import MailcfgError
from mailcfg.remote.knownhosts import KnownHosts, parse


def _key(tmp_path: Path, name: str) -> tuple[str, paramiko.PKey]:
    path = tmp_path / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    blob = path.with_suffix(".pub").read_text().split()[1]
    return blob, paramiko.Ed25519Key(filename=str(path))


def test_markers_patterns_and_revocation(tmp_path):
    (a, key_a), (b, key_b), (ca, _) = (_key(tmp_path, n) for n in ("a", "b", "ca"))
    kh = tmp_path / "known_hosts"
    kh.write_text(f"""\
# comment
mx1.example.org,[mx1.example.org]:2222 ssh-ed25519 {a} a comment
*.example.org,!mx9.example.org ssh-ed25519 {b}
@cert-authority *.example.org ssh-ed25519 {ca} the CA
@revoked * ssh-ed25519 {b}
@unknown-marker mx1.example.org ssh-ed25519 {b}
too-short ssh-ed25519
bad-base64 ssh-ed25519 !!!notbase64
""")
    known = KnownHosts()
    mx1 = known.trust("mx1.example.org", [kh], [])
    assert mx1.keys == {"ssh-ed25519": [key_a]}
    assert [e.where for e in mx1.authorities] == [f"{kh}:4"] and [e.where for e in mx1.revoked] == [f"{kh}:5"]
    assert mx1.revocation(key_b).where == f"{kh}:5" and mx1.revocation(key_a) is None
    assert known.trust("[MX1.example.org]:2222", [kh], []).keys == {"ssh-ed25519": [key_a]}  # names are case-blind
    assert known.trust("mx2.example.org", [kh], []).keys == {}  # its only key is revoked
    assert known.trust("mx9.example.org", [kh], []).authorities  # the CA line has no negation
    assert known.trust("mx1.example.org:2222", [kh], []).keys == {}
    assert known.trust("[mx1.example.org]:2223", [kh], []).authorities == []


def test_hashed_names_as_ssh_keygen_writes_them(tmp_path):
    a, key_a = _key(tmp_path, "a")
    kh = tmp_path / "known_hosts"
    kh.write_text(f"mx1.example.org ssh-ed25519 {a}\n[192.0.2.7]:2200 ssh-ed25519 {a}\n")
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(kh)], check=True, capture_output=True)
    assert "mx1.example.org" not in kh.read_text() and kh.read_text().startswith("|1|")
    known = KnownHosts()
    assert known.trust("mx1.example.org", [], [kh]).keys == {"ssh-ed25519": [key_a]}
    assert known.trust("[192.0.2.7]:2200", [], [kh]).keys == {"ssh-ed25519": [key_a]}
    assert known.trust("mx2.example.org", [], [kh]).keys == {}


def test_files_extra_first_then_user_then_global_and_remembered_keys(tmp_path):
    (a, key_a), (b, key_b) = _key(tmp_path, "a"), _key(tmp_path, "b")
    extra, user, system = tmp_path / "extra", tmp_path / "user", tmp_path / "system"
    system.write_text(f"h ssh-ed25519 {b}\n")
    known = KnownHosts(extra)
    assert known.trust("h", [user], [system]).keys == {"ssh-ed25519": [key_b]}  # missing files are empty
    user.write_text(f"h ssh-ed25519 {a}\n")
    assert KnownHosts(extra).trust("h", [user], [system]).keys == {"ssh-ed25519": [key_a, key_b]}  # user first
    known.remember(extra, "[new]:2200", key_a)
    assert extra.read_text() == f"[new]:2200 ssh-ed25519 {a}\n" and extra.stat().st_mode & 0o777 == 0o600
    assert known.trust("[new]:2200", [], []).keys == {"ssh-ed25519": [key_a]}


def test_unreadable_file_is_one_line(tmp_path):
    with pytest.raises(MailcfgError, match="cannot read known_hosts"):
        KnownHosts().entries(tmp_path)  # a directory


def test_parse_keeps_the_line_number():
    assert [e.where for e in parse("\n# x\nh ssh-ed25519 AAAA\n", "f")] == ["f:3"]


def test_several_keys_of_one_type_are_all_trusted_in_file_order(tmp_path):
    (a, key_a), (b, key_b), (c, key_c) = (_key(tmp_path, n) for n in "abc")
    kh = tmp_path / "known_hosts"
    kh.write_text(f"*.example.org ssh-ed25519 {b}\nmx1.example.org ssh-ed25519 {a}\nmx1.example.org ssh-ed25519 {b}\n"
                  f"|1|bm90aGluZw==|bm90aGluZw== ssh-ed25519 {c}\n")
    trust = KnownHosts().trust("mx1.example.org", [kh], [])
    assert trust.keys == {"ssh-ed25519": [key_b, key_a]}
    assert trust.trusts(key_a) and trust.trusts(key_b) and not trust.trusts(key_c)
    assert [e.where for e in KnownHosts().entries(kh)] == [f"{kh}:{n}" for n in (1, 2, 3, 4)]


def test_revoked_host_keys_file_text_and_krl(tmp_path):
    (a, key_a), (b, key_b) = _key(tmp_path, "a"), _key(tmp_path, "b")
    revoked = tmp_path / "revoked"
    revoked.write_text(f"# retired\n\nssh-ed25519 {b} old key\n")
    kh = tmp_path / "known_hosts"
    kh.write_text(f"h ssh-ed25519 {a}\nh ssh-ed25519 {b}\n")
    trust = KnownHosts().trust("h", [kh], [], revoked)
    assert trust.keys == {"ssh-ed25519": [key_a]} and trust.revocation(key_b).where == f"{revoked}:3"
    krl = tmp_path / "krl"
    subprocess.run(["ssh-keygen", "-q", "-k", "-f", str(krl), str(tmp_path / "b.pub")], check=True, capture_output=True)
    with pytest.raises(MailcfgError, match="binary KRL, which mailcfg cannot check"):
        KnownHosts().trust("h", [kh], [], krl)
    with pytest.raises(MailcfgError, match="cannot read RevokedHostKeys"):
        KnownHosts().trust("h", [kh], [], tmp_path / "missing")


@pytest.mark.parametrize("alias", ["*", "mx1,*", "a\n* ssh-ed25519 AAAA", "!x", "a b", "|1|x|y", "@revoked"])
def test_a_new_key_is_never_recorded_under_a_pattern_or_a_line_of_its_own(tmp_path, alias):
    from mailcfg.remote.ssh import HostKeyError, SshOptions, SshTarget, _Policy

    _blob, key = _key(tmp_path, "a")
    extra = tmp_path / "extra"
    known = KnownHosts(extra)
    with pytest.raises(ValueError):
        known.remember(extra, alias, key)
    policy = _Policy(SshTarget("mx1.example.org"), known.trust(alias, [], []),
                     SshOptions(known_hosts=extra, accept_new=True), known)
    with pytest.raises(HostKeyError, match="not a name known_hosts can record"):
        policy.missing_host_key(None, "mx1.example.org", key)
    assert not extra.exists()
    known.remember(extra, "[2001:db8::1]:2222", key)  # names and addresses still are
    known.remember(extra, "mx1-alias.example.org", key)


def test_an_inventory_host_key_alias_that_is_no_host_name_refuses_the_host():
    from mailcfg.remote.inventory import parse as parse_inventory

    inventory = parse_inventory("""all:
  hosts:
    mx1:
      ansible_ssh_common_args: "-o 'HostKeyAlias=*,mx1'"
    mx2:
      ansible_ssh_common_args: "-o \\"HostKeyAlias=a\\n* ssh-ed25519 AAAA\\""
    mx3:
      ansible_ssh_common_args: "-o HostKeyAlias=mx3-alias.example.org"
""")
    assert "HostKeyAlias '*,mx1' is not a valid host name" in inventory.hosts["mx1"].refused
    assert "is not a valid host name" in inventory.hosts["mx2"].refused
    assert inventory.hosts["mx3"].refused is None and inventory.hosts["mx3"].host_key_alias == "mx3-alias.example.org"
