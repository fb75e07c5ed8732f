"""`mailcfg fix`: edits that keep the file's style, idempotent fixes, diff/patch/write, and the
real `postconf` and `patch` on the results."""

from __future__ import annotations

import difflib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS, EXAMPLES, make_snapshot
from mailcfg.edits import Edit, apply
from mailcfg.fixer import fix_target
from mailcfg.lint import lint_path
from mailcfg.postfix.edit import main_line
from mailcfg.postfix.maincf import parse_main_cf
from mailcfg.source import SourceFile

HAVE_POSTCONF = shutil.which("postconf") is not None


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mailcfg", *args], capture_output=True, text=True, cwd=cwd,
                          check=False, env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})


def copy(example: str, tmp_path: Path) -> Path:
    dest = tmp_path / example
    shutil.copytree(EXAMPLES / example, dest)
    return dest


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- edits keep the file's style --------------------------------------------------------------------

@pytest.mark.parametrize(("text", "words", "expected"), [
    ("a = x, y\n", ["x", "z", "y"], "a = x, z, y\n"),
    ("a=x,y\n", ["x", "z"], "a=x,z\n"),
    ("a = x y\n", ["y"], "a = y\n"),
    ("a = x,\n    y\n", ["x", "z", "y"], "a = x,\n    z,\n    y\n"),
    ("a =\n\tx\n\ty\n", ["z", "x"], "a =\n\tz\n\tx\n"),
    ("a =\n", ["x"], "a = x\n"),
    ("a = x,\n# keep me\n    y\n", ["y"], "# keep me\na = y\n"),
])
def test_a_changed_value_keeps_the_layout(text, words, expected):
    source = SourceFile.from_text("main.cf", "# head\n" + text + "tail = 1\n")
    edit = main_line(parse_main_cf(source), "a", words)
    assert "".join(apply(source.lines, [edit])) == "# head\n" + expected + "tail = 1\n"


def test_only_the_last_definition_is_changed_and_a_new_one_goes_at_the_end():
    source = SourceFile.from_text("main.cf", "a = 1\nb = 2\na = 3\n")
    main = parse_main_cf(source)
    edits = [main_line(main, "a", ["4"]), main_line(main, "c", ["x", "y"])]
    assert "".join(apply(source.lines, edits)) == "a = 1\nb = 2\na = 4\nc = x, y\n"


def test_a_file_without_a_final_newline_gets_one_before_an_appended_line():
    source = SourceFile.from_text("main.cf", "a = 1")
    assert "".join(apply(source.lines, [Edit("main.cf", 2, 1, "b = 2\n")])) == "a = 1\nb = 2\n"


def test_overlapping_edits_are_refused():
    with pytest.raises(ValueError, match="overlapping"):
        apply(["a\n", "b\n"], [Edit("f", 1, 2, "x\n"), Edit("f", 2, 2, "y\n")])


# --- the fixes, on the examples ---------------------------------------------------------------------

@pytest.mark.parametrize(("example", "unsafe"), [("open-relay", True), ("broken-submission", False),
                                                ("office-relay", True)])
def test_fix_write_repairs_what_it_fixes_keeps_the_rest_and_a_second_run_changes_nothing(example, unsafe, tmp_path):
    root = copy(example, tmp_path)
    before = lint_path(str(root))
    kinds = ("safe", "unsafe") if unsafe else ("safe",)
    fixable = {f.rule for f in before.findings if f.fix in kinds}
    original = files(root)
    out = run("fix", str(root), "--write", *(["--unsafe-fixes"] if unsafe else []))
    after = lint_path(str(root))
    # as `ruff check --fix`: 1 while findings at or above the default --fail-on (warning) are left
    left = any(f.severity.value in ("error", "warning") for f in after.findings)
    assert out.returncode == int(left) and out.stdout == "", out.stderr
    assert fixable and not fixable & {f.rule for f in after.findings if f.fix in kinds}
    assert {(f.rule, f.service) for f in after.findings} <= {(f.rule, f.service) for f in before.findings}
    assert "file(s) written; then run: postfix reload" in out.stderr
    # untouched lines stay byte for byte: every line the diff removes belongs to a setting a fix named
    changed = files(root)
    for name, data in original.items():
        old, new = data.decode().splitlines(), changed[name].decode().splitlines()
        removed = [line for line in difflib.ndiff(old, new) if line.startswith("- ")]
        assert len(removed) <= 6, (name, removed)
    again = run("fix", str(root), *(["--unsafe-fixes"] if unsafe else []))
    assert again.returncode == int(left) and again.stdout == "", again.stdout
    assert files(root) == changed


