# Copyright: mailcfg developers. MIT License (see the repository's pyproject.toml).
"""What the lint and fix actions share: the guarded import of mailcfg, the collection of a host's
mail configuration over Ansible's own connection, and the task result built from a mailcfg report.

Controller side only: nothing here is sent to a managed host.
"""

from __future__ import annotations

import contextlib

from ansible.errors import AnsibleActionFail
from ansible.module_utils.basic import missing_required_lib

try:
    from mailcfg import __version__ as MAILCFG_VERSION
    from mailcfg import api
    from mailcfg.errors import MailcfgError
except ImportError:  # ansible-test's import sanity test, or a controller without mailcfg
    api = None
    MAILCFG_VERSION = None
    MailcfgError = Exception

if api is not None:
    # Ansible runs each host's task in a worker forked from the process that imported this plugin:
    # what the analysis loads on first use (rule modules, the MTAs' defaults tables, templates) is
    # loaded here once and inherited, instead of again in every worker (~0.1 s of CPU per host).
    with contextlib.suppress(MailcfgError):
        api.lint_files({"/etc/postfix/main.cf": "mynetworks = 127.0.0.0/8\n", "/etc/exim4/exim4.conf": "begin acl\n"},
                       target="warm-up")

# The collection's version (galaxy.yml); requirements.txt pins mailcfg to the same.
COLLECTION_VERSION = "0.1.0"
FAIL_ON = ("error", "warning", "never")
SEVERITIES = ("error", "warning", "info")

# Every collection step is this constant command reading its script on stdin: no value from the
# host, the inventory or the task is ever placed in a remote command line.
REMOTE_COMMAND = "sh -s"


def require_mailcfg(warnings):
    """The mailcfg API, or the task fails naming the controller's Python that lacks it."""
    if api is None:
        raise AnsibleActionFail(missing_required_lib(
            f"mailcfg=={COLLECTION_VERSION}", reason="on the controller (or in the execution environment)"))
    if MAILCFG_VERSION != COLLECTION_VERSION:
        warnings.append(f"mailcfg {MAILCFG_VERSION} is installed; the collection mailcfg.mailcfg {COLLECTION_VERSION} "
                        f"expects mailcfg=={COLLECTION_VERSION}")
    return api


def collect(action):
    """The host's configuration, read through the task's connection (become honoured, no Python on
    the host): the collection scripts of mailcfg's SSH collector, each on the stdin of `sh -s`."""
    collection = api.Collection()
    script = collection.next_script()
    while script is not None:
        # surrogateescape: the framed output counts bytes, which must survive the round trip exactly
        out = action._low_level_execute_command(REMOTE_COMMAND, in_data=script, sudoable=True,
                                                encoding_errors="surrogateescape")
        stdout = out["stdout"].encode("utf-8", "surrogateescape")
        try:
            collection.feed(stdout)
        except MailcfgError as exc:
            said = " ".join(out.get("stderr", "").split())[:300] or "no error output"
            raise AnsibleActionFail(f"mailcfg: the collection script failed on the host (exit code {out.get('rc')}): "
                                    f"{exc}; {said}") from None
        # stdin is cut at the script's end, so a next step only starts once this one's output is read
        script = collection.next_script()
    return collection


def selection(args):
    """The select/ignore keyword arguments of mailcfg.api from the task's `rules` and `ignore`."""
    return {"select": args.get("rules") or None, "ignore": args.get("ignore") or None}


def stats(summary):
    """Custom stats for ansible_stats, aggregated over hosts by Ansible: flat numbers (Ansible adds
    numbers but replaces the values inside nested dicts), one key per rule that found something."""
    data = {"mailcfg_hosts": 1}
    for severity in SEVERITIES:
        data[f"mailcfg_{severity}s"] = int(summary.get(severity, 0))
    for rule, count in sorted(summary.get("rules", {}).items()):
        data["mailcfg_rule_" + rule.replace("-", "_")] = int(count)
    return {"data": data, "per_host": False, "aggregate": True}


def over_threshold(summary, fail_on):
    """How many findings are at or above `fail_on` (error, warning, never)."""
    if fail_on == "never":
        return 0
    levels = SEVERITIES[:SEVERITIES.index(fail_on) + 1]
    return sum(int(summary.get(level, 0)) for level in levels)


def outcome(report, fail_on, findings=None):
    """The task result for a report: findings, summary, status, stats; failed at `fail_on`, and
    always when the report is not "ok" (never a silent pass)."""
    summary = report.summary
    result = {
        "findings": findings if findings is not None else list(report.findings),
        "summary": summary,
        "status": report.status,
        "systems": list(report.systems),
        "assumptions": list(report.assumptions),
        "ansible_stats": stats(summary),
    }
    if report.status != "ok":
        result.update(failed=True, msg=f"mailcfg: {report.status}: {report.error}")
        return result
    over = over_threshold(summary, fail_on)
    if over:
        rules = ", ".join(f"{rule} x{n}" for rule, n in sorted(summary.get("rules", {}).items()))
        result.update(failed=True, msg=f"mailcfg: {over} finding(s) at or above {fail_on}: {rules}")
    else:
        errors, warnings, infos = (int(summary.get(s, 0)) for s in SEVERITIES)
        result["msg"] = f"mailcfg: {errors} error(s), {warnings} warning(s), {infos} info"
    return result
