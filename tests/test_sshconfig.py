"""Bare host names resolved through an OpenSSH client config, and the HostSpec all targets share."""

from __future__ import annotations

import dataclasses
import os
import shlex
import textwrap
from pathlib import Path

import pytest
from mailcfg.errors import MailcfgError
from mailcfg.remote import inventory as inv
from mailcfg.remote import route, sshconfig
from mailcfg.remote.hosts import HostSpec
from mailcfg.remote.ssh import SshOptions, SshTarget


@pytest.fixture
def config(tmp_path) -> Path:
    key = tmp_path / "id_mx"
    key.write_text("not really a key\n")
    path = tmp_path / "config"
    path.write_text(textwrap.dedent(f"""\
        # the user's config
        Host mx1
            HostName 192.0.2.25
            User mailops
            Port 2222
            IdentityFile {tmp_path}/missing_key
            IdentityFile {key}

        Host behind
            HostName 10.0.0.5
            ProxyJump bastion.example.org

        Host piped
            ProxyCommand ssh -W %h:%p gateway

        Host direct
            ProxyJump none

        Host *.example.org !skip.example.org
            User fleet
            IdentityFile ~/.ssh/fleet_ed25519

        Host *
            User fallback
        """))
    return path


def test_host_block_gives_hostname_user_port_and_the_first_existing_key(config, tmp_path):
    spec = sshconfig.resolve("mx1", config)
    assert spec == HostSpec(name="mx1", hostname="192.0.2.25", port=2222, user="mailops",
                            identity=tmp_path / "id_mx")
    assert spec.target == SshTarget("192.0.2.25", 2222, "mailops")
    assert str(spec) == "mx1"


def test_first_obtained_value_wins_and_wildcards_fill_the_rest(config):
    spec = sshconfig.resolve("mail.example.org", config)
    assert (spec.hostname, spec.port, spec.user) == ("mail.example.org", 22, "fleet")
    assert sshconfig.resolve("skip.example.org", config).user == "fallback"  # negated pattern


def test_missing_identity_files_are_skipped(config):
    assert sshconfig.resolve("mail.example.org", config).identity is None  # ~/.ssh/fleet_ed25519 absent


def test_identity_tilde_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "k").write_text("x")
    path = tmp_path / "cfg"
    path.write_text("Host h\n  IdentityFile ~/.ssh/k\n")
    assert sshconfig.resolve("h", path).identity == tmp_path / ".ssh" / "k"


def test_proxy_jump_and_command_are_exposed_not_followed(config):
    behind = sshconfig.resolve("behind", config)
    assert (behind.hostname, behind.proxy_jump, behind.proxy_command) == ("10.0.0.5", "bastion.example.org", None)
    piped = sshconfig.resolve("piped", config)
    assert piped.proxy_command == "ssh -W %h:%p gateway" and piped.proxy_jump is None  # tokens kept for route
    assert route.proxy_command(piped) == "ssh -W piped:22 gateway"
    assert sshconfig.resolve("direct", config).proxy_jump is None  # "none" switches it off


def test_user_at_name_overrides_the_configs_user(config):
    spec = sshconfig.resolve("root@mx1", config)
    assert (spec.name, spec.hostname, spec.user, spec.port) == ("root@mx1", "192.0.2.25", "root", 2222)


def test_unknown_name_is_itself(config):
    spec = sshconfig.resolve("plain", config)
    assert (spec.hostname, spec.port, spec.user, spec.identity, spec.proxy_jump) == \
        ("plain", 22, "fallback", None, None)


def test_proxycommand_tokens_are_substituted_quoted(tmp_path):
    path = tmp_path / "cfg"
    path.write_text("Host odd\n  HostName we;ird $(name)\n  User o'neil\n  Port 2200\n"
                    "  ProxyCommand connect %h:%p as %r for %n 100%% %%h\n")
    spec = sshconfig.resolve("odd", path)
    command = route.proxy_command(spec)
    assert command == """connect 'we;ird $(name)':2200 as 'o'"'"'neil' for odd 100% %h"""
    assert shlex.split(command)[1:6] == ["we;ird $(name):2200", "as", "o'neil", "for", "odd"]
    with pytest.raises(MailcfgError, match=r"odd: ProxyCommand .*unknown token %C"):
        route.proxy_command(dataclasses.replace(spec, proxy_command="nc %C"))


