"""Plesk's part of a fetch: what the first step runs, and how a failed `plesk db` lands in the snapshot."""

from __future__ import annotations

import json
import subprocess

from mailcfg.lint import lint_path
from mailcfg.plesk import layout
from mailcfg.remote.collect import Collected, first_script, write_snapshot


def test_the_first_step_runs_plesk_read_only_and_never_reads_credentials():
    script = first_script()
    assert subprocess.run(["sh", "-n"], input=script, text=True, check=False).returncode == 0
    for query in (layout.SETTINGS_QUERY, layout.WHITELIST_QUERY):
        assert "plesk db -N -B -e '" + query.replace("'", "'\"'\"'") + "'" in script
    assert "plesk bin mailserver --help" in script and "run plesk-version plesk version" in script
    assert "mail_auth_view" not in script
    assert "for m in " + " ".join(layout.MAPS) + "; do" in script and "passwd" not in " ".join(layout.MAPS)
    # nothing but SELECT goes to plesk db
    assert all(part.lstrip(" '").upper().startswith("SELECT") for part in script.split("plesk db -N -B -e")[1:])


def test_a_failed_plesk_db_leaves_its_file_out_and_is_reported(tmp_path):
    collected = Collected(
        files={"/etc/psa/psa.conf": b"PRODUCT_ROOT_D /opt/psa\n",
               "/etc/postfix/main.cf": b"smtpd_sasl_auth_enable = yes\n"},
        commands={"plesk-version": (0, b"Product version: Plesk Obsidian 18.0.61.5\nBuild date: 2024/05/14\n"),
                  "plesk-mail-settings.tsv": (1, b"ERROR 2002 (HY000): Can't connect to local MySQL server\n"),
                  "plesk-whitelist.tsv": (0, b"127.0.0.1\t8\n"),
                  "plesk-mta": (0, b"postfix\n")})
    root = tmp_path / "snap"
    facts = write_snapshot(collected, root)
    assert facts["systems"]["plesk"] == {"version": "18.0.61.5"}
    assert {"path": layout.SETTINGS, "reason": "command-failed"} in facts["unreadable"]
    assert not (root / layout.SETTINGS).exists()
    assert (root / layout.WHITELIST).read_text() == "127.0.0.1\t8\n"
    assert json.loads((root / ".mailcfg-host/facts.json").read_text())["unreadable"] == facts["unreadable"]
    result = lint_path(str(root))
    assert result.status == "ok", result.error
    undecided = [f for f in result.findings if f.rule == "plesk-undecided"]
    assert len(undecided) == 1 and "command-failed" in undecided[0].message
    assert not any(f.rule in ("plesk-relay-open", "plesk-smtp-auth-disabled", "plesk-submission-disabled",
                              "plesk-pop-before-smtp") for f in result.findings)
