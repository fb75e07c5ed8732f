# Copyright: mailcfg developers. MIT License (see the repository's pyproject.toml).
"""mailcfg.mailcfg.lint: lint a host's mail configuration on the controller (documentation:
plugins/modules/lint.py)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.mailcfg.mailcfg.plugins.plugin_utils import runner
from ansible_collections.mailcfg.mailcfg.plugins.plugin_utils.templates import trace

ARGS = {
    "fail_on": {"type": "str", "choices": list(runner.FAIL_ON), "default": "warning"},
    "rules": {"type": "list", "elements": "str"},
    "ignore": {"type": "list", "elements": "str"},
    "files": {"type": "dict"},
    "facts": {"type": "dict"},
    "templates": {"type": "dict"},
}


class ActionModule(ActionBase):
    # Only reads (or, with `files`, touches no host at all): the same in check mode.
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _dummy, args = self.validate_argument_spec(argument_spec=ARGS,
                                                   required_by={"templates": "files", "facts": "files"})
        warnings = result.setdefault("warnings", [])
        api = runner.require_mailcfg(warnings)
        target = (task_vars or {}).get("inventory_hostname", "files")
        try:
            if args["files"] is not None:
                rendered = self._rendered(args["files"])
                report = api.lint_files(rendered, facts=args["facts"], target=target, **runner.selection(args))
                findings, untraced = trace(list(report.findings), rendered, self._templates(args["templates"] or {}))
                warnings.extend(untraced)
                result.update(runner.outcome(report, args["fail_on"], findings))
            else:
                report = runner.collect(self).lint(target, **runner.selection(args))
                result.update(runner.outcome(report, args["fail_on"]))
        except runner.MailcfgError as exc:
            raise AnsibleActionFail(f"mailcfg: {exc}") from None
        if not warnings:
            del result["warnings"]
        return result

    @staticmethod
    def _rendered(files):
        rendered = {}
        for path, content in files.items():
            if not isinstance(content, str):
                raise AnsibleActionFail(f"files: {path}: the content must be a string (e.g. lookup('template', ...)), "
                                        f"not {type(content).__name__}")
            if not str(path).startswith("/"):
                raise AnsibleActionFail(f"files: {path}: a host path must be absolute (e.g. /etc/postfix/main.cf)")
            rendered[str(path)] = str(content)
        return rendered

    def _templates(self, templates):
        """host path -> (template path as shown in findings, template text), the templates found as
        the template lookup finds them (the role's templates/, then the playbook's)."""
        basedir = self._loader.get_basedir()
        found = {}
        for host_path, name in templates.items():
            try:
                path = self._find_needle("templates", name)
            except Exception as exc:  # AnsibleError and friends: the one-line reason is enough
                raise AnsibleActionFail(f"templates: {name}: {to_text(exc).splitlines()[0]}") from None
            real = self._loader.get_real_file(path)
            with open(real, "rb") as fh:
                text = to_text(fh.read(), errors="surrogate_or_strict")
            shown = path[len(basedir) + 1:] if path.startswith(basedir.rstrip("/") + "/") else path
            found[str(host_path)] = (shown, text)
        return found
