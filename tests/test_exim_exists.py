"""`${if exists{...}}` asks the snapshot whether a host path is there: a name missing from its directory's
listing is answered without looking the path up, and every answer, and every path reported as refused, is
the one the look-ups give."""

from __future__ import annotations

import json
import os
from pathlib import Path

from mailcfg.exim.config import load_exim
from mailcfg.snapshot import load_local

PATHS = ["/etc/exim4/present", "/etc/exim4/conf.d", "/etc/exim4/absent", "/etc/exim4/.", "/etc/exim4/..",
         "/etc/exim4/", "/etc/exim4/inside", "/etc/exim4/outside", "/etc/exim4/dangling", "/etc/exim4/conf.d/x",
         "/etc/nowhere/x", "/etc/exim4/absent/x", "/x", "/etc/exim4/../exim4/present", "/etc/exim4/away/file",
         "/etc/exim4/away/absent"]


def _snapshot(tmp_path: Path) -> Path:
    root = tmp_path / "snap"
    (root / "etc" / "exim4" / "conf.d").mkdir(parents=True)
    (root / "etc" / "exim4" / "exim4.conf").write_text("acl_smtp_rcpt = accept\n")
    (root / "etc" / "exim4" / "present").write_text("")
    (root / ".mailcfg-host").mkdir()
    (root / ".mailcfg-host" / "facts.json").write_text(json.dumps({"hostname": "mx.example.com"}))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("")
    (tmp_path / "away").mkdir()
    (tmp_path / "away" / "file").write_text("")
    os.symlink(tmp_path / "away", root / "etc" / "exim4" / "away")  # a directory leading outside
    os.symlink("present", root / "etc" / "exim4" / "inside")
    os.symlink(elsewhere, root / "etc" / "exim4" / "outside")
    os.symlink("gone", root / "etc" / "exim4" / "dangling")
    return root


def test_a_path_is_there_as_the_snapshot_looks_it_up(tmp_path: Path):
    root = _snapshot(tmp_path)
    for path in PATHS:
        config, plain = load_exim(load_local(str(root))), load_local(str(root))
        looked_up = plain.resolve(path) is not None or plain.resolve_dir(path) is not None
        assert config._in_snapshot(path) == looked_up, path
        assert sorted(config.snapshot.refused) == sorted(plain.refused), path
    config = load_exim(load_local(str(root)))
    assert [config.exists(p) for p in ("/etc/exim4/present", "/etc/exim4/conf.d", "/etc/exim4/absent")] == \
        [True, True, False]


def test_a_file_the_snapshot_is_given_is_there(tmp_path: Path):
    """A configuration as it would be (what-if edits) has the files it is given, listed or not."""
    root = _snapshot(tmp_path)
    added = tmp_path / "added"
    added.write_text("")
    config = load_exim(load_local(str(root)).with_files({"/etc/exim4/absent": added, "/etc/exim4/present": None}))
    assert config.exists("/etc/exim4/absent") is True
    assert config.exists("/etc/exim4/present") is False
