"""Ansible-style inventories (YAML or INI) and host patterns (`--limit`, the group/host argument).

`load(path)` reads the file (YAML when it parses as a mapping whose groups have `hosts`,
`children`, `vars`; INI otherwise - or by suffix .yml/.yaml/.ini/.cfg) into an `Inventory`.
Each host's variables are resolved as Ansible does: the `all` group's vars, then the other groups
by depth (a child group after its parent) then `ansible_group_priority` then name, then the host's
own vars. Connection variables become the `HostSpec` fields (`ansible_host`, `ansible_port`,
`ansible_user`, `ansible_ssh_private_key_file`, and the older `ansible_ssh_host`/`_port`/`_user`);
`ansible_become` and mailcfg's own variables are checked and kept: `mailcfg_become` (wins over
`ansible_become`), `mailcfg_role` (what the host is for, see `mailcfg.roles`) and
`mailcfg_skip_rules` (rule ids not reported for this host); any other `mailcfg_*` name is an
error, so a typo never passes silently. `ansible_ssh_args`, `ansible_ssh_common_args` and
`ansible_ssh_extra_args` are read as ssh reads them (`mailcfg.remote.sshargs`): bastions
(ProxyJump, `-J`, ProxyCommand) and the other settings mailcfg can follow are honoured; a host
with an option it cannot follow, an `ansible_connection` other than SSH, or a host or user name
that is no valid name is kept with `refused` set: it is reported as an error, never contacted.
Host names may carry ranges (`mx[01:03].example.org`, `db-[a:c]`, `[1:9:2]`) and a port (`mx1:2222`).

`select(inventory, pattern)` implements Ansible's host patterns: `all`, `*`, group and host
names, globs (`mx*`), `~regex`, subscripts (`mx[0]`, `mx[1:2]`), `a:b` / `a,b` union, `a:&b`
intersection and `a:!b` exclusion. Hosts come back in inventory order.

Every problem is a `MailcfgError` with one line naming the file and, where known, the line.
Not supported: host_vars/ and group_vars/ directories, Jinja2 in connection variables (refused),
vaulted values, dynamic inventory scripts and plugins.
"""

from __future__ import annotations

import ast
import dataclasses
import fnmatch
import os
import re
import shlex
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailcfg import plainread
from mailcfg.asciidigits import digits
from mailcfg.errors import MailcfgError
from mailcfg.remote import knownhosts, sshargs
from mailcfg.remote.hosts import CONFIGURABLE, HostSpec, name_problem, valid_hostname
from mailcfg.roles import ROLES

InventoryHost = HostSpec  # one record for every kind of target (see hosts.py)

GROUP_KEYS = ("hosts", "children", "vars")


@dataclass
class Group:
    """One group of the inventory, with its hosts and its place among the groups."""

    name: str
    line: int | None = None
    hosts: list[str] = field(default_factory=list)  # hosts listed directly in this group
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass
class Inventory:
    """An Ansible-style inventory, read: its groups, hosts and their variables."""

    path: Path
    groups: dict[str, Group]
    hosts: dict[str, HostSpec]  # in inventory order
    variables: dict[str, dict[str, Any]]  # every resolved variable of each host, by host name
    memberships: dict[str, list[str]]  # the groups of each host, directly or through children, `all` included

    def group_hosts(self, name: str) -> list[str]:
        """The hosts of a group and of all its descendant groups, in inventory order."""
        return [h for h, groups in self.memberships.items() if name in groups]

    def host_groups(self, host: str) -> list[str]:
        """The groups a host belongs to, directly or through children, `all` included."""
        return list(self.memberships[host])


