"""Plesk's rules on snapshots of stand-in Plesk hosts (tests/fakeplesk), each way, through the whole lint."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakeplesk.snapshots import snapshot
from mailcfg.lint import lint_path, lint_snapshot
from mailcfg.snapshot import load_local


def plesk_ids(root: Path) -> list[str]:
    result = lint_path(str(root))
    assert result.status == "ok", result.error
    return sorted(f.rule for f in result.findings if f.rule.startswith("plesk-"))


CASES = [
    ("clean", {}, [], "postfix", (), []),
    ("open", {"relay": "open"}, [], "postfix", (), ["plesk-relay-open"]),
    ("closed", {"relay": "closed"}, [], "postfix", (), ["plesk-smtp-auth-disabled"]),
    ("auth-off", {"disable_smtp_auth": "true"}, [], "postfix", (), ["plesk-smtp-auth-disabled"]),
    ("auth-off-by-1", {"disable_smtp_auth": "1"}, [], "postfix", (), ["plesk-smtp-auth-disabled"]),
    ("auth-on-by-0", {"disable_smtp_auth": "0"}, [], "postfix", (), []),
    ("pop", {"disable_pop_auth": "false", "poplock_time": "30"}, [], "postfix", (), ["plesk-pop-before-smtp"]),
    # the authorization types count only in relay mode auth
    ("pop-but-open", {"relay": "open", "disable_pop_auth": "false"}, [], "postfix", (), ["plesk-relay-open"]),
    ("submission-off", {"message_submission": "false"}, [], "postfix", (), ["plesk-submission-disabled"]),
    ("white-list-wide", {}, ["127.0.0.1/8", "203.0.113.0/24", "10.0.0.0/8"], "postfix", (),
     ["plesk-whitelist-too-wide", "plesk-whitelist-too-wide"]),
    ("white-list-narrow", {}, ["127.0.0.1/8", "192.168.10.0/24", "198.51.100.7/32"], "postfix", (), []),
    ("qmail", {}, [], "qmail", (), ["plesk-undecided"]),
    ("qmail-open", {"relay": "open"}, [], "qmail", (), ["plesk-relay-open", "plesk-undecided"]),
    ("db-failed", {"relay": "open"}, ["0.0.0.0/0"], "postfix", ("plesk-mail-settings.tsv", "plesk-whitelist.tsv"),
     ["plesk-undecided", "plesk-undecided"]),
]


@pytest.mark.parametrize(("name", "settings", "whitelist", "mta", "without", "expected"), CASES,
                         ids=[c[0] for c in CASES])
def test_plesk_rule_ids(tmp_path, name, settings, whitelist, mta, without, expected):
    root = snapshot(tmp_path / name, settings, whitelist, mta, without)
    assert plesk_ids(root) == sorted(expected)


def test_every_plesk_rule_has_cases_both_ways():
    from mailcfg.registry import all_rules

    ids = {r.id for r in all_rules() if r.system == "plesk"} - {"plesk-config-drift"}  # drift: below
    assert ids <= {i for c in CASES for i in c[5]}
    assert all(any(i not in c[5] for c in CASES) for i in ids)


def _lint(root: Path):
    result = lint_snapshot(load_local(str(root)))
    assert result.status == "ok", result.error
    return result


def test_white_list_severity_and_location(tmp_path):
    root = snapshot(tmp_path / "h", whitelist=["127.0.0.1/8", "203.0.0.0/16", "10.0.0.0/8"])
    found = [f for f in _lint(root).findings if f.rule == "plesk-whitelist-too-wide"]
    assert sorted((f.severity.value, f.location.line) for f in found) == [("error", 2), ("warning", 3)]
    assert {f.location.file for f in found} == {".mailcfg-host/cmd/plesk-whitelist.tsv"}


def test_drift_shows_both_sides(tmp_path):
    root = snapshot(tmp_path / "h")
    main = root / "etc/postfix/main.cf"
    main.write_text(main.read_text().replace("smtpd_sasl_auth_enable = yes", "smtpd_sasl_auth_enable = no"))
    drift = [f for f in _lint(root).findings if f.rule == "plesk-config-drift"]
    assert len(drift) == 1
    assert "relay mode auth with SMTP AUTH on" in drift[0].message
    assert "smtpd_sasl_auth_enable = no" in drift[0].message and "regenerates" in drift[0].message
    assert drift[0].location.file == "etc/postfix/main.cf"


def test_drift_white_list_against_mynetworks_and_submission(tmp_path):
    root = snapshot(tmp_path / "h", whitelist=["127.0.0.1/8", "192.168.1.0/24"])
    assert "plesk-config-drift" not in plesk_ids(root)  # the stand-in writes the white list into mynetworks
    main = root / "etc/postfix/main.cf"
    main.write_text(main.read_text().replace("192.168.1.0/24", "192.168.2.0/24"))
    master = root / "etc/postfix/master.cf"
    master.write_text(master.read_text().split("submission")[0])
    drift = [f.message for f in _lint(root).findings if f.rule == "plesk-config-drift"]
    assert len(drift) == 2
    mynetworks = "mynetworks = 127.0.0.0/8 192.168.2.0/24 (etc/postfix/main.cf:15)"
    assert any("192.168.1.0/24" in m and mynetworks in m for m in drift), "\n".join(drift)
    assert any("port 587" in m for m in drift)


def test_fix_commands_use_only_switches_the_host_has(tmp_path):
    root = snapshot(tmp_path / "h", {"relay": "open"})
    result = _lint(root)
    fixes = {f.rule: fix for f, fix in result.fixes}
    assert fixes["plesk-relay-open"].commands == ("plesk bin mailserver --set-relay auth -auth-type smtp",)
    assert fixes["plesk-relay-open"].restore == ("plesk bin mailserver --set-relay auth -auth-type smtp",
                                                 "plesk bin mailserver --set-relay open")
    assert fixes["plesk-relay-open"].safety == "safe"
    bare = snapshot(tmp_path / "bare", {"relay": "open"}, help_text="Usage: mailserver --set-max-letter-size\n")
    result = _lint(bare)
    finding = next(f for f in result.findings if f.rule == "plesk-relay-open")
    assert finding.fix is None and "lists no --set-relay" in finding.message


def test_pop_before_smtp_fix_is_unsafe_and_keeps_the_lock_time_on_restore(tmp_path):
    root = snapshot(tmp_path / "h", {"disable_pop_auth": "false", "poplock_time": "30"})
    fix = next(fix for f, fix in _lint(root).fixes if f.rule == "plesk-pop-before-smtp")
    assert fix.safety == "unsafe"
    assert fix.commands == ("plesk bin mailserver --set-relay auth -auth-type smtp",)
    assert fix.restore == ("plesk bin mailserver --set-relay auth -auth-type both -lock-time 30",)


def test_a_bad_settings_row_is_bad_input(tmp_path):
    root = snapshot(tmp_path / "h")
    (root / ".mailcfg-host/cmd/plesk-mail-settings.tsv").write_text("relay\tauth\nbroken\trow\there\n")
    result = lint_path(str(root))
    assert result.status == "error"
    assert result.error == ".mailcfg-host/cmd/plesk-mail-settings.tsv, line 2: expected 2 tab-separated columns, " \
        "found 3"
    (root / ".mailcfg-host/cmd/plesk-mail-settings.tsv").write_text("relay\tauth\n")
    (root / ".mailcfg-host/cmd/plesk-whitelist.tsv").write_text("10.0.0.0\t8\nfoo\t24\n")
    result = lint_path(str(root))
    assert (result.status, result.error) == ("error", ".mailcfg-host/cmd/plesk-whitelist.tsv, line 2: 'foo/24' is no "
                                                       "network")


def test_white_list_rows_in_other_shapes(tmp_path):
    """address/prefix alone, a bare address, and smtp_poplocks rows with a lock time (POP locks, skipped)."""
    root = snapshot(tmp_path / "h")
    (root / ".mailcfg-host/cmd/plesk-whitelist.tsv").write_text(
        "203.0.113.0/24\n198.51.100.9\n192.0.2.0\t24\t2026-12-02 10:00:00\n10.0.0.0\t8\tNULL\n")
    found = sorted(f.message.split(":")[0] for f in _lint(root).findings if f.rule == "plesk-whitelist-too-wide")
    assert found == ["Plesk's white list holds 10.0.0.0/8", "Plesk's white list holds 203.0.113.0/24"]


def test_a_postfix_finding_caused_by_plesk_says_so_and_offers_no_main_cf_edit(tmp_path):
    root = snapshot(tmp_path / "h", whitelist=["127.0.0.1/8", "203.0.113.0/24"])
    result = _lint(root)
    wide = next(f for f in result.findings if f.rule == "postfix-mynetworks-too-wide")
    assert "Plesk's white list holds 203.0.113.0/24 (plesk-whitelist-too-wide)" in wide.message
    assert wide.fix is None and all(f.rule != wide.rule for f, _fix in result.fixes)
    plesk_fix = next(fix for f, fix in result.fixes if f.rule == "plesk-whitelist-too-wide")
    assert plesk_fix.commands == ("plesk bin mailserver --remove-from-white-list 203.0.113.0/24",)
    assert plesk_fix.restore == ("plesk bin mailserver --add-to-white-list 203.0.113.0/24",)


def test_a_settings_file_holding_plesk_db_s_error_is_undecided_not_judged(tmp_path):
    root = snapshot(tmp_path / "h")
    error = "ERROR 1045 (28000): Access denied for user 'admin'@'localhost' (using password: YES)\n"
    for name in ("plesk-mail-settings.tsv", "plesk-whitelist.tsv"):
        (root / ".mailcfg-host/cmd" / name).write_text(error)
    result = _lint(root)
    ids = sorted(f.rule for f in result.findings if f.rule.startswith("plesk-"))
    assert ids == ["plesk-undecided", "plesk-undecided"]
    assert all("ERROR 1045" in f.message for f in result.findings if f.rule == "plesk-undecided")


def test_postfix_files_left_behind_on_a_qmail_host_are_said_not_to_serve_mail(tmp_path):
    root = snapshot(tmp_path / "h", whitelist=["127.0.0.1/8", "203.0.113.0/24"])
    (root / ".mailcfg-host/cmd/plesk-mta.txt").write_text("qmail\n")
    result = _lint(root)
    left = [f for f in result.findings if f.rule.startswith("postfix-")]
    assert left and all("Plesk runs qmail, not this Postfix" in f.message and f.fix is None for f in left)
    assert "plesk-config-drift" not in {f.rule for f in result.findings}


def test_a_mynetworks_postfix_computes_is_not_compared_with_the_white_list(tmp_path):
    root = snapshot(tmp_path / "h", whitelist=["127.0.0.1/8"])
    main = root / "etc/postfix/main.cf"
    main.write_text("".join(line for line in main.read_text().splitlines(keepends=True)
                            if not line.startswith("mynetworks")))
    assert "plesk-config-drift" not in plesk_ids(root)


def test_a_white_list_that_cannot_be_compared_with_mynetworks_is_undecided_not_passed(tmp_path):
    root = snapshot(tmp_path / "h", whitelist=["127.0.0.1/8", "192.168.1.0/24"])
    main = root / "etc/postfix/main.cf"
    text = main.read_text()
    main.write_text("".join(line for line in text.splitlines(keepends=True) if not line.startswith("mynetworks")))
    assert plesk_ids(root) == ["plesk-undecided"]
    main.write_text(text.replace("mynetworks = ", "mynetworks = hash:/etc/postfix/trusted "))
    [found] = [f for f in _lint(root).findings if f.rule == "plesk-undecided"]
    assert "hash:/etc/postfix/trusted" in found.message and found.location.file == "etc/postfix/main.cf"


def test_restore_sets_back_the_stored_authorization_types_of_an_open_relay(tmp_path):
    root = snapshot(tmp_path / "h", {"relay": "open", "disable_pop_auth": "0", "poplock_time": "15"})
    fix = next(fix for f, fix in _lint(root).fixes if f.rule == "plesk-relay-open")
    assert fix.restore == ("plesk bin mailserver --set-relay auth -auth-type both -lock-time 15",
                           "plesk bin mailserver --set-relay open")


def test_fix_patch_writes_the_plesk_script_and_changes_no_file(tmp_path):
    import shutil
    import subprocess
    import sys

    from conftest import EXAMPLES

    copy = tmp_path / "host"
    shutil.copytree(EXAMPLES / "plesk-open-relay", copy)
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    out = subprocess.run([sys.executable, "-m", "mailcfg", "fix", str(copy), "--patch", str(tmp_path / "fix.sh"),
                          "--write"], capture_output=True, text=True, check=False)
    assert (tmp_path / "fix.sh").read_text().splitlines()[1:] == [
        "plesk bin mailserver --set-relay auth -auth-type smtp", "plesk bin mailserver --set-message-submission true"]
    assert "--apply runs them there (--write changes no host)" in out.stderr
    assert {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()} == before


def test_a_plesk_host_read_without_root_is_still_plesk_and_undecided(tmp_path):
    import json

    root = snapshot(tmp_path / "h", without=("plesk-mail-settings.tsv", "plesk-whitelist.tsv", "plesk-version.txt"))
    (root / "etc/psa/psa.conf").unlink()
    (root / ".mailcfg-host/facts.json").write_text(json.dumps(
        {"unreadable": [{"path": "/etc/psa/psa.conf", "reason": "permission-denied"}]}))
    result = _lint(root)
    assert "plesk" in result.systems
    assert sorted(f.rule for f in result.findings if f.rule.startswith("plesk-")) == ["plesk-undecided"] * 2


def test_fix_runs_the_relay_mode_first_and_the_last_authorization_type_wins(tmp_path):
    from mailcfg.fixer import fix_target

    root = snapshot(tmp_path / "h", {"disable_smtp_auth": "true", "disable_pop_auth": "false", "poplock_time": "5",
                                     "message_submission": "false"})
    run = fix_target(str(root), unsafe=True)
    assert [f.rule for f in run.applied] == ["plesk-smtp-auth-disabled", "plesk-pop-before-smtp",
                                             "plesk-submission-disabled"]
    assert [c for f in run.applied for c in f.commands] == [
        "plesk bin mailserver --set-relay auth -auth-type both -lock-time 5",
        "plesk bin mailserver --set-relay auth -auth-type smtp",
        "plesk bin mailserver --set-message-submission true"]
    assert run.applied[0].safety == "safe" and run.applied[1].safety == "unsafe"
    assert not any(f.rule.startswith("plesk-") for f in run.after.findings)


def test_users_refused_because_plesk_closed_the_relay_are_put_down_to_plesk(tmp_path):
    result = _lint(snapshot(tmp_path / "h", {"relay": "closed"}))
    users = next(f for f in result.findings if f.rule == "postfix-users-cannot-relay")
    assert "Plesk does not let users relay after SMTP AUTH (plesk-smtp-auth-disabled)" in users.message
    assert users.fix is None
