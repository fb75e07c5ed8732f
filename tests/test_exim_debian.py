"""mailcfg.exim.debian generates what Debian's update-exim4.conf generates: compared with the real script.

Each variant is a snapshot (etc/exim4 from the exim4-config package in .exim/root, plus its own
update-exim4.conf.conf, extra files and /etc/mailname). The real script runs on the same files in a
private mount namespace where overlays put the snapshot's etc over /etc and the package's usr/sbin
over /usr/sbin: the script reads /etc/mailname and /etc/exim4/exim4.conf.localmacros at those fixed
paths whatever -d says, and run as /usr/sbin/update-exim4.conf its "$0" is the path the generated
comment names. It runs by its #! line (/bin/sh: dash, as on Debian) and also under bash.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from mailcfg.exim.debian import (
    SETTING_MACROS,
    DebianConfig,
    debian_config,
    macros_for_setting,
    parse_settings,
    setting_for_macro,
)
from mailcfg.exim.lines import Origin
from mailcfg.snapshot import load_local

REPO = Path(__file__).resolve().parent.parent
EXIM_ROOT = REPO / ".exim" / "root"
SCRIPT = EXIM_ROOT / "usr" / "sbin" / "update-exim4.conf"
UE4CC = "etc/exim4/update-exim4.conf.conf"

# What debconf writes for an Internet site (the shape of a real update-exim4.conf.conf).
INTERNET = """\
# /etc/exim4/update-exim4.conf.conf
#
# Edit this file and /etc/mailname by hand and execute update-exim4.conf
# yourself or use 'dpkg-reconfigure exim4-config'

