"""Ansible-style inventories (YAML and INI): groups, variable precedence, host patterns, errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import EXAMPLES
from mailcfg.errors import MailcfgError
from mailcfg.remote import inventory as inv
from mailcfg.remote.hosts import HostSpec
from mailcfg.remote.ssh import SshOptions, SshTarget

YAML_FLEET = """\
all:
  vars:
    ansible_user: deploy
    mailcfg_role: relay
    level: all
  hosts:
    lonely.example.org:
  children:
    mail:
      vars:
        level: mail
        mailcfg_role: outbound
      children:
        mx:
          vars:
            level: mx
            mailcfg_role: mx
          hosts:
            mx1.example.org:
              ansible_host: 192.0.2.11
            mx2.example.org:
              ansible_port: 2222
              ansible_user: root
              ansible_ssh_private_key_file: ~/.ssh/mx2
              level: host
        submission:
          vars:
            mailcfg_role: submission
          hosts:
            smtp.example.org:
              mailcfg_skip_rules: [postfix-soft-bounce]
    staging:
      hosts:
        mx2.example.org:
          mailcfg_become: true
"""

INI_FLEET = """\
# fleet
; another comment
lonely.example.org

[mx]
mx1.example.org ansible_host=192.0.2.11
mx2.example.org ansible_port=2222 ansible_user=root ansible_ssh_private_key_file=~/.ssh/mx2 level=host  # trailing

[submission]
smtp.example.org mailcfg_skip_rules=postfix-soft-bounce

[mail:children]
mx
submission

[staging]
mx2.example.org mailcfg_become=yes

[all:vars]
ansible_user=deploy
mailcfg_role=relay
level=all

[mail:vars]
level=mail
mailcfg_role=outbound

[mx:vars]
level=mx
mailcfg_role=mx

[submission:vars]
mailcfg_role=submission
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture(params=["yaml", "ini"])
def fleet(request, tmp_path) -> inv.Inventory:
    if request.param == "yaml":
        return inv.load(write(tmp_path, "hosts.yml", YAML_FLEET))
    return inv.load(write(tmp_path, "hosts.ini", INI_FLEET))


def names(hosts: list[HostSpec]) -> list[str]:
    return [h.name for h in hosts]


# --- structure and variables ---------------------------------------------------------------

def test_both_formats_give_the_same_hosts_in_inventory_order(fleet):
    assert sorted(fleet.hosts) == ["lonely.example.org", "mx1.example.org", "mx2.example.org", "smtp.example.org"]
    assert fleet.group_hosts("mx") == ["mx1.example.org", "mx2.example.org"]
    assert fleet.group_hosts("mail") == ["mx1.example.org", "mx2.example.org", "smtp.example.org"]
    assert fleet.group_hosts("ungrouped") == ["lonely.example.org"]
    assert set(fleet.group_hosts("all")) == set(fleet.hosts)
    assert set(fleet.host_groups("mx2.example.org")) == {"all", "mail", "mx", "staging"}


def test_connection_variables_become_the_host_spec(fleet):
    mx1, mx2 = fleet.hosts["mx1.example.org"], fleet.hosts["mx2.example.org"]
    assert (mx1.name, mx1.hostname, mx1.port, mx1.user, mx1.identity) == \
        ("mx1.example.org", "192.0.2.11", 22, "deploy", None)
    assert (mx2.hostname, mx2.port, mx2.user) == ("mx2.example.org", 2222, "root")
    assert mx2.identity == Path.home() / ".ssh" / "mx2"
    assert mx1.target == SshTarget("192.0.2.11", 22, "deploy")
    assert mx2.target == SshTarget("mx2.example.org", 2222, "root")
    assert inv.InventoryHost is HostSpec


def test_precedence_all_then_parent_then_child_then_host(fleet):
    assert fleet.variables["lonely.example.org"]["level"] == "all"
    assert fleet.variables["smtp.example.org"]["level"] == "mail"  # submission does not set it: parent's
    assert fleet.variables["mx1.example.org"]["level"] == "mx"  # child group beats parent group
    assert fleet.variables["mx2.example.org"]["level"] == "host"  # host var beats every group


def test_mailcfg_vars_are_kept_and_others_are_not(fleet):
    assert fleet.hosts["lonely.example.org"].vars == {"mailcfg_role": ["relay"]}
    assert fleet.hosts["mx1.example.org"].vars == {"mailcfg_role": ["mx"]}
    assert fleet.hosts["smtp.example.org"].vars == {"mailcfg_role": ["submission"],
                                                    "mailcfg_skip_rules": ["postfix-soft-bounce"]}
    assert fleet.hosts["mx2.example.org"].vars == {"mailcfg_role": ["mx"]}
    assert [h.become for h in fleet.hosts.values()] == [None, None, True, None]