class _Builder:
    """Collects groups and hosts from either format, then resolves them."""

    def __init__(self, path: Path):
        self.path = path
        self.groups: dict[str, Group] = {"all": Group("all"), "ungrouped": Group("ungrouped")}
        self.host_vars: dict[str, dict[str, Any]] = {}
        self.host_lines: dict[str, int | None] = {}

    def error(self, line: int | None, message: str) -> MailcfgError:
        return MailcfgError(f"{self.path}{f':{line}' if line else ''}: {message}")

    def group(self, name: str, line: int | None) -> Group:
        if not _valid_group_name(name):
            raise self.error(line, f"invalid group name {name!r}")
        if name not in self.groups:
            self.groups[name] = Group(name, line)
        elif self.groups[name].line is None:
            self.groups[name].line = line
        return self.groups[name]

    def add_host(self, group: str, name: str, variables: dict[str, Any], line: int | None) -> None:
        for host, port in _expand_host(name, lambda msg: self.error(line, msg)):
            values = dict(variables)
            if port is not None:
                values["ansible_port"] = port
            self.host_vars.setdefault(host, {}).update(values)
            self.host_lines.setdefault(host, line)
            members = self.groups[group].hosts
            if host not in members:
                members.append(host)

    def add_child(self, parent: str, child: str, line: int | None) -> None:
        if child == "all":
            raise self.error(line, f"group 'all' cannot be a child of {parent!r}")
        self.group(child, line)
        if child not in self.groups[parent].children:
            self.groups[parent].children.append(child)
            self.groups[child].parents.append(parent)

    def finish(self) -> Inventory:
        groups = self.groups
        for name, group in groups.items():  # top-level groups are children of all
            if name != "all" and not group.parents:
                group.parents.append("all")
                groups["all"].children.append(name)
        depth = self._depths()
        direct: dict[str, list[str]] = {h: [] for h in self.host_vars}
        for group in groups.values():
            for host in group.hosts:
                direct[host].append(group.name)
        ungrouped = groups["ungrouped"].hosts
        ungrouped += [h for h, names in direct.items() if set(names) <= {"all"} and h not in ungrouped]
        ancestors: dict[str, set[str]] = {}

        def lineage(name: str) -> set[str]:
            if name not in ancestors:
                ancestors[name] = {name}  # a provisional entry stops loops (there are none after _depths)
                ancestors[name] = {name}.union(*(lineage(p) for p in groups[name].parents))
            return ancestors[name]

        inventory = Inventory(self.path, groups, {}, {}, {})
        for host in self.host_vars:
            member = set().union(*(lineage(g) for g in direct[host]), {"all"})
            if host in ungrouped:
                member |= lineage("ungrouped")
            inventory.memberships[host] = [g for g in groups if g in member]
            values = dict(groups["all"].vars)
            for name in sorted(member - {"all"}, key=lambda g: (depth[g], _priority(groups[g]), g)):
                values.update(groups[name].vars)
            values.update(self.host_vars[host])
            inventory.variables[host] = values
            inventory.hosts[host] = self._spec(host, values)
        return inventory

    def _depths(self) -> dict[str, int]:
        depth: dict[str, int] = {}

        def visit(name: str, level: int, path: tuple[str, ...]) -> None:
            if name in path:
                cycle = " -> ".join((*path[path.index(name):], name))
                raise self.error(self.groups[name].line, f"groups form a loop: {cycle}")
            if depth.get(name, -1) >= level and name != "all":
                return
            depth[name] = max(depth.get(name, 0), level)
            for child in self.groups[name].children:
                visit(child, level + 1, (*path, name))

        visit("all", 0, ())
        for name in self.groups:  # a loop that never hangs from all (impossible after finish, but safe)
            if name not in depth:
                visit(name, 1, ())
        return depth

    def _spec(self, host: str, values: dict[str, Any]) -> HostSpec:
        line = self.host_lines.get(host)

        def get(*names: str) -> Any:
            for name in names:
                if values.get(name) is not None:
                    value = values[name]
                    if isinstance(value, str) and ("{{" in value or "{%" in value):
                        raise self.error(line, f"host {host}: {name} is a Jinja2 template ({value!r}), "
                                               f"which mailcfg does not evaluate")
                    return value
            return None

        hostname = get("ansible_host", "ansible_ssh_host")
        port = get("ansible_port", "ansible_ssh_port")
        user = get("ansible_user", "ansible_ssh_user")
        key = get("ansible_ssh_private_key_file", "ansible_private_key_file")
        args = {name: get(name) for name in SSH_ARGS}
        for name, value in args.items():
            if value is not None and not isinstance(value, str):
                raise self.error(line, f"host {host}: {name} must be a string, not {type(value).__name__}")
        if port is not None:
            try:
                if isinstance(port, bool | float):
                    raise ValueError
                port = int(str(port).strip())
                if not 0 < port < 65536:
                    raise ValueError
            except ValueError:
                raise self.error(line, f"host {host}: ansible_port {port!r} is not a port number") from None
        for what, value in (("ansible_host", hostname), ("ansible_user", user),
                            ("ansible_ssh_private_key_file", key)):
            if value is not None and (not isinstance(value, str | int) or isinstance(value, bool)):
                raise self.error(line, f"host {host}: {what} must be a string, not {type(value).__name__}")
        become = get("mailcfg_become", "ansible_become")
        if become is not None:
            become = _boolean(become)
            if become is None:
                raise self.error(line, f"host {host}: mailcfg_become/ansible_become must be yes or no")
        own = {k: v for k, v in values.items() if k.startswith("mailcfg_") and k != "mailcfg_become"}
        for name, value in own.items():
            if name not in ("mailcfg_role", "mailcfg_skip_rules"):
                raise self.error(line, f"host {host}: unknown variable {name} (mailcfg knows mailcfg_become, "
                                       f"mailcfg_role, mailcfg_skip_rules)")
            words = _words(value)
            if words is None:
                raise self.error(line, f"host {host}: {name} must be a word, a comma-separated string or a list")
            if name == "mailcfg_role" and (bad := [w for w in words if w not in ROLES]):
                raise self.error(line, f"host {host}: mailcfg_role {bad[0]!r} is not one of {', '.join(ROLES)}")
            own[name] = words
        spec = HostSpec(
            name=host,
            hostname=str(hostname) if hostname not in (None, "") else host,
            port=port or 22,
            user=str(user) if user not in (None, "") else None,
            identity=Path(os.path.expanduser(str(key))) if key not in (None, "") else None,
            become=become,
            vars=own,
        )
        try:
            own = [(k, str(v)) for k, v in (("port", port), ("identityfile", spec.identity), ("user", spec.user))
                   if v is not None]
            spec = _with_ssh_args(spec, args, own, get("ansible_connection"))
        except sshargs.SshArgsError as exc:
            return dataclasses.replace(spec, refused=f"{self.path}{f':{line}' if line else ''}: {exc}")
        problem = name_problem(spec.hostname, spec.user)
        if problem is None and spec.host_key_alias is not None and not valid_hostname(spec.host_key_alias):
            problem = f"HostKeyAlias {spec.host_key_alias!r} is not a valid host name"
        if problem is not None:
            return dataclasses.replace(spec, refused=f"{self.path}{f':{line}' if line else ''}: {problem}")
        return spec