dc_eximconfig_configtype='internet'
dc_other_hostnames='mail.example.org'
dc_local_interfaces=''
dc_readhost=''
dc_relay_domains=''
dc_minimaldns='false'
dc_relay_nets=''
dc_smarthost=''
CFILEMODE='644'
dc_use_split_config='false'
dc_hide_mailname=''
dc_mailname_in_oh='true'
dc_localdelivery='mail_spool'
"""


def conf(base: str = INTERNET, **values: str) -> str:
    """`base` with some settings replaced (value written as is, quotes included) or added."""
    lines = base.splitlines()
    for name, value in values.items():
        for i, line in enumerate(lines):
            if line.startswith(name + "="):
                lines[i] = f"{name}={value}"
                break
        else:
            lines.append(f"{name}={value}")
    return "\n".join(lines) + "\n"


@dataclass
class Variant:
    name: str
    conf: str
    files: dict[str, str | None] = field(default_factory=dict)  # snapshot path -> text (None: remove)
    mailname: str | None = "mail.example.org\n"
    hostname: str | None = None  # the facts' hostname, and what `hostname --fqdn` prints
    bash: bool = False  # also compare with the script run by bash (as some run it; bash's echo keeps backslashes)
    fails: bool = False  # the script stops without writing


SPLIT = conf(dc_use_split_config="'true'")
VARIANTS = [
    Variant("internet", INTERNET, bash=True),
    Variant("internet-split", SPLIT, bash=True),
    Variant("smarthost", conf(dc_eximconfig_configtype="'smarthost'", dc_smarthost="'smtp.example.net::587'",
                              dc_readhost="'example.org'", dc_hide_mailname="'true'",
                              dc_local_interfaces="'127.0.0.1 ; ::1'")),
    Variant("smarthost-split-semicolons", conf(SPLIT, dc_eximconfig_configtype="'smarthost'",
                                               dc_smarthost="'Relay1.example.net::25 ; relay2.example.net'")),
    Variant("satellite", conf(dc_eximconfig_configtype="'satellite'", dc_readhost="'example.org'",
                              dc_hide_mailname="'false'", dc_smarthost="'smtp.example.net'")),
    Variant("local", conf(dc_eximconfig_configtype="'local'", dc_local_interfaces="'127.0.0.1 ; ::1'")),
    Variant("none", conf(dc_eximconfig_configtype="'none'")),
    Variant("none-split", conf(SPLIT, dc_eximconfig_configtype="'none'"), bash=True),
    Variant("configtype-capitals", conf(dc_eximconfig_configtype="' Internet '", hide_mailname="yes")),
    Variant("other-hostnames", conf(dc_other_hostnames="'Example.ORG; mail.example.org : other.example;'")),
    Variant("other-hostnames-star", conf(dc_other_hostnames="'*'")),
    Variant("relay-nets-10", conf(dc_relay_nets="'10.0.0.0/8'")),
    Variant("relay-nets-open", conf(dc_relay_nets="'0.0.0.0/0'")),
    Variant("relay-nets-semicolon", conf(dc_relay_nets="'192.0.2.0/24 ; 2001:db8::/32'"), bash=True),
    Variant("relay-nets-star", conf(dc_relay_nets="'*'")),
    Variant("relay-nets-own-separator", conf(dc_relay_nets="'<, 10.0.0.0/8, 192.0.2.0/24'")),
    Variant("relay-nets-lt-semicolon", conf(dc_relay_nets="'<;10.0.0.0/8;2001:db8::/32'")),
    Variant("relay-domains-star", conf(dc_relay_domains="'*'")),
    Variant("relay-domains-semicolon", conf(SPLIT, dc_relay_domains="'a.example;b.example'")),
    Variant("local-interfaces", conf(dc_local_interfaces="'192.0.2.1 ; 2001:db8::1'")),
    Variant("local-interfaces-blank", conf(dc_local_interfaces="'   '")),
    Variant("minimaldns", conf(dc_minimaldns="'true'"), hostname="Mail.Example.org"),
    Variant("minimaldns-short-name", conf(SPLIT, dc_minimaldns="'true'"), hostname="mail"),
    Variant("minimaldns-True", conf(dc_minimaldns="'True'"), hostname="mail.example.org"),
    Variant("localmacros", INTERNET, files={"etc/exim4/exim4.conf.localmacros":
                                            "# local\nMAIN_TLS_ENABLE = yes\nMAIN_RELAY_NETS = 10.9.0.0/16\n"}),
    Variant("localmacros-no-newline", INTERNET, files={"etc/exim4/exim4.conf.localmacros": "MAIN_X = 1"}),
    Variant("localmacros-split", SPLIT, files={"etc/exim4/exim4.conf.localmacros": "MAIN_TLS_ENABLE = yes\n"}),
    Variant("conf.d-names", SPLIT, files={
        "etc/exim4/conf.d/auth/30_my.conf": "plain_server:\n  driver = plaintext\n",
        "etc/exim4/conf.d/auth/20_mine": "# mine\n\n\n\nlogin_server:\n  driver = plaintext",
        "etc/exim4/conf.d/main/match": "MATCH_FILE = 1\n",
        "etc/exim4/conf.d/main/index": "INDEX_FILE = 1\n",
        "etc/exim4/conf.d/main/with space": "SPACE_FILE = 1\n",
        "etc/exim4/conf.d/main/space": "SPACE_WORD = 1\n",
        "etc/exim4/conf.d/main/00_Upper-case": "UPPER = 1\n",
        "etc/exim4/conf.d/router/150_exim4-config_hubbed_hosts.rul": "# replaced\nhubbed_hosts:\n  driver = redirect\n",
        "etc/exim4/conf.d/router/990_orphan.rul": "orphan:\n  driver = redirect\n",
        "etc/exim4/conf.d/retry/subdir/x": "not read\n",
        "etc/exim4/conf.d/rewrite/.hidden": "not read\n",
        "etc/exim4/conf.d/acl/10_exim4-config_dpkg.dpkg-dist": "not read\n",
    }),
    Variant("conf.d-body", SPLIT, files={  # comments with blanks before them, runs of empty lines, a CR
        "etc/exim4/conf.d/main/05_mine": "  # indented comment\n\n\n  \n\n\nUPEX4CmacrosUPEX4C = 1\na\rb\n\n",
        "etc/exim4/conf.d/acl/05_mine": "\tx = 1\n# c\n\n#\n\n\ty = 2"}),
    Variant("conf.d-missing-section", SPLIT, files={"etc/exim4/conf.d/retry/00_exim4-config_header": None,
                                                   "etc/exim4/conf.d/retry/30_exim4-config": None}),
    Variant("mailname-absent", INTERNET, mailname=None),
    Variant("mailname-messy", INTERNET, mailname="  (Mail) Example.ORG second words\nignored.example\n"),
    Variant("mailname-empty", SPLIT, mailname=""),
    Variant("keepcomments", conf(ue4c_keepcomments="'true'")),
    Variant("keepcomments-split", conf(SPLIT, ue4c_keepcomments="'yes'")),
    Variant("keepcomments-false", conf(SPLIT, ue4c_keepcomments="'false'")),
    Variant("capital-lines", conf(MAIN_TLS_ENABLE="'true'", Main_Other="1", MAIN_LIST="'a:b;c'")),
    Variant("quoting", INTERNET + 'dc_relay_nets="10.1.0.0/16 ; 10.2.0.0/16"  # trailing comment\n'
            + "dc_other_hostnames=one.example\\;two.example\ndc_relay_domains='relay.example'; "
            + "dc_readhost=\"$dc_relay_domains\"\ndc_smarthost='multi\nline.example'\n"),
    Variant("sanitiser", conf(dc_other_hostnames="'a+b.example:x]y.example:ümlaut.example:é]'",
                              dc_relay_domains="'a&b.example'")),
    Variant("backslashes", conf(dc_relay_domains="'a\\\\tb'", dc_other_hostnames="'x\\\\cy'")),
    Variant("exim4.conf-present", INTERNET, files={"etc/exim4/exim4.conf": "# hand written\n"}),
    Variant("no-macro-mark", SPLIT, files={"etc/exim4/conf.d/main/01_exim4-config_listmacrosdefs":
                                           "exim_path = /usr/sbin/exim4\nmain_x = 1\n"}),
    Variant("two-macro-marks", INTERNET, files={"etc/exim4/exim4.conf.localmacros": "UPEX4CmacrosUPEX4C = 1\n"}),
    Variant("defaults-only", "dc_eximconfig_configtype=internet\n"),
    Variant("fails-split-yes", conf(dc_use_split_config="'yes'"), fails=True),
    Variant("fails-command", INTERNET + "MAIN_TLS_ENABLE = true\n", fails=True),
    Variant("fails-pipe", conf(dc_relay_domains="'a|b'"), fails=True),
    Variant("fails-no-template", INTERNET, files={"etc/exim4/exim4.conf.template": None}, fails=True),
    Variant("fails-no-conf.d", SPLIT, files={"etc/exim4/conf.d": None}, fails=True),
]


def build_snapshot(root: Path, variant: Variant) -> Path:
    shutil.copytree(EXIM_ROOT / "etc" / "exim4", root / "etc" / "exim4")
    (root / UE4CC).write_text(variant.conf)
    if variant.mailname is not None:
        (root / "etc" / "mailname").write_text(variant.mailname)
    for path, text in variant.files.items():
        target = root / path
        if text is None:
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    if variant.hostname is not None:
        (root / ".mailcfg-host").mkdir()
        (root / ".mailcfg-host" / "facts.json").write_text(json.dumps({"hostname": variant.hostname}))
    return root


# Inside the namespace: the snapshot's etc over /etc (its exim4 opaque, so a host /etc/exim4 does not
# show through; the mask layer's whiteout hides a host /etc/mailname), the package over /usr/sbin.
NAMESPACE = """\
mount -t overlay mailcfg-etc -o "lowerdir=$1/etc:$2:/etc" /etc
mount -t overlay mailcfg-sbin -o "lowerdir=$3/usr/sbin:/usr/sbin" /usr/sbin
shift 3
exec "$@"
"""


def prepare(root: Path, work: Path, variant: Variant) -> dict[str, str]:
    """The overlay's mask layer and the fake `hostname` for a variant; the environment to run the script in."""
    mask = work / "mask"
    mask.mkdir()
    os.mknod(mask / "mailname", 0o600 | 0o020000, os.makedev(0, 0))  # overlayfs whiteout
    os.setxattr(root / "etc" / "exim4", "trusted.overlay.opaque", b"y")
    env = dict(os.environ)
    if variant.hostname is not None:
        bindir = work / "bin"
        bindir.mkdir()
        (bindir / "hostname").write_text(f"#!/bin/sh\necho '{variant.hostname}'\n")
        (bindir / "hostname").chmod(0o755)
        env["PATH"] = f"{bindir}:{env['PATH']}"
    return env