def test_same_depth_groups_merge_by_name_and_priority(tmp_path):
    text = """\
    all:
      children:
        b_group:
          vars: {x: from_b}
          hosts: {h1: , h2: }
        a_group:
          vars: {x: from_a}
          hosts: {h1: , h2: }
        c_group:
          vars: {x: from_c, ansible_group_priority: 0}
          hosts: {h2: }
    """
    fleet = inv.load(write(tmp_path, "p.yml", text))
    assert fleet.variables["h1"]["x"] == "from_b"  # same depth: sorted by name, the last one wins
    assert fleet.variables["h2"]["x"] == "from_b"  # c_group has the lower priority, so it is merged first


def test_deeper_group_wins_even_when_declared_first(tmp_path):
    text = """\
    [leaf]
    h1
    [leaf:vars]
    v=leaf
    [middle:children]
    leaf
    [middle:vars]
    v=middle
    [top:children]
    middle
    [top:vars]
    v=top
    """
    fleet = inv.load(write(tmp_path, "d.ini", text))
    assert fleet.variables["h1"]["v"] == "leaf"
    assert fleet.hosts["h1"].hostname == "h1"


def test_diamond_groups_take_the_longest_path_as_depth(tmp_path):
    text = """\
    all:
      children:
        a:
          vars: {v: a}
          children:
            b:
              vars: {v: b}
              children:
                leaf: {hosts: {h: }}
        z:
          vars: {v: z}
          children:
            leaf:
    """
    fleet = inv.load(write(tmp_path, "diamond.yml", text))
    assert fleet.variables["h"]["v"] == "b"  # b is at depth 2, z at depth 1 despite sorting after it


def test_ini_values_are_python_literals_and_quotes_are_removed(tmp_path):
    text = """\
    h1 ansible_port=2200 ansible_become=True mailcfg_role="['mx', 'relay']" mailcfg_skip_rules='a, b'
    h2 ansible_become=yes mailcfg_become=no
    """
    hosts = inv.load(write(tmp_path, "v.ini", text)).hosts
    assert hosts["h1"].port == 2200 and hosts["h1"].become is True
    assert hosts["h1"].vars == {"mailcfg_role": ["mx", "relay"], "mailcfg_skip_rules": ["a", "b"]}
    assert hosts["h2"].become is False  # mailcfg_become wins over ansible_become


def test_yaml_values_are_plain_python(tmp_path):
    text = """\
    all:
      hosts:
        h1:
          opts: {a: [1, 2.5, x]}
          mailcfg_role: [mx, relay]
          ansible_port: "2201"
    """
    fleet = inv.load(write(tmp_path, "v.yaml", text))
    assert fleet.hosts["h1"].port == 2201
    assert fleet.hosts["h1"].vars == {"mailcfg_role": ["mx", "relay"]}
    assert fleet.variables["h1"]["opts"] == {"a": [1, 2.5, "x"]} and type(fleet.variables["h1"]["opts"]) is dict


def test_host_ranges_and_ports(tmp_path):
    text = """\
    [mx]
    mx[01:03].example.org
    relay-[a:c]
    odd[1:5:2]
    gw:2022
    [2001:db8::1]:2200
    2001:db8::2
    """
    fleet = inv.load(write(tmp_path, "r.ini", text))
    assert list(fleet.hosts) == ["mx01.example.org", "mx02.example.org", "mx03.example.org",
                                 "relay-a", "relay-b", "relay-c", "odd1", "odd3", "odd5", "gw",
                                 "2001:db8::1", "2001:db8::2"]
    assert fleet.hosts["gw"].port == 2022
    assert fleet.hosts["2001:db8::1"].port == 2200
    assert fleet.hosts["2001:db8::2"].port == 22


def test_yaml_ranges_with_vars(tmp_path):
    text = """\
    mx:
      hosts:
        "mx[1:2]:2200":
          mailcfg_role: mx
    """
    fleet = inv.load(write(tmp_path, "r.yml", text))
    assert [(h.name, h.port, h.vars["mailcfg_role"]) for h in fleet.hosts.values()] == \
        [("mx1", 2200, ["mx"]), ("mx2", 2200, ["mx"])]
    assert fleet.group_hosts("all") == ["mx1", "mx2"]  # top-level groups hang from all