@pytest.mark.parametrize("name", ["$(touch /tmp/canary)", "x$(id)", "`id`", "a;b", "a|b", "a&b", "-oProxyCommand=x",
                                  "a'b", 'a"b', "a\\b", "a>b", "a\nb", "x${IFS}y", "u$(id)@mx1", "u;x@mx1", "-l@mx1"])
def test_names_with_shell_syntax_are_refused_before_any_lookup(config, name):
    with pytest.raises(MailcfgError, match="not a host name") as exc:
        sshconfig.resolve(name, config)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("name", ["mx1", "mail.example.org", "_gw-1.example.org", "192.0.2.1", "2001:db8::1",
                                  "ops.team@mx1", "svc$@mx1"])
def test_ordinary_names_are_accepted(config, name):
    assert sshconfig.resolve(name, config).name == name


def test_known_hosts_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    path = tmp_path / "cfg"
    path.write_text("Host a\n  HostKeyAlias mx-key\n  UserKnownHostsFile ~/kh /tmp/other\n"
                    "  GlobalKnownHostsFile none\nHost b\n  HostName 192.0.2.9\n")
    a, b = sshconfig.resolve("a", path), sshconfig.resolve("b", path)
    assert (a.host_key_alias, a.user_known_hosts, a.global_known_hosts) == \
        ("mx-key", (tmp_path / "kh", Path("/tmp/other")), ())
    assert (b.host_key_alias, b.user_known_hosts, b.global_known_hosts) == (None, None, None)
    options = a.ssh_options(SshOptions())
    assert (options.host_key_alias, options.user_known_hosts, options.global_known_hosts) == \
        ("mx-key", (tmp_path / "kh", Path("/tmp/other")), ())
    assert b.ssh_options(SshOptions()) == SshOptions()  # OpenSSH's default files