def run_real(root: Path, work: Path, env: dict[str, str], shell: str) -> tuple[str | None, str]:
    """The real script's output for the snapshot at `root` (None when it fails), and its stderr."""
    out = work / f"out-{shell}"
    command = ["/usr/sbin/update-exim4.conf"] if shell == "sh" else ["bash", "/usr/sbin/update-exim4.conf"]
    # cwd: a redirection in a settings file creates its file there
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", NAMESPACE, "sh",
                           str(root), str(work / "mask"), str(EXIM_ROOT), *command, "-d", "/etc/exim4",
                           "-o", str(out)], capture_output=True, text=True, env=env, cwd=work, check=False, timeout=60)
    if "mount:" in proc.stderr or "unshare:" in proc.stderr:
        pytest.fail(f"cannot set up the namespace for update-exim4.conf: {proc.stderr}")
    return (read(out) if proc.returncode == 0 else None), proc.stderr


def read(path: Path) -> str:
    """A file's text as is (Path.read_text would turn a \r into a line break)."""
    return path.read_bytes().decode("utf-8", "surrogateescape")


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, tuple[Path, dict[str, tuple[str | None, str]]]]:
    """variant name -> (snapshot dir, {shell: (real output or None, stderr)}), all run at once."""
    # Not skipped when something is missing: scripts/setup.sh provides all of it, as root.
    if not SCRIPT.is_file():
        pytest.fail(f"{SCRIPT} is missing: scripts/setup.sh unpacks Debian's exim4 packages into .exim/root")
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.fail("the update-exim4.conf differential needs root and unshare (mount namespaces and overlays)")
    if subprocess.run(["getent", "group", "Debian-exim"], capture_output=True, check=False).returncode:
        pytest.fail("group Debian-exim is missing (update-exim4.conf chowns its output to it); run scripts/setup.sh")
    jobs = []
    for variant in VARIANTS:
        work = tmp_path_factory.mktemp(variant.name.replace(".", "_"))
        root = build_snapshot(work / "snap", variant)
        env = prepare(root, work, variant)
        jobs += [(variant, root, work, env, shell) for shell in (("sh", "bash") if variant.bash else ("sh",))]
    with ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1)) as pool:
        results = list(pool.map(lambda job: run_real(*job[1:]), jobs))
    out: dict[str, tuple[Path, dict[str, tuple[str | None, str]]]] = {}
    for (variant, root, _, _, shell), result in zip(jobs, results, strict=True):
        out.setdefault(variant.name, (root, {}))[1][shell] = result
    return out