def test_format_is_detected_without_a_suffix(tmp_path):
    assert next(iter(inv.load(write(tmp_path, "hosts", INI_FLEET)).hosts)) == "lonely.example.org"
    assert "mx1.example.org" in inv.load(write(tmp_path, "fleet", YAML_FLEET)).hosts


def test_empty_inventories(tmp_path):
    assert inv.load(write(tmp_path, "e.yml", "")).hosts == {}
    assert inv.load(write(tmp_path, "e.ini", "# nothing\n")).hosts == {}
    assert inv.load(write(tmp_path, "g.yml", "all:\n  children:\n    mx:\n")).group_hosts("mx") == []


def test_the_bundled_example_inventory():
    fleet = inv.load(EXAMPLES / "inventory.yml")
    assert fleet.group_hosts("mx") and fleet.group_hosts("submission")
    assert any(h.port != 22 for h in fleet.hosts.values())
    assert all(h.vars.get("mailcfg_role") for h in fleet.hosts.values())


def test_ssh_options_take_the_hosts_key(fleet):
    base = SshOptions(identity=Path("/keys/default"), timeout=3)
    assert fleet.hosts["mx1.example.org"].ssh_options(base) is base
    mx2 = fleet.hosts["mx2.example.org"].ssh_options(base)
    assert mx2.identity == Path.home() / ".ssh" / "mx2" and mx2.timeout == 3


# --- patterns --------------------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "expected"), [
    ("all", ["lonely.example.org", "mx1.example.org", "mx2.example.org", "smtp.example.org"]),
    ("*", ["lonely.example.org", "mx1.example.org", "mx2.example.org", "smtp.example.org"]),
    ("mx", ["mx1.example.org", "mx2.example.org"]),
    ("mail", ["mx1.example.org", "mx2.example.org", "smtp.example.org"]),
    ("smtp.example.org", ["smtp.example.org"]),
    ("mx*", ["mx1.example.org", "mx2.example.org"]),
    ("*.example.org", ["lonely.example.org", "mx1.example.org", "mx2.example.org", "smtp.example.org"]),
    ("mx1.example.org:smtp.example.org", ["mx1.example.org", "smtp.example.org"]),
    ("submission:mx", ["mx1.example.org", "mx2.example.org", "smtp.example.org"]),
    ("mx,submission", ["mx1.example.org", "mx2.example.org", "smtp.example.org"]),
    ("mail:&staging", ["mx2.example.org"]),
    ("mail:!staging", ["mx1.example.org", "smtp.example.org"]),
    ("!staging:mail", ["mx1.example.org", "smtp.example.org"]),  # order of terms does not matter
    ("mail,!mx", ["smtp.example.org"]),
    ("!mail", ["lonely.example.org"]),  # only an exclusion: from all
    ("&mx", ["mx1.example.org", "mx2.example.org"]),
    ("mx:&submission", []),  # known groups, empty intersection
    ("~mx[12]\\.", ["mx1.example.org", "mx2.example.org"]),
    ("mx[0]", ["mx1.example.org"]),
    ("mx[-1]", ["mx2.example.org"]),
    ("mail[1:2]", ["mx2.example.org", "smtp.example.org"]),
    ("mail[1:]", ["mx2.example.org", "smtp.example.org"]),
    ("ungrouped", ["lonely.example.org"]),
    (" mx , submission ", ["mx1.example.org", "mx2.example.org", "smtp.example.org"]),
    (["mx", "!staging"], ["mx1.example.org"]),
])
def test_patterns(fleet, pattern, expected):
    assert names(inv.select(fleet, pattern)) == expected


def test_split_pattern_keeps_ipv6_and_subscripts():
    assert inv.split_pattern("a:b,!c:&d") == ["a", "b", "!c", "&d"]
    assert inv.split_pattern("mx[1:2]:db") == ["mx[1:2]", "db"]
    assert inv.split_pattern("2001:db8::1") == ["2001:db8::1"]
    assert inv.split_pattern("2001:db8::1,web") == ["2001:db8::1", "web"]


def test_ipv6_host_pattern(tmp_path):
    fleet = inv.load(write(tmp_path, "v6.ini", "[v6]\n2001:db8::2\nother\n"))
    assert names(inv.select(fleet, "2001:db8::2")) == ["2001:db8::2"]