def test_fix_changes_nothing_without_being_asked_and_exits_as_lint_would_after_it(tmp_path):
    root = copy("open-relay", tmp_path)
    original = files(root)
    out = run("fix", str(root), "--unsafe-fixes")
    assert out.returncode == 0 and out.stdout.startswith("--- a/etc/postfix/main.cf\n+++ b/etc/postfix/main.cf\n")
    assert "+    reject_unauth_destination,\n" in out.stdout
    assert files(root) == original
    clean = run("fix", str(EXAMPLES / "hardened-submission"))
    assert clean.returncode == 0 and clean.stdout == "" and clean.stderr == ""


def test_a_fix_that_takes_relaying_from_a_named_identity_is_unsafe_and_says_who_loses(tmp_path):
    # helo_access lets web1/web2 relay: moving it behind the relay check takes that away from them
    root = copy("open-relay", tmp_path)
    lint = run("lint", str(root))
    loss = "the fix takes relaying away from HELO web1.example.org, HELO web2.example.org (list their " \
        "addresses in mynetworks, or have them authenticate)"
    assert "[unsafe fix]" in lint.stdout and loss in lint.stdout.replace("\n", " ")
    out = run("fix", str(root))
    assert out.returncode == 1 and out.stdout == ""
    assert "not applied, unsafe (--unsafe-fixes): postfix-open-relay:" in out.stderr and loss in out.stderr
    # an access table that permits everyone names nobody: the same fix is safe there
    anyone = make_snapshot(tmp_path / "anyone", main="compatibility_level = 3.6\nsmtpd_relay_restrictions = "
                           "permit_mynetworks, check_client_access static:OK, reject_unauth_destination\n",
                           master="smtp inet n - y - - smtpd\n",
                           facts={"addresses": [{"address": "203.0.113.5", "prefix": 24}]})
    assert [f.fix for f in lint_path(str(anyone)).findings if f.rule == "postfix-open-relay"] == ["safe"]


@pytest.mark.parametrize("example", ["open-relay", "broken-submission", "office-relay"])
def test_exit_codes_agree_across_diff_patch_and_write(example, tmp_path):
    codes = {}
    for mode in ("--diff", "--patch", "--write"):
        root = copy(example, tmp_path / mode)
        extra = [str(tmp_path / "fix.patch")] if mode == "--patch" else []
        codes[mode] = run("fix", str(root), mode, *extra, "--unsafe-fixes").returncode
    after = lint_path(str(tmp_path / "--write" / example))
    left = any(f.severity.value in ("error", "warning") for f in after.findings)
    assert set(codes.values()) == {int(left)}, codes
    errors_only = run("fix", str(tmp_path / "--write" / example), "--fail-on", "error").returncode
    assert errors_only == int(any(f.severity.value == "error" for f in after.findings))