def test_default_config_missing_means_no_config(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert sshconfig.load() is None
    assert sshconfig.resolve("mx9") == HostSpec("mx9", "mx9")


def test_default_config_is_read_from_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text("Host mx9\n  HostName 203.0.113.9\n  User u\n")
    assert sshconfig.resolve("mx9").target == SshTarget("203.0.113.9", 22, "u")


@pytest.mark.parametrize(("text", "words"), [
    ("Host h\n  Port twenty\n", "Port 'twenty' for h is not a port number"),
    ("Host h\n  Port 0\n", "not a port number"),
    ("Host h\n  HostName\n", "bad ssh config"),
])
def test_bad_config_is_one_line_naming_the_file(tmp_path, text, words):
    path = tmp_path / "cfg"
    path.write_text(text)
    with pytest.raises(MailcfgError) as exc:
        sshconfig.resolve("h", path)
    message = str(exc.value)
    assert message.startswith(str(path)) and words in message and "\n" not in message


def test_explicit_missing_config_is_an_error(tmp_path):
    with pytest.raises(MailcfgError, match="ssh config not found"):
        sshconfig.resolve("h", tmp_path / "nope")


@pytest.mark.parametrize("name", ["", "user@", "two words", "a/b"])
def test_bad_names(config, name):
    with pytest.raises(MailcfgError, match="not a host name"):
        sshconfig.resolve(name, config)


# --- HostSpec.from_url: the third kind of target --------------------------------------------

@pytest.mark.parametrize(("url", "expected"), [
    ("ssh://mx1.example.org", HostSpec("ssh://mx1.example.org", "mx1.example.org")),
    ("ssh://root@mx1:2222", HostSpec("ssh://root@mx1:2222", "mx1", 2222, "root")),
    ("ssh://[2001:db8::1]:2200", HostSpec("ssh://[2001:db8::1]:2200", "2001:db8::1", 2200)),
])
def test_from_url(url, expected):
    spec = HostSpec.from_url(url)
    assert spec == expected
    assert str(spec.target) == url
    assert HostSpec.from_target(spec.target) == spec


@pytest.mark.parametrize("url", ["mx1", "ssh://", "ssh://h:port", "ssh://u:pw@h", "http://h"])
def test_from_url_rejects(url):
    with pytest.raises(MailcfgError, match="not an SSH target"):
        HostSpec.from_url(url)


def test_host_specs_are_hashable_and_compare_vars():
    a, b = HostSpec("h", "h", vars={"mailcfg_role": "mx"}), HostSpec("h", "h", vars={"mailcfg_role": "mx"})
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != HostSpec("h", "h")


def test_urls_and_inventory_hosts_take_what_ssh_config_adds_as_ssh_would(tmp_path):
    path = tmp_path / "cfg"
    path.write_text("Host 192.0.2.*\n  User cfguser\n  Port 2200\n  ProxyJump bastion\n  HostKeyAlias lab-key\n"
                    "Host short\n  HostName 192.0.2.99\n")
    bare = sshconfig.complete(HostSpec.from_url("ssh://192.0.2.5"), path)
    assert (bare.hostname, bare.user, bare.port, bare.proxy_jump, bare.host_key_alias) == \
        ("192.0.2.5", "cfguser", 2200, "bastion", "lab-key")
    given = sshconfig.complete(HostSpec.from_url("ssh://root@192.0.2.5:22"), path)  # the URL's own values win
    assert (given.user, given.port, given.proxy_jump) == ("root", 22, "bastion")
    renamed = sshconfig.complete(HostSpec.from_url("ssh://short:2222"), path)
    assert (renamed.hostname, renamed.port, renamed.alias) == ("192.0.2.99", 2222, "short")
    assert sshconfig.complete(renamed, path) == renamed  # completed once
    assert sshconfig.complete(HostSpec.from_url("ssh://elsewhere"), tmp_path / "cfg") == HostSpec.from_url(
        "ssh://elsewhere")


def test_inventory_settings_win_over_ssh_config(tmp_path):
    cfg = tmp_path / "cfg"
    cfg.write_text("Host 192.0.2.*\n  User cfguser\n  Port 2200\n  ProxyJump bastion\n")
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("all:\n  vars: {ansible_host: 192.0.2.5}\n  hosts:\n    plain:\n"
                         "    own: {ansible_port: 22, ansible_user: root,\n"
                         "          ansible_ssh_common_args: '-o ProxyJump=none'}\n"
                         "    cmd: {ansible_ssh_common_args: '-o ProxyCommand=\"nc %h %p\"'}\n")
    hosts = {name: sshconfig.complete(spec, cfg) for name, spec in inv.load(inventory).hosts.items()}
    assert (hosts["plain"].user, hosts["plain"].port, hosts["plain"].proxy_jump) == ("cfguser", 2200, "bastion")
    assert (hosts["own"].user, hosts["own"].port, hosts["own"].proxy_jump) == ("root", 22, None)
    assert (hosts["cmd"].proxy_jump, hosts["cmd"].proxy_command) == (None, "nc %h %p")


def test_match_exec_runs_its_command_as_ssh_does(tmp_path, monkeypatch):
    """paramiko is imported without invoke (mailcfg.remote.sshlib); a config with `Match exec` gets it."""
    marker = tmp_path / "ran"
    path = tmp_path / "config"
    path.write_text(f"Match host mx1 exec \"touch {marker} && true\"\n    HostName 192.0.2.7\n"
                    "Match host mx2 exec false\n    HostName 192.0.2.8\n")
    with open(os.devnull) as stdin:
        monkeypatch.setattr("sys.stdin", stdin)  # invoke copies stdin to the command: not pytest's
        assert sshconfig.resolve("mx1", path).hostname == "192.0.2.7"
        assert marker.exists()
        assert sshconfig.resolve("mx2", path).hostname == "mx2"