@pytest.mark.parametrize("pattern", ["nosuchgroup", "mx:nosuch", "mail:!nosuch", "zz*", "", " , "])
def test_patterns_naming_nothing_are_errors(fleet, pattern):
    with pytest.raises(MailcfgError) as exc:
        inv.select(fleet, pattern)
    message = str(exc.value)
    assert str(fleet.path) in message and "\n" not in message
    if pattern.strip(" ,"):
        assert "nosuch" in message or "zz*" in message


def test_an_empty_group_is_known(tmp_path):
    fleet = inv.load(write(tmp_path, "e.ini", "[empty]\n[mx]\nmx1\n"))
    assert inv.select(fleet, "empty") == []
    assert names(inv.select(fleet, "mx:empty")) == ["mx1"]


def test_bad_regex_pattern(fleet):
    with pytest.raises(MailcfgError, match="regular expression"):
        inv.select(fleet, "~mx(")


# --- errors ----------------------------------------------------------------------------------

def error_of(path: Path) -> str:
    with pytest.raises(MailcfgError) as exc:
        inv.load(path)
    message = str(exc.value)
    assert "\n" not in message, message
    return message


def test_missing_file(tmp_path):
    assert error_of(tmp_path / "nope.yml") == f"{tmp_path / 'nope.yml'}: inventory not found"


def test_directory(tmp_path):
    assert "is a directory" in error_of(tmp_path)


@pytest.mark.parametrize(("text", "line", "words"), [
    ("all:\n  hosts:\n    mx1: [\n", 4, "YAML syntax error"),
    ("all:\n  hosts:\n    mx1:\n    mx1:\n", 4, "YAML syntax error"),  # duplicate key
    ("all:\n  hosts:\n    mx1: 192.0.2.1\n", 3, "host 'mx1' in group 'all' must map to its variables"),
    ("all:\n  hosts:\n    mx1:\n      - a\n", 3, "not a list"),
    ("all:\n  hosts:\n    - mx1\n", 3, "hosts must be a mapping"),
    ("all:\n  children:\n    mx: [a]\n", 3, "group 'mx' must be a mapping"),
    ("all:\n  children:\n    - mx\n", 3, "children must be a mapping"),
    ("all:\n  vars:\n    - a\n", 3, "vars must be a mapping"),
    ("all:\n  host:\n    mx1:\n", 2, "unexpected key 'host'"),
    ("all:\n  hosts:\n    mx1:\n      ansible_port: twenty\n", 3, "ansible_port 'twenty' is not a port number"),
    ("all:\n  hosts:\n    mx1:\n      ansible_port: 70000\n", 3, "not a port number"),
    ("all:\n  hosts:\n    mx1:\n      ansible_host: '{{ inventory_hostname }}.lan'\n", 3, "Jinja2"),
    ("all:\n  hosts:\n    mx1:\n      ansible_user: [a]\n", 3, "ansible_user must be a string"),
    ("all:\n  children:\n    a:\n      children:\n        b:\n          children:\n            a:\n", 3, "loop"),
    ("- just\n- a list\n", 1, "mapping of groups"),
    ("all:\n  hosts:\n    'mx[3:1]':\n", 3, "begin is after end"),
    ("all:\n  hosts:\n    'mx[01:3]':\n", 3, "same length"),
    ("all:\n  hosts:\n    'mx1:99999':\n", 3, "bad port"),
    ("all:\n  hosts:\n    mx1:\n      mailcfg_rol: mx\n", 3, "unknown variable mailcfg_rol"),
    ("all:\n  hosts:\n    mx1:\n      mailcfg_role: [mx, webmail]\n", 3, "'webmail' is not one of mx, submission"),
    ("all:\n  hosts:\n    mx1:\n      mailcfg_skip_rules: {a: 1}\n", 3, "must be a word, a comma-separated"),
    ("all:\n  hosts:\n    mx1:\n      ansible_become: maybe\n", 3, "must be yes or no"),
])
def test_yaml_errors_name_file_and_line(tmp_path, text, line, words):
    _error_names_file_and_line(write(tmp_path, "bad.yml", text), line, words)