def test_patch_applies_with_patch_p1_and_equals_write(tmp_path):
    a, b = copy("broken-submission", tmp_path / "a"), copy("broken-submission", tmp_path / "b")
    patch_file = tmp_path / "fix.patch"
    out = run("fix", str(a), "--patch", str(patch_file), "--unsafe-fixes")
    assert out.returncode == 1 and out.stdout == ""  # findings no fix can repair are left
    assert files(a) == files(EXAMPLES / "broken-submission")  # --patch alone writes only the patch
    applied = subprocess.run(["patch", "-p1", "--forward", "-i", str(patch_file)], cwd=a, capture_output=True,
                             text=True, check=False)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert run("fix", str(b), "--write", "--unsafe-fixes").returncode == 1
    assert files(a) == files(b) != files(EXAMPLES / "broken-submission")


def test_unsafe_fixes_and_rule_selection(tmp_path):
    root = copy("office-relay", tmp_path)
    out = run("fix", str(root), "--rule", "postfix-mynetworks-too-wide")
    assert out.returncode == 1 and out.stdout == ""  # nothing fixed: the findings are left
    assert "not applied, unsafe (--unsafe-fixes): postfix-mynetworks-too-wide" in out.stderr
    out = run("fix", str(root), "--rule", "postfix-mynetworks-too-wide", "--unsafe-fixes")
    assert out.returncode == 1
    assert "-mynetworks = 127.0.0.0/8, 198.51.0.0/16,\n-    2001:db8::/32\n+mynetworks = 127.0.0.0/8\n" in out.stdout
    assert "-    permit_mx_backup" not in out.stdout  # only the rule asked for
    bad = run("fix", str(root), "--rule", "postfix-nonsense")
    assert bad.returncode == 2 and "unknown rule" in bad.stderr and len(bad.stderr.splitlines()) == 1


def test_a_single_main_cf_is_fixed_in_place(tmp_path):
    main = tmp_path / "main.cf"
    main.write_text("compatibility_level = 3.6\nsoft_bounce = yes\n")
    out = run("fix", str(main), "--write", "--unsafe-fixes")
    assert out.returncode == 0, out.stderr
    assert main.read_text() == "compatibility_level = 3.6\nsoft_bounce = no\n"


def test_master_cf_overrides_are_rewritten_in_place_and_added_under_their_service(tmp_path):
    root = make_snapshot(tmp_path / "s", main="compatibility_level = 3.6\nsmtpd_sasl_type = dovecot\n"
                         "smtpd_tls_chain_files = /etc/ssl/mx.pem\n",
                         master="smtp inet n - y - - smtpd\n"
                                "submission inet n - y - - smtpd -o smtpd_sasl_auth_enable=no\n"
                                "    -o smtpd_tls_security_level=encrypt\n"
                                "pickup unix n - y 60 1 pickup\n",
                         files={"/etc/ssl/mx.pem": "x\n"})
    out = run("fix", str(root), "--write", "--rule", "postfix-submission-no-auth")
    assert out.returncode == 0, out.stderr
    assert (root / "etc/postfix/master.cf").read_text() == (
        "smtp inet n - y - - smtpd\n"
        "submission inet n - y - - smtpd -o smtpd_sasl_auth_enable=yes\n"
        "    -o smtpd_tls_security_level=encrypt\n"
        "pickup unix n - y 60 1 pickup\n")


def test_a_list_held_by_a_reference_is_edited_where_it_is_set(tmp_path):
    root = make_snapshot(tmp_path / "s", main="compatibility_level = 3.6\nmyhostname = mx.example.org\n"
                         "inet_interfaces = all\nmynetworks = 127.0.0.0/8\n"
                         "public_relay = permit_mynetworks, permit, reject_unauth_destination\n",
                         master="smtp inet n - y - - smtpd\n  -o smtpd_relay_restrictions=$public_relay\n",
                         facts={"addresses": [{"address": "192.0.2.1", "prefix": 24}]})
    out = run("fix", str(root), "--write")
    assert out.returncode == 0, out.stderr
    assert "public_relay = permit_mynetworks, reject_unauth_destination, permit\n" in \
        (root / "etc/postfix/main.cf").read_text()
    assert "-o smtpd_relay_restrictions=$public_relay\n" in (root / "etc/postfix/master.cf").read_text()