SSH_ARGS = ("ansible_ssh_args", "ansible_ssh_common_args", "ansible_ssh_extra_args")
CONNECTIONS = ("ssh", "paramiko", "smart")  # what reaches the host over SSH, as mailcfg does


def _with_ssh_args(spec: HostSpec, args: dict[str, str | None], own: list[tuple[str, str]],
                   connection: Any) -> HostSpec:
    """`spec` with what the host's ssh arguments set, in the order Ansible puts them on ssh's
    command line (ansible_ssh_args, then the inventory's own port, key and user as `own`, then the
    common and extra args; the first value wins); raises `SshArgsError` for what mailcfg cannot honour.
    What none of them sets is left to ssh_config, as ssh leaves it (`HostSpec.unset`)."""
    if connection is not None and str(connection) not in CONNECTIONS:
        raise sshargs.SshArgsError(f"ansible_connection={connection}: mailcfg connects over SSH only")
    layers = [sshargs.options(text, name) if text else [] for name, text in args.items()]
    layers.insert(1, own)
    found = sshargs.settings(layers)
    port = found.get("port", str(spec.port))
    if not digits(port) or not 0 < int(port) < 65536:
        raise sshargs.SshArgsError(f"Port {port!r} is not a port number")
    files = {k: knownhosts.expand(found[k].split()) if found[k].lower() != "none" else ()
             for k in ("userknownhostsfile", "globalknownhostsfile") if k in found}
    return dataclasses.replace(
        spec, port=int(port), user=found.get("user", spec.user),
        identity=Path(os.path.expanduser(found["identityfile"])) if "identityfile" in found else spec.identity,
        proxy_jump=_unless_none(found.get("proxyjump")), proxy_command=_unless_none(found.get("proxycommand")),
        host_key_alias=found.get("hostkeyalias"), user_known_hosts=files.get("userknownhostsfile"),
        global_known_hosts=files.get("globalknownhostsfile"),
        revoked_host_keys=Path(os.path.expanduser(found["revokedhostkeys"]))
        if found.get("revokedhostkeys", "none").lower() != "none" else None,
        unset=CONFIGURABLE - {field for key in found for field in _FIELDS[key]})