def physical(text: str) -> list[str]:
    lines = text.split("\n")
    return lines[:-1] if text.endswith("\n") else lines


def ours(root: Path) -> DebianConfig:
    cfg = debian_config(load_local(str(root)))
    assert cfg is not None
    return cfg


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_same_lines_as_update_exim4_conf(generated, variant: Variant):
    root, real = generated[variant.name]
    cfg = ours(root)
    for shell, (text, stderr) in real.items():
        if variant.fails:
            assert text is None, f"{shell}: the script was expected to fail"
            assert cfg.error and cfg.lines == [], cfg.notes
            continue
        assert text is not None, f"{shell}: update-exim4.conf failed: {stderr}"
        assert cfg.error is None, cfg.error
        mine = [line.text for line in cfg.lines]
        theirs = physical(text)
        if mine != theirs:
            diff = "\n".join(difflib.unified_diff(theirs, mine, "update-exim4.conf", "mailcfg", lineterm="", n=2))
            pytest.fail(f"{shell}: generated config differs:\n{diff[:6000]}")


@pytest.mark.parametrize("variant", [v for v in VARIANTS if not v.fails], ids=lambda v: v.name)
def test_origins(generated, variant: Variant):
    root, _ = generated[variant.name]
    cfg = ours(root)
    files = {}
    for line in cfg.lines:
        file, number = line.origin.file, line.origin.line
        assert number >= 1
        if file not in files:
            files[file] = physical(read(root / file))
        if file.startswith("etc/exim4/conf.d/") or file.endswith(("template", "localmacros")):
            # a line of that file (or one that starts with it and ran into the next), a blank line
            # ending the file, or a banner naming the file
            source = files[file][number - 1]
            assert line.text.startswith(source) or line.text == "" or line.text.startswith("#"), (line, source)
    relay = next((line for line in cfg.lines if line.text.startswith("MAIN_RELAY_NETS=")), None)
    if relay is not None:
        setting = cfg.settings.get("dc_relay_nets")
        assert relay.origin == (setting.origin if setting else Origin(UE4CC, 1))
        assert cfg.macros["MAIN_RELAY_NETS"] == relay.origin
        assert cfg.setting_for("MAIN_RELAY_NETS") == setting
        for text in (".ifndef MAIN_RELAY_NETS", ".endif"):
            index = cfg.lines.index(relay) + (-1 if text.startswith(".ifndef") else 1)
            assert cfg.lines[index].text == text and cfg.lines[index].origin == relay.origin
    assert cfg.sources[0] == UE4CC