@pytest.mark.parametrize(("text", "line", "words"), [
    ("[mx\nmx1\n", 1, "bad section header"),
    ("[mx:hostz]\nmx1\n", 1, "unknown type"),
    ("[mx]\nmx1 ansible_port\n", 2, "expected key=value host variable"),
    ("[mx]\nmx1 mailcfg_x='unterminated\n", 2, "cannot parse host line"),
    ("[mx:vars]\njust_a_word\n", 2, "expected key=value"),
    ("[mx]\nmx1\n[ghost:vars]\na=1\n", 3, "never defined"),
    ("[mx]\nmx1 ansible_port=abc\n", 2, "not a port number"),
    ("[a:children]\nb\n[b:children]\na\n", 1, "loop"),
    ("[a:children]\nall\n", 2, "cannot be a child"),
    ("[mx]\nmx[a:3]\n", 2, "host range"),
])
def test_ini_errors_name_file_and_line(tmp_path, text, line, words):
    _error_names_file_and_line(write(tmp_path, "bad.ini", text), line, words)


def _error_names_file_and_line(path, line: int, words: str) -> None:
    message = error_of(path)
    assert message.startswith(f"{path}:{line}: "), message
    assert words in message


def test_vars_section_before_its_group_is_fine(tmp_path):
    fleet = inv.load(write(tmp_path, "late.ini", "[mx:vars]\nmailcfg_role=mx\n[mx]\nmx1\n"))
    assert fleet.hosts["mx1"].vars == {"mailcfg_role": ["mx"]}


def test_undecodable_file(tmp_path):
    path = tmp_path / "bin.ini"
    path.write_bytes(b"[mx]\n\xff\xfe\n")
    assert error_of(path).startswith(f"{path}: cannot read inventory")


# --- ssh arguments: honoured, ignored, or the host refused ----------------------------------

def _hosts(tmp_path: Path, text: str) -> dict[str, HostSpec]:
    path = tmp_path / "inventory.yml"
    path.write_text(textwrap.dedent(text))
    return inv.load(path).hosts


def test_bastion_settings_from_ssh_args_are_honoured(tmp_path):
    hosts = _hosts(tmp_path, """\
        all:
          vars: {ansible_user: root}
          hosts:
            cmd: {ansible_host: 10.0.0.1, ansible_ssh_common_args: '-o ProxyCommand="ssh -W %h:%p -q bastion"'}
            jump: {ansible_ssh_common_args: '-J ops@bastion:2222 -o ControlMaster=auto -o ControlPersist=60s'}
            opt: {ansible_ssh_extra_args: '-qC -o ProxyJump=gw1,gw2 -o "ProxyCommand nc %h %p"'}
            off: {ansible_ssh_common_args: '-o ProxyJump=none -o ProxyCommand=nc'}
        """)
    assert (hosts["cmd"].proxy_command, hosts["cmd"].proxy_jump) == ("ssh -W %h:%p -q bastion", None)
    assert (hosts["jump"].proxy_jump, hosts["jump"].proxy_command) == ("ops@bastion:2222", None)
    assert (hosts["opt"].proxy_jump, hosts["opt"].proxy_command) == ("gw1,gw2", None)  # the first one set wins
    assert (hosts["off"].proxy_jump, hosts["off"].proxy_command) == (None, None)  # `none`, then ignored
    assert all(h.refused is None for h in hosts.values())


def test_ssh_args_follow_ansibles_order_first_value_wins(tmp_path):
    hosts = _hosts(tmp_path, """\
        all:
          hosts:
            first: {ansible_ssh_args: '-C -p 2022 -o User=deploy', ansible_port: 2200, ansible_user: root}
            vars_win: {ansible_ssh_common_args: '-p 2022 -l other -i /k', ansible_port: 2200, ansible_user: root}
            args_fill: {ansible_ssh_common_args: '-p2022 -lother -i ~/k -o HostKeyAlias=mx-key'}
            files: {ansible_ssh_common_args: '-o UserKnownHostsFile=/dev/null -o GlobalKnownHostsFile=none'}
        """)
    assert (hosts["first"].port, hosts["first"].user) == (2022, "deploy")
    assert (hosts["vars_win"].port, hosts["vars_win"].user, hosts["vars_win"].identity) == (2200, "root", Path("/k"))
    filled = hosts["args_fill"]
    assert (filled.port, filled.user, filled.identity, filled.host_key_alias) == \
        (2022, "other", Path("~/k").expanduser(), "mx-key")
    assert (hosts["files"].user_known_hosts, hosts["files"].global_known_hosts) == ((Path("/dev/null"),), ())