def test_the_submission_role_adds_submission_services_from_the_template(tmp_path):
    root = make_snapshot(tmp_path / "s", main="compatibility_level = 3.6\nsmtpd_tls_chain_files = /etc/ssl/mx.pem\n",
                         master="smtp inet n - y - - smtpd\npickup unix n - y 60 1 pickup\n",
                         facts={"roles": ["mx", "submission"]},
                         files={"/etc/ssl/mx.pem": "x\n", "/etc/dovecot/dovecot.conf": "protocols = imap\n"})
    assert run("fix", str(root), "--write").returncode == 0
    master = (root / "etc/postfix/master.cf").read_text()
    assert master.startswith("smtp inet n - y - - smtpd\npickup unix n - y 60 1 pickup\nsubmission inet  n")
    assert "  -o smtpd_sasl_type=dovecot\n  -o smtpd_sasl_path=private/auth\n" in master
    assert master.count("-o smtpd_sasl_auth_enable=yes") == 2 and "submissions inet" in master
    assert {f.rule for f in lint_path(str(root)).findings} == set()


# --- every corpus configuration: fixes never add a finding, never repeat, and Postfix accepts them ---

def corpus_hosts() -> list[Path]:
    return sorted(p for p in (CORPUS / "postfix").iterdir() if p.is_dir())


@pytest.mark.parametrize("host", corpus_hosts(), ids=lambda p: p.name)
def test_corpus_fixes_are_idempotent_and_postconf_accepts_them(host, tmp_path):
    for side in ("orig", "fixed"):
        conf = tmp_path / side / "etc" / "postfix"
        conf.mkdir(parents=True)
        for f in host.iterdir():
            shutil.copy(f, conf / ("master.cf" if "master.cf" in f.name else "main.cf"))
    fixed = tmp_path / "fixed"
    first = fix_target(str(fixed), unsafe=True)
    assert first.introduced == [], [(f.rule, f.message) for f in first.introduced]
    for change in first.changes:
        (fixed / change.path).write_text(change.after)
    second = fix_target(str(fixed), unsafe=True)
    assert second.changes == [] and second.applied == []
    if HAVE_POSTCONF and first.changes and (fixed / "etc/postfix/main.cf").exists():
        before, after = ((subprocess.run(["postconf", "-c", str(tmp_path / side / "etc/postfix"), "-n"],
                                         capture_output=True, text=True, check=False), side)
                         for side in ("orig", "fixed"))

        def warnings(out: tuple[subprocess.CompletedProcess, str]) -> set[str]:
            return set(out[0].stderr.replace(str(tmp_path / out[1]), "DIR").splitlines())

        assert after[0].returncode == before[0].returncode
        new_warnings = warnings(after) - warnings(before)
        assert not new_warnings, new_warnings


def test_exim_relay_fix_that_takes_relaying_from_a_named_sender_is_unsafe_and_says_so(lint):
    from test_rules_exim import GOOD

    def relay_findings(config: str) -> list:
        return [f for f in lint(files={"/etc/exim4/exim4.conf": config}) if f.rule == "exim-open-relay"]

    # `accept senders = *@example.org` before the relay check: the reason it exists is that sender
    forged = relay_findings(GOOD.replace("  accept  hosts = :\n", "  accept  senders = *@example.org\n"))
    assert forged and {f.fix for f in forged} == {"unsafe"}
    assert all("the fix takes relaying away from sender <someone@example.org> (list their addresses in "
               "relay_from_hosts, or have them authenticate)" in f.message for f in forged)
    # anyone can start TLS, and the statement names nobody: the same fix is safe
    tls = relay_findings(GOOD.replace("  accept  hosts = :\n", "  accept  encrypted = *\n"))
    assert tls and {f.fix for f in tls} == {"safe"} and not any("takes relaying" in f.message for f in tls)