def test_relay_nets_origin_is_the_setting_line(generated):
    cfg = ours(generated["relay-nets-10"][0])
    relay = next(line for line in cfg.lines if line.text.startswith("MAIN_RELAY_NETS="))
    assert relay.text == "MAIN_RELAY_NETS=10.0.0.0/8 : 127.0.0.1 : ::::1"
    assert relay.origin == Origin(UE4CC, INTERNET.splitlines().index("dc_relay_nets=''") + 1)
    assert cfg.settings["dc_relay_nets"].value == "10.0.0.0/8"
    semi = ours(generated["relay-nets-semicolon"][0])
    assert "MAIN_RELAY_NETS=<; 192.0.2.0/24 ; 2001:db8::/32 ; 127.0.0.1 ; ::1" in [line.text for line in semi.lines]
    mailname = next(line for line in cfg.lines if line.text.startswith("ETC_MAILNAME="))
    assert mailname.text == "ETC_MAILNAME=mail.example.org" and mailname.origin == Origin("etc/mailname", 1)


def test_template_lines_keep_their_origin(generated):
    cfg = ours(generated["internet"][0])
    assert not cfg.split and cfg.active
    line = next(line for line in cfg.lines if line.text == "hostlist relay_from_hosts = MAIN_RELAY_NETS")
    template = (generated["internet"][0] / "etc/exim4/exim4.conf.template").read_text().split("\n")
    assert line.origin.file == "etc/exim4/exim4.conf.template"
    assert template[line.origin.line - 1] == line.text
    mark = next(line for line in cfg.lines if line.text.startswith("UPEX4CmacrosUPEX4C"))
    assert template[mark.origin.line - 1] == mark.text and mark.origin.file == line.origin.file
    split = ours(generated["internet-split"][0])
    line = next(line for line in split.lines if line.text == "hostlist relay_from_hosts = MAIN_RELAY_NETS")
    assert line.origin.file == "etc/exim4/conf.d/main/01_exim4-config_listmacrosdefs"
    assert split.split and "etc/exim4/conf.d/main/01_exim4-config_listmacrosdefs" in split.sources