# The HostSpec fields each ssh setting decides (ProxyJump and ProxyCommand are one setting).
_FIELDS = {"port": ("port",), "user": ("user",), "identityfile": ("identity",),
           "proxyjump": ("proxy_jump", "proxy_command"), "proxycommand": ("proxy_jump", "proxy_command"),
           "hostkeyalias": ("host_key_alias",), "userknownhostsfile": ("user_known_hosts",),
           "globalknownhostsfile": ("global_known_hosts",), "revokedhostkeys": ("revoked_host_keys",)}


def _unless_none(value: str | None) -> str | None:
    return None if value is None or value.strip().lower() == "none" else value


def _boolean(value: Any) -> bool | None:
    """Ansible's truth values (YAML booleans, or the words an INI file holds)."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    return True if word in ("yes", "on", "1", "true", "y", "t") else \
        False if word in ("no", "off", "0", "false", "n", "f") else None


def _words(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [w.strip() for w in value.split(",") if w.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value]
    return None


def _priority(group: Group) -> int:
    try:
        return int(group.vars.get("ansible_group_priority", 1))
    except (TypeError, ValueError):
        return 1


def _valid_group_name(name: str) -> bool:
    return bool(name) and not any(c.isspace() or c in ":[]," for c in name)


# --- host names: ranges and ports ---------------------------------------------------------

_RANGE = re.compile(r"^(.*?)\[([^\[\]:]*):([^\[\]:]*)(?::([^\[\]:]*))?\](.*)$", re.S)


def _expand_host(pattern: str, error) -> list[tuple[str, int | None]]:
    """`mx[01:03]:2222` -> [(mx01, 2222), (mx02, 2222), (mx03, 2222)]."""
    name, port = _split_port(pattern.strip(), error)
    literal = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]", name)  # [IPv6]
    if literal:
        return [(literal.group(1), port)]
    if not name:
        raise error(f"empty host name in {pattern!r}")
    names = _expand_ranges(name, error)
    for host in names:
        if any(c.isspace() for c in host) or "," in host:
            raise error(f"invalid host name {host!r}")
    return [(host, port) for host in names]


def _split_port(name: str, error) -> tuple[str, int | None]:
    text = None
    if name.startswith("[") and "]:" in name and ":" in name[1:name.index("]:")]:  # [IPv6]:port
        name, text = name[1:name.index("]:")], name[name.index("]:") + 2:]
    elif re.sub(r"\[[^\]]*\]", "", name).count(":") == 1 and not name.endswith("]"):
        name, _, text = name.rpartition(":")
    if text is None:
        return name, None
    if not digits(text) or not 0 < int(text) < 65536:
        raise error(f"{name}:{text}: bad port {text!r}")
    return name, int(text)


def _expand_ranges(name: str, error) -> list[str]:
    match = _RANGE.match(name)
    if not match:
        return [name]
    head, begin, end, step, tail = match.groups()
    begin, end = begin.strip() or "0", end.strip()
    if not end:
        raise error(f"host range {name!r} has no end")
    try:
        stride = int(step) if step else 1
    except ValueError:
        raise error(f"host range {name!r}: bad step {step!r}") from None
    if stride < 1:
        raise error(f"host range {name!r}: step must be positive")
    if digits(begin) and digits(end):
        if begin.startswith("0") and len(begin) > 1 and len(begin) != len(end):
            raise error(f"host range {name!r}: zero-padded begin and end must have the same length")
        width = len(begin) if begin.startswith("0") else 0
        if int(begin) > int(end):
            raise error(f"host range {name!r}: begin is after end")
        items = [str(i).zfill(width) for i in range(int(begin), int(end) + 1, stride)]
    elif len(begin) == 1 and len(end) == 1 and begin in string.ascii_letters and end in string.ascii_letters:
        lo, hi = string.ascii_letters.index(begin), string.ascii_letters.index(end)
        if lo > hi:
            raise error(f"host range {name!r}: begin is after end")
        items = list(string.ascii_letters[lo:hi + 1:stride])
    else:
        raise error(f"host range {name!r}: expected [N:M] or [a:z]")
    return [f"{head}{item}{rest}" for item in items for rest in _expand_ranges(tail, error)]


# --- YAML ----------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """ruamel's round-trip types -> plain dict/list/str/int/float/bool/None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    tag = getattr(value, "tag", None)  # e.g. !vault: keep the text
    inner = getattr(value, "value", None)
    if tag is not None and isinstance(inner, str):
        return str(inner)
    return value


