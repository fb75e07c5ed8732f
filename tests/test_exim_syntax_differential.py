"""mailcfg's reading of Exim configurations against the real `exim -bV` (Exim 4.96).

Working configurations (the stock ones and a batch from the generator) are broken one way at a
time, the ways admins break them; mailcfg must refuse exactly the ones Exim refuses, at the line
Exim names, and accept the rest.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
import realexim as rx
from exim_generator import generate_batch
from mailcfg.exim.config import load_exim
from mailcfg.snapshot import load_local
from test_rules_exim import GOOD


def _mutations(text: str, rng: random.Random) -> list[tuple[str, str]]:
    """(what, mutated text): one change each, at a random place where it applies."""
    lines = text.split("\n")
    out: list[tuple[str, str]] = []

    def at(predicate, change, what):
        places = [i for i, line in enumerate(lines) if predicate(line)]
        if places:
            i = rng.choice(places)
            changed = list(lines)
            changed[i:i + 1] = change(lines[i]).split("\n")
            out.append((f"{what} at line {i + 1}", "\n".join(changed)))

    option = re.compile(r"^[a-z_]+\s*=")
    at(lambda s: option.match(s), lambda s: s.replace("_", "__", 1) if "_" in s else "x" + s, "misspelt option")
    at(lambda s: option.match(s), lambda s: s + "\n" + s, "option set twice")
    at(lambda s: re.match(r"^\s+(accept|deny|require|warn)\b", s), lambda s: s.replace("accept", "acept")
       .replace("deny", "dney").replace("require", "requre").replace("warn", "wran"), "misspelt verb")
    at(lambda s: re.match(r"^\s+(accept|deny|require)\s+\w+\s*=", s), lambda s: re.sub(
        r"(accept|deny|require)(\s+)(\w+)", r"\1\2!message", s, count=1), "negated modifier")
    at(lambda s: re.match(r"^\s+(domains|hosts)\s*=", s), lambda s: s.replace("domains", "domians")
       .replace("hosts", "hots"), "misspelt condition")
    at(lambda s: s.startswith("begin "), lambda s: s + "\n.ifdef NO_SUCH_MACRO", ".ifdef without .endif")
    at(lambda s: s.startswith("begin "), lambda s: ".endif\n" + s, ".endif without .ifdef")
    at(lambda s: s.startswith("begin acl"), lambda s: "begin acls", "section renamed (still valid)")
    at(lambda s: s.startswith("begin "), lambda s: "begin acces", "unknown section")
    at(lambda s: re.match(r"^\s+driver\s*=", s), lambda s: re.sub(r"=\s*\w+", "= nosuchdriver", s),
       "unknown driver")
    at(lambda s: re.match(r"^\w+:$", s), lambda s: s + "\n  transport_filter_timeout = 5s", "option before driver")
    at(lambda s: s.startswith(("domainlist", "hostlist")), lambda s: s + "\n" + s, "named list defined twice")
    at(lambda s: re.match(r"^[a-z_]+\s*=", s), lambda s: "Abc = 1\nAbcd = 2\n" + s, "macro containing another")
    at(lambda s: re.match(r"^[a-z_]+\s*=", s), lambda s: "M1 = x\nM1 == y\n" + s, "macro redefined with ==")
    at(lambda s: re.match(r"^[a-z_]+\s*=", s), lambda s: ".include /nonexistent/file\n" + s, "missing include")
    at(lambda s: re.match(r"^[a-z_]+\s*=", s), lambda s: ".include_if_exists /nonexistent/file\n" + s,
       "optional include")
    at(lambda s: re.match(r"^[a-z_]+\s*=", s), lambda s: s + " \\\n  # comment inside\n", "continued option")
    at(lambda s: re.match(r"^\s+accept\b", s), lambda s: s + "\n          endpass", "endpass")
    at(lambda s: re.match(r"^\s+deny\b", s), lambda s: s + "\n          endpass", "endpass on deny")
    at(lambda s: re.match(r"^\s+(accept|deny)\b", s), lambda s: "  !" + s.strip(), "negated verb")
    return out


def _real_error_line(error: str) -> int | None:
    m = re.search(r"in line (\d+) of", error)
    return int(m[1]) if m else None


def _configs() -> list[tuple[str, str]]:
    found = [("tests/test_rules_exim GOOD", GOOD)]
    for gen in generate_batch(7, 25):
        text = gen.files.get("etc/exim4/exim4.conf")
        if text is not None:
            found.append((gen.name, text))
    return found


def test_mutated_configurations_are_refused_as_exim_refuses_them(tmp_path: Path):
    rng = random.Random(4096)
    disagreements, checked, refused = [], 0, 0
    for name, base in _configs():
        for what, text in _mutations(base, rng):
            conf = rx.write_config(tmp_path / "etc" / "exim4" / "exim4.conf", text)
            real = rx.check_config(conf)
            ours = load_exim(load_local(str(tmp_path))).error
            checked += 1
            refused += not real.ok
            if real.ok != (ours is None):
                disagreements.append(f"{name}, {what}: exim -bV {'accepts' if real.ok else real.error!r}; "
                                     f"mailcfg says {ours or 'fine'}")
            elif ours is not None and _real_error_line(real.error) not in (None, ours.origin.line if ours.origin
                                                                           else None):
                disagreements.append(f"{name}, {what}: line {ours.origin} vs exim's {real.error!r}")
    assert checked > 200 and refused > 100, (checked, refused)
    assert not disagreements, "\n".join(disagreements[:20])


@pytest.mark.parametrize("name", ["exim4.conf.template", "conf.d"])
def test_stock_debian_configuration_reads_cleanly(tmp_path: Path, name: str):
    """Debian's own files, generated by the real update-exim4.conf: Exim and mailcfg both accept them."""
    confdir = rx.stock_confdir(tmp_path / "etc" / "exim4")
    split = "true" if name == "conf.d" else "false"
    (confdir / "update-exim4.conf.conf").write_text(f"dc_eximconfig_configtype='internet'\n"
                                                    f"dc_use_split_config='{split}'\ndc_relay_nets=''\n")
    out = rx.debian_generate(confdir, tmp_path / "generated")
    assert rx.check_config(rx.write_config(tmp_path / "generated.conf", out.read_text())).ok
    config = load_exim(load_local(str(tmp_path)))
    assert config.error is None and config.debian is not None
    assert {"acl_check_rcpt", "acl_check_mail", "acl_check_data"} <= set(config.parsed.acls)