def test_notes(generated):
    def notes(name: str) -> str:
        return "\n".join(ours(generated[name][0]).notes)

    names = notes("conf.d-names")
    assert ("etc/exim4/conf.d/auth/30_my.conf ignored: update-exim4.conf only reads names made of letters, "
            "digits, _ and -") in names
    assert "etc/exim4/conf.d/main/match ignored" in names and "conf.d/main/index" not in names
    assert "etc/exim4/conf.d/router/990_orphan.rul ignored" in names
    assert "150_exim4-config_hubbed_hosts.rul is used instead of" in names
    assert "with space ignored" in names
    cfg = ours(generated["exim4.conf-present"][0])
    assert not cfg.active and "exim4.conf exists, so update-exim4.conf does nothing" in "\n".join(cfg.notes)
    assert "no /etc/mailname in the snapshot" in notes("mailname-absent")
    assert "etc/exim4/exim4.conf.localmacros is ignored with the split config" in notes("localmacros-split")
    assert "etc/exim4/exim4.conf.localmacros:3: defines MAIN_RELAY_NETS before" in notes("localmacros")
    assert "no line starts with UPEX4CmacrosUPEX4C" in notes("no-macro-mark")
    assert "has no dot" in notes("minimaldns-short-name")
    assert "only acts on exactly 'true'" in notes("minimaldns-True")
    assert "appends ' : 127.0.0.1 : ::::1' with colons" in notes("relay-nets-own-separator")
    assert "removes comments only when it is 'no'" in notes("keepcomments-false")
    assert "also writes it as an Exim macro: MAIN_TLS_ENABLE='true'" in notes("capital-lines")
    assert "ETC_MAILNAME (qualify_domain) is '(mail'" in notes("mailname-messy")
    assert "copies the files unchanged" in notes("none")
    fails = ours(generated["fails-command"][0])
    assert "`MAIN_TLS_ENABLE` runs as a command" in (fails.error or "")


def test_minimaldns_without_known_hostname(tmp_path):
    root = build_snapshot(tmp_path / "snap", Variant("x", conf(dc_minimaldns="'true'")))
    cfg = ours(root)
    texts = [line.text for line in cfg.lines]
    assert "DC_minimaldns=1" in texts and not any(t.startswith("MAIN_HARDCODE_PRIMARY_HOSTNAME") for t in texts)
    assert any("does not tell (no hostname in its facts)" in note for note in cfg.notes)


def test_no_update_exim4_conf_conf(tmp_path):
    (tmp_path / "etc" / "exim4").mkdir(parents=True)
    assert debian_config(load_local(str(tmp_path))) is None


def test_parse_settings_like_the_shell():
    text = ("# comment\ndc_a='one two'  # after\ndc_b=\"x $dc_a\"\ndc_c=plain\ndc_c=again\n"
            "dc_d='multi\nline'\nexport dc_e=1; dc_f=\\$lit\ndc_g=\n")
    settings, notes, error = parse_settings(text, UE4CC)
    assert error is None and notes == []
    assert {name: s.value for name, s in settings.items()} == {
        "dc_a": "one two", "dc_b": "x one two", "dc_c": "again", "dc_d": "multi\nline", "dc_e": "1",
        "dc_f": "$lit", "dc_g": ""}
    assert settings["dc_c"].origin == Origin(UE4CC, 5)
    assert settings["dc_e"].origin == Origin(UE4CC, 8) and settings["dc_g"].origin == Origin(UE4CC, 9)
    _, _, error = parse_settings("MAIN_X = 1\n", UE4CC)
    assert error and "MAIN_X" in error


def test_setting_macro_mapping():
    assert macros_for_setting("dc_relay_nets") == ("MAIN_RELAY_NETS",)
    assert setting_for_macro("MAIN_RELAY_NETS") == "dc_relay_nets"
    assert setting_for_macro("MAIN_LOCAL_DOMAINS") == "dc_other_hostnames"
    assert setting_for_macro("DCconfig_internet") == "dc_eximconfig_configtype"
    assert setting_for_macro("MAIN_TLS_ENABLE") is None and macros_for_setting("dc_use_split_config") == ()
    assert all(setting_for_macro(m) == name for name, ms in SETTING_MACROS.items() for m in ms)