def _key_line(mapping: Any, key: Any) -> int | None:
    try:
        return mapping.lc.key(key)[0] + 1
    except (AttributeError, KeyError, TypeError):
        return None


def _value_line(mapping: Any, key: Any) -> int | None:
    try:
        return mapping.lc.value(key)[0] + 1
    except (AttributeError, KeyError, TypeError):
        return _key_line(mapping, key)


def _parse_yaml(b: _Builder, text: str) -> None:
    # the plain nested mappings most inventories are, with where each key is; anything else (and a
    # syntax error, which ruamel.yaml names file:line for) through the YAML parser
    data = plainread.block_mapping(text)
    if data is None:
        data = _yaml_load(b, text)
    if data is None:
        return
    if not isinstance(data, dict):
        raise b.error(1, f"an inventory is a mapping of groups, not a {type(data).__name__}")
    for name, body in data.items():
        _yaml_group(b, str(name), body, _key_line(data, name), None)


def _yaml_load(b: _Builder, text: str) -> Any:
    from ruamel.yaml import YAML  # only for a YAML inventory the plain reader leaves: start-up stays light
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        return YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(f"{exc.context or ''} {exc.problem or ''}".split()) or "syntax error"
        raise b.error(mark.line + 1 if mark else None, f"YAML syntax error: {problem}") from None
    except YAMLError as exc:
        raise b.error(None, f"YAML syntax error: {' '.join(str(exc).split())}") from None


def _section(b, body: dict, name: str, key: str, what: str = "") -> dict | None:
    """A group's `hosts`, `children` or `vars`, which must be a mapping when present."""
    value = body.get(key)
    if value is not None and not isinstance(value, dict):
        raise b.error(_value_line(body, key), f"group {name!r}: {key} must be a mapping{what}, not {_kind(value)}")
    return value


