# Copyright: mailcfg developers. MIT License (see the repository's pyproject.toml).
"""mailcfg.mailcfg.fix: compute mailcfg's fixes on the controller and write them through Ansible's
copy action (documentation: plugins/modules/fix.py)."""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile

from ansible import constants as C
from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.mailcfg.mailcfg.plugins.plugin_utils import runner

ARGS = {
    "rules": {"type": "list", "elements": "str"},
    "ignore": {"type": "list", "elements": "str"},
    "unsafe": {"type": "bool", "default": False},
    "backup": {"type": "bool", "default": False},
    "validate": {"type": "str"},
    "fail_on": {"type": "str", "choices": list(runner.FAIL_ON), "default": "never"},
}


def _command(command):
    """A Plesk command as one shell line: an argument list is quoted here, a string is the api's own
    (already quoted) line."""
    return command if isinstance(command, str) else shlex.join(command)


class ActionModule(ActionBase):
    # Check mode: the copy action reports what would change and writes nothing; commands are not run.
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _dummy, args = self.validate_argument_spec(argument_spec=ARGS)
        warnings = result.setdefault("warnings", [])
        api = runner.require_mailcfg(warnings)
        target = (task_vars or {}).get("inventory_hostname", "host")
        try:
            collection = runner.collect(self)
            plan = api.fixes(collection, unsafe=args["unsafe"], **runner.selection(args))
        except runner.MailcfgError as exc:
            raise AnsibleActionFail(f"mailcfg: {exc}") from None
        try:
            written = self._write(plan.files, args, task_vars)
            self._commands(plan, result)
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        left = list(plan.left)
        summary = api.summary(left)
        result.update(
            changed=written["changed"] or bool(plan.commands),  # commands: run, or would run in check mode
            files=written["files"],
            backups=written["backups"],
            commands=[_command(c) for c in plan.commands],
            after=list(plan.after),
            fixed=list(plan.fixed),
            findings=left,
            summary=summary,
        )
        if written["diff"]:
            result["diff"] = written["diff"]
        over = runner.over_threshold(summary, args["fail_on"])
        if over and not result.get("failed"):
            result.update(failed=True, msg=f"mailcfg: {target}: {over} finding(s) at or above {args['fail_on']} "
                          "left after the fixes")
        if not warnings:
            del result["warnings"]
        return result

    def _write(self, files, args, task_vars):
        """Each new file content through ansible.builtin.copy (check mode, diff, backup, validate):
        {"changed", "diff", "files" written, "backups"}."""
        done = {"changed": False, "diff": [], "files": [], "backups": []}
        local = tempfile.mkdtemp(dir=C.DEFAULT_LOCAL_TMP)
        try:
            for n, (dest, content) in enumerate(sorted(files.items())):
                src = os.path.join(local, f"{n}-{os.path.basename(dest)}")
                with open(src, "wb") as fh:
                    fh.write(content if isinstance(content, bytes) else content.encode("utf-8", "surrogateescape"))
                copied = self._copy(src, dest, args, task_vars)
                if copied.get("failed"):
                    raise AnsibleActionFail(f"mailcfg: writing {dest} failed: {copied.get('msg', '')}",
                                            result=copied)
                if copied.get("changed"):
                    done["changed"] = True
                    done["files"].append(dest)
                diff = copied.get("diff")
                done["diff"].extend(diff if isinstance(diff, list) else [diff] if diff else [])
                if copied.get("backup_file"):
                    done["backups"].append(copied["backup_file"])
        finally:
            shutil.rmtree(local, ignore_errors=True)
        return done

    def _copy(self, src, dest, args, task_vars):
        task = self._task.copy()
        task.args = {"src": src, "dest": dest, "backup": args["backup"]}
        if args["validate"]:
            task.args["validate"] = args["validate"]
        copy = self._shared_loader_obj.action_loader.get(
            "ansible.legacy.copy", task=task, connection=self._connection, play_context=self._play_context,
            loader=self._loader, templar=self._templar, shared_loader_obj=self._shared_loader_obj)
        return copy.run(task_vars=task_vars)

    def _commands(self, plan, result):
        """Plesk's own commands (Plesk regenerates the files they govern), not in check mode; on a
        failure the plan's restore commands run and the task fails naming the command."""
        if self._task.check_mode:
            return
        for command in plan.commands:
            line = _command(command)
            out = self._low_level_execute_command(line, sudoable=True)
            if out["rc"] != 0:
                for restore in plan.restore:
                    self._low_level_execute_command(_command(restore), sudoable=True)
                said = " ".join((out.get("stderr") or out.get("stdout") or "").split())[:300]
                result.update(failed=True, msg=f"mailcfg: `{line}` failed (exit code {out['rc']}): {said}; restored")
                break
