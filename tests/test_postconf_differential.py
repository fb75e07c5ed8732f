"""mailcfg reads main.cf as the real Postfix does: compared with `postconf` on the same files.

`postconf -c DIR -n` shows the value Postfix keeps for each setting (last definition, continuation
lines joined, comments inside values skipped); `postconf -c DIR -x` shows the expanded value, with
defaults that depend on compatibility_level and on this machine's addresses (mynetworks).
"""

from __future__ import annotations

import csv
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from conftest import CORPUS, EXAMPLES, make_snapshot
from mailcfg.postfix import defaults
from mailcfg.postfix.config import load_postfix
from mailcfg.postfix.effective import ParameterView
from mailcfg.postfix.expand import expand
from mailcfg.snapshot import load_local

POSTCONF = shutil.which("postconf") or "/usr/sbin/postconf"
COMPUTED = {"myhostname", "mydomain", "mynetworks"}
CHECKED_DEFAULTS = ["mynetworks", "mynetworks_style", "relay_domains", "smtpd_relay_restrictions",
                    "smtpd_recipient_restrictions", "mydestination", "smtpd_sasl_tls_security_options",
                    "append_dot_mydomain", "smtpd_relay_before_recipient_restrictions", "virtual_alias_domains"]


def _inputs() -> list[Path]:
    with (CORPUS / "MANIFEST.tsv").open() as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    files = []
    for row in rows:
        if row["system"] != "postfix" or row["is_template"] == "yes" or "main.cf" not in row["path"]:
            continue
        repo = row["repo"].replace("/", "__")
        found = list((CORPUS / "postfix").glob(f"{repo}*/{row['path'].replace('/', '__')}"))
        files += found
    files.append(CORPUS / "postfix" / "_unattributed__plesk-forum-post" / "main.cf")
    files += sorted(EXAMPLES.glob("*/etc/postfix/main.cf"))
    return sorted(set(files))


def _postconf(*args: str) -> dict[str, str]:
    out = subprocess.run([POSTCONF, *args], capture_output=True, text=True, check=False).stdout
    values = {}
    for line in out.splitlines():
        name, sep, value = line.partition(" = ")
        if sep:
            values[name] = value
        elif line.endswith(" ="):
            values[line[:-2]] = ""
    return values


def _normal(value: str) -> str:
    """postconf prints a value with each run of blanks as one space (the stored value keeps them)."""
    return " ".join(value.split())


def _machine_facts() -> dict:
    addresses = []
    out = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True, check=True).stdout
    for m in re.finditer(r"^\d+:\s+(\S+)\s+inet6?\s+([0-9a-fA-F.:]+)/(\d+)", out, re.M):
        addresses.append({"interface": m.group(1), "address": m.group(2), "prefix": int(m.group(3))})
    version = _postconf("-d", "mail_version").get("mail_version", "")
    return {"hostname": socket.gethostname(), "addresses": addresses, "systems": {"postfix": {"version": version}}}


@pytest.fixture(scope="module")
def facts() -> dict:
    return _machine_facts()


def _modelled(view: ParameterView, name: str) -> bool:
    """Every name the value refers to (recursively) is set in main.cf or has a modelled default."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        if view.origin(current) is None and current not in COMPUTED and \
                defaults.default(current, view.config.version) is None:
            return False
        todo += expand(view.raw(current) or "", view.raw).references
    return True


@pytest.mark.parametrize("main_cf", _inputs(), ids=lambda p: p.parent.name if p.name != "main.cf" or
                         "examples" not in p.parts else p.parts[-4])
def test_values_match_postconf(tmp_path: Path, main_cf: Path, facts: dict):
    root = make_snapshot(tmp_path / "snap", main=main_cf.read_bytes().decode("utf-8", "surrogateescape"),
                         facts=facts, files={"/etc/hosts": Path("/etc/hosts").read_text()})
    confdir = root / "etc" / "postfix"
    config = load_postfix(load_local(str(root)))
    view = ParameterView(config)

    explicit = _postconf("-c", str(confdir), "-n")
    explicit.pop("config_directory", None)  # -c DIR makes postconf report DIR as set
    ours = {name: p.value for name, p in config.main.last.items()}
    assert explicit, "postconf printed nothing"
    for name, value in explicit.items():
        assert _normal(ours.get(name, "(not set)")) == value, name

    names = sorted(set(explicit) | set(CHECKED_DEFAULTS))
    expanded = _postconf("-c", str(confdir), "-x", *names)
    compared = 0
    for name in names:
        if name not in expanded or not _modelled(view, name):
            continue
        assert _normal(view.get(name)) == expanded[name], name
        compared += 1
    assert compared >= 5