def _yaml_group(b: _Builder, name: str, body: Any, line: int | None, parent: str | None) -> None:
    b.group(name, line)
    if parent is not None:
        b.add_child(parent, name, line)
    if body is None:
        return
    if not isinstance(body, dict):
        raise b.error(line, f"group {name!r} must be a mapping with hosts/children/vars, "
                            f"not {_kind(body)}")
    for key in body:
        if key not in GROUP_KEYS:
            raise b.error(_key_line(body, key), f"group {name!r}: unexpected key {key!r} "
                                                f"(only hosts, children and vars are valid)")
    hosts = _section(b, body, name, "hosts", " of host names")
    if hosts is not None:
        for host, values in hosts.items():
            at = _key_line(hosts, host)
            if values is not None and not isinstance(values, dict):
                raise b.error(at, f"host {host!r} in group {name!r} must map to its variables (or nothing), "
                                  f"not {_kind(values)}")
            b.add_host(name, str(host), _plain(values) or {}, at)
    children = _section(b, body, name, "children", " of groups")
    if children is not None:
        for child, child_body in children.items():
            _yaml_group(b, str(child), child_body, _key_line(children, child), name)
    values = _section(b, body, name, "vars")
    if values is not None:
        b.groups[name].vars.update(_plain(values))


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {str(value)!r}"
    return f"a {type(value).__name__}"


# --- INI -----------------------------------------------------------------------------------

_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$")


def _ini_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return text


def _parse_ini(b: _Builder, text: str) -> None:
    group, kind = "ungrouped", "hosts"
    pending_vars: dict[str, int] = {}  # [g:vars] of groups not (yet) defined: group -> line
    declared: set[str] = {"all", "ungrouped"}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        match = _SECTION.match(line)
        if match or (line.startswith("[") and not re.match(r"\[[0-9A-Fa-f:.]+\](:[0-9]+)?(\s|$)", line)):
            if not match:
                raise b.error(number, f"bad section header {line!r}")
            group, kind = match.group(1), match.group(2) or "hosts"
            if kind not in ("hosts", "children", "vars"):
                raise b.error(number, f"section [{group}:{kind}] has unknown type {kind!r} "
                                      f"(expected hosts, children or vars)")
            if kind == "vars" and group not in declared:
                pending_vars.setdefault(group, number)
            else:
                declared.add(group)
                pending_vars.pop(group, None)
            b.group(group, number)
            continue
        if kind == "hosts":
            try:
                tokens = shlex.split(line, comments=True)
            except ValueError as exc:
                raise b.error(number, f"cannot parse host line: {exc}") from None
            if not tokens:
                continue
            values: dict[str, Any] = {}
            for token in tokens[1:]:
                if "=" not in token:
                    raise b.error(number, f"expected key=value host variable, got {token!r}")
                key, value = token.split("=", 1)
                values[key] = _ini_value(value)
            b.add_host(group, tokens[0], values, number)
        elif kind == "children":
            child = line.split("#")[0].split(";")[0].strip()
            if not _valid_group_name(child):
                raise b.error(number, f"invalid group name {child!r} in [{group}:children]")
            b.add_child(group, child, number)
            declared.add(child)
            pending_vars.pop(child, None)
        else:
            if "=" not in line:
                raise b.error(number, f"expected key=value in [{group}:vars], got {line!r}")
            key, value = (part.strip() for part in line.split("=", 1))
            if not key:
                raise b.error(number, f"empty variable name in [{group}:vars]")
            b.groups[group].vars[key] = _ini_value(value)
    for name, number in pending_vars.items():
        raise b.error(number, f"section [{name}:vars] is for a group that is never defined")


# --- loading -------------------------------------------------------------------------------