@pytest.mark.parametrize(("args", "words"), [
    ("-o Ciphers=aes256-ctr", "cannot honour -o Ciphers=aes256-ctr"),
    ("-o HostName=elsewhere", "cannot honour -o HostName=elsewhere"),
    ("-o RemoteCommand=id", "cannot honour -o RemoteCommand=id"),
    ("-F /etc/other_config", "cannot honour ssh's -F /etc/other_config"),
    ("-W other:22", "cannot honour ssh's -W"),
    ("-4", "cannot honour ssh's -4"),
    ("-o", "-o needs an argument"),
    ("bastion", "'bastion' is not an ssh option"),
    ("-o 'ProxyJump", "cannot split"),
    ("-o Tunnel=\\x1b[2J\\x07", "cannot honour -o Tunnel=\\x1b[2J\\x07;"),  # YAML's escapes: ESC and BEL, shown
])
def test_other_ssh_args_refuse_the_host_not_the_inventory(tmp_path, args, words):
    hosts = _hosts(tmp_path, f"""\
        all:
          hosts:
            ok:
            odd: {{ansible_ssh_common_args: "{args}"}}
        """)
    assert hosts["ok"].refused is None
    refused = hosts["odd"].refused
    assert refused.startswith(f"{tmp_path / 'inventory.yml'}:4: ansible_ssh_common_args: ") and words in refused


@pytest.mark.parametrize(("values", "words"), [
    ("ansible_host: '$(touch /tmp/canary)'", "'$(touch /tmp/canary)' is not a valid host name"),
    ("ansible_host: '`id`.example.org'", "is not a valid host name"),
    ("ansible_user: 'root;id'", "'root;id' is not a valid user name"),
    ("ansible_connection: local", "ansible_connection=local: mailcfg connects over SSH only"),
])
def test_names_and_connections_mailcfg_cannot_use_refuse_the_host(tmp_path, values, words):
    hosts = _hosts(tmp_path, f"""\
        all:
          hosts:
            bad: {{{values}}}
        """)
    assert words in hosts["bad"].refused


def test_ini_ssh_args(tmp_path):
    path = tmp_path / "hosts.ini"
    path.write_text("[mx]\nmx1 ansible_host=10.0.0.1\n[mx:vars]\n"
                    "ansible_ssh_common_args='-o ProxyCommand=\"ssh -W %h:%p bastion\"'\n")
    assert inv.load(path).hosts["mx1"].proxy_command == "ssh -W %h:%p bastion"


FAST_READ = [YAML_FLEET, "all:\n  hosts:\n    mx1.example.org:\n      ansible_port: 2222  # ssh\n    mx2:\n"
             "  vars:\n    mailcfg_become: yes\n    note: '' \n    empty:\n", "# nothing\n",
             "all:\n  hosts:\n    mx1: 192.0.2.1\n", "all:\n  host:\n    mx1:\n",
             "all:\n  hosts:\n    mx1:\n      ansible_port: twenty\n", "all:\n  hosts:\n    mx1:\n    mx1:\n",
             "all:\n  hosts:\n    mx1:\n      ansible_port: 0x16\n", "all:\n  hosts:\n    mx1:\n      on: off\n"]


@pytest.mark.parametrize("text", FAST_READ)
def test_the_plain_reader_reads_inventories_as_the_yaml_parser_does(tmp_path, monkeypatch, text):
    """Plain block mappings are read without ruamel.yaml (a fleet's inventory is read faster than it is
    parsed), to the same hosts, variables, groups and lines, and the same errors naming the same lines."""
    from mailcfg import plainread

    path = write(tmp_path, "hosts.yml", text)

    def outcome() -> str:
        try:
            found = inv.load(path)
        except MailcfgError as exc:
            return f"error: {exc}"
        return repr((found.hosts, found.groups, found.variables, found.memberships))

    fast = outcome()
    monkeypatch.setattr(plainread, "block_mapping", lambda text: None)
    assert fast == outcome()


def test_the_plain_reader_leaves_what_it_cannot_read_to_the_yaml_parser():
    from mailcfg.plainread import block_mapping

    assert block_mapping("all:\n  hosts:\n    mx1:\n") == {"all": {"hosts": {"mx1": None}}}
    for text in ("all:\n  hosts:\n    'mx[1:3]':\n", "all:\n  hosts:\n    mx1:\n      - a\n", "all: {hosts: {}}\n",
                 "all:\n  vars:\n    x: 1.5\n", "all:\n  vars:\n    x: &a b\n", "all:\n   hosts:\n  mx1:\n",
                 "all:\n  hosts:\n    mx1:\n    mx1:\n", "---\nall:\n", "all:\n  vars:\n    x: |\n      y\n"):
        assert block_mapping(text) is None, text
