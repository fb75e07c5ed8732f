# Copyright: mailcfg developers. MIT License (see the repository's pyproject.toml).

from __future__ import annotations

DOCUMENTATION = r"""
name: mailcfg_report
type: aggregate
short_description: Write one mailcfg report (SARIF, JUnit, JSON, ...) for all the lint tasks of a run
description:
  - Gathers the results of every M(mailcfg.mailcfg.lint) task of the run, of every host (a host that could
    not be reached or read is reported as such, never left out) and, when the run ends, writes them as one
    report with mailcfg's own reporters, for code scanning (SARIF), test dashboards (JUnit) or scripts (JSON).
  - An aggregate callback, so it works beside whatever stdout callback runs (including AWX's); it must be
    enabled (C(callbacks_enabled)).
  - A host linted by several tasks appears once per task, named after the host and the task.
version_added: 0.1.0
author:
  - mailcfg developers (@mailcfg)
requirements:
  - mailcfg (the Python package of the same version as this collection) on the controller
  - enable in configuration
options:
  output:
    description:
      - The report file to write (replaced atomically at the end of the run).
      - Environment variables in it are expanded, e.g. C(/reports/mailcfg-$JOB_ID.json) for one file per AWX job.
    type: path
    default: mailcfg-report.json
    env:
      - name: MAILCFG_REPORT_FILE
    ini:
      - section: mailcfg_report
        key: output
  format:
    description: The report's format, one of mailcfg's (C(json), C(sarif), C(junit), C(codeclimate), ...).
    type: str
    default: json
    env:
      - name: MAILCFG_REPORT_FORMAT
    ini:
      - section: mailcfg_report
        key: format
"""

# Ansible's documentation tools want DOCUMENTATION before any import.
import os  # noqa: E402

from ansible.errors import AnsibleError  # noqa: E402
from ansible.module_utils.basic import missing_required_lib  # noqa: E402
from ansible.plugins.callback import CallbackBase  # noqa: E402

try:
    from mailcfg import api
    from mailcfg.errors import MailcfgError
except ImportError:  # ansible-test's import sanity test, or a controller without mailcfg
    api = None
    MailcfgError = OSError  # never raised then: the report stops first, naming the missing library

LINT = "mailcfg.mailcfg.lint"


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "mailcfg.mailcfg.mailcfg_report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super().__init__(display=display)
        self._results = []  # (host, task name, target object)

    def _record(self, result, status=None):
        task = result._task
        if getattr(task, "resolved_action", None) != LINT and task.action != LINT:
            return
        data = result._result
        target = {
            "target": result._host.get_name(),
            "systems": list(data.get("systems") or []),
            "status": status or data.get("status") or ("error" if data.get("failed") else "ok"),
            "error": None,
            "findings": list(data.get("findings") or []),
            "assumptions": list(data.get("assumptions") or []),
        }
        if target["status"] != "ok":
            target["error"] = str(data.get("msg") or "no result")
        self._results.append((target["target"], task.get_name(), target))

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result)

    def v2_runner_on_unreachable(self, result):
        self._record(result, status="unreachable")

    def v2_playbook_on_stats(self, stats):
        if api is None:
            raise AnsibleError(missing_required_lib("mailcfg", reason="by the mailcfg_report callback"))
        per_host = {}
        for host, _dummy, _dummy in self._results:
            per_host[host] = per_host.get(host, 0) + 1
        targets = []
        for host, task, target in self._results:
            if per_host[host] > 1:
                target = dict(target, target=f"{host}: {task}")
            targets.append(target)
        text = api.render(targets, self.get_option("format"))
        path = os.path.abspath(self.get_option("output"))
        try:
            api.write_report(path, text)  # as -o writes: atomically, and never over /dev/stdout or a FIFO
        except MailcfgError as exc:
            raise AnsibleError(f"mailcfg_report: {exc}") from None
        self._display.display(f"mailcfg: report of {len(targets)} lint result(s) written to {path}")