def load(path: str | os.PathLike) -> Inventory:
    """Read an inventory file (YAML or INI)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MailcfgError(f"{path}: inventory not found") from None
    except IsADirectoryError:
        raise MailcfgError(f"{path}: is a directory (inventory directories are not supported; "
                           f"name the inventory file)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MailcfgError(f"{path}: cannot read inventory: {getattr(exc, 'strerror', None) or exc}") from None
    return parse(text, path)


def parse(text: str, path: str | os.PathLike = "<inventory>") -> Inventory:
    """An inventory from its text; `path` names it in messages and decides the format by suffix
    (.yml/.yaml YAML, .ini/.cfg INI); otherwise a text that looks like INI is read as INI."""
    path = Path(path)
    b = _Builder(path)
    suffix = path.suffix.lower()
    if suffix in (".yml", ".yaml", ".json"):
        _parse_yaml(b, text)
    elif suffix in (".ini", ".cfg") or _looks_like_ini(text):
        _parse_ini(b, text)
    else:
        _parse_yaml(b, text)
    return b.finish()


def _looks_like_ini(text: str) -> bool:
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line == "---" or line.startswith("{"):
            return False
        return line.startswith("[") or not re.match(r"^[^\s:#]+:(\s|$)", line)
    return False


# --- patterns ------------------------------------------------------------------------------

_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]*)[:-]([0-9]*))\]$")
_TERM = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")


def split_pattern(pattern: str | Iterable[str]) -> list[str]:
    """`a:b,!c` -> ['a', 'b', '!c']; IPv6 addresses and [x:y] subscripts are not split."""
    if not isinstance(pattern, str):
        return [term for item in pattern for term in split_pattern(item)]
    terms: list[str] = []
    for part in pattern.split(","):
        part = part.strip()
        if not part:
            continue
        bare = part.lstrip("!&")
        if bare.count(":") >= 2 and re.fullmatch(r"[0-9A-Fa-f:.]+", bare):  # an IPv6 address
            terms.append(part)
        else:
            terms.extend(_TERM.findall(part))
    return terms


def select(inventory: Inventory, pattern: str | Iterable[str]) -> list[HostSpec]:
    """The hosts `pattern` names, in inventory order. A term that names no group and matches no
    host raises `MailcfgError`; known terms that leave nothing (an empty intersection) give []."""
    terms = split_pattern(pattern)
    if not terms:
        raise MailcfgError(f"{inventory.path}: empty host pattern")
    ordered = [t for t in terms if t[0] not in "!&"] + [t for t in terms if t[0] == "&"] \
        + [t for t in terms if t[0] == "!"]
    if ordered[0][0] in "!&":
        ordered.insert(0, "all")
    chosen: dict[str, None] = {}  # an ordered set
    for term in ordered:
        op, body = (term[0], term[1:]) if term[0] in "!&" else ("", term)
        if not body:
            raise MailcfgError(f"{inventory.path}: bad host pattern {term!r}")
        matched = _match_term(inventory, body)
        if op == "!":
            drop = set(matched)
            chosen = {h: None for h in chosen if h not in drop}
        elif op == "&":
            both = set(matched)
            chosen = {h: None for h in chosen if h in both}
        else:
            chosen.update(dict.fromkeys(matched))
    return [spec for name, spec in inventory.hosts.items() if name in chosen]


def _match_term(inventory: Inventory, term: str) -> list[str]:
    subscript = None
    if not term.startswith("~"):
        match = _SUBSCRIPT.match(term)
        if match:
            term, single, start, end = match.groups()
            subscript = (single, start, end)
    if term.startswith("~"):
        try:
            regex = re.compile(term[1:])
        except re.error as exc:
            raise MailcfgError(f"{inventory.path}: bad regular expression in host pattern {term!r}: {exc}") from None
    else:
        regex = re.compile(fnmatch.translate(term))
    groups = [g for g in inventory.groups if regex.match(g)]
    found: dict[str, None] = {}  # an ordered set
    for group in groups:
        found.update(dict.fromkeys(inventory.group_hosts(group)))
    if not groups or term.startswith("~") or any(c in term for c in ".?*["):
        found.update(dict.fromkeys(h for h in inventory.hosts if regex.match(h)))
    hosts = list(found)
    if not groups and not hosts:
        raise MailcfgError(f"{inventory.path}: host pattern {term!r} matches no group or host")
    if subscript is not None:
        hosts = _subscript(hosts, *subscript)
    return hosts


def _subscript(hosts: list[str], single: str | None, start: str | None, end: str | None) -> list[str]:
    if single is not None:
        index = int(single)
        return [hosts[index]] if -len(hosts) <= index < len(hosts) else []
    lo = int(start) if start else 0
    hi = int(end) if end else len(hosts) - 1
    return hosts[lo:hi + 1]
