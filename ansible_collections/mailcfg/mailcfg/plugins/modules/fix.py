#!/usr/bin/python
# Copyright: mailcfg developers. MIT License (see the repository's pyproject.toml).
# The work is done by the action plugin plugins/action/fix.py on the controller; this file only documents it.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fix
short_description: Fix a mail server's Postfix, Exim or Plesk configuration with mailcfg
description:
  - Reads the host's mail configuration as M(mailcfg.mailcfg.lint) does, computes mailcfg's fixes on the
    controller, and writes each changed file through M(ansible.builtin.copy), so check mode changes
    nothing, diff mode shows the change, and O(backup) and O(validate) work as they do for copy.
  - On a Plesk host the fixes are Plesk's own commands (Plesk regenerates the files they govern); they run
    on the host, except in check mode. If one fails, the commands that restore the earlier settings run
    and the task fails.
  - The task reports C(changed) when a file changed or a command ran, so a handler notified by it
    reloads the mail system (mailcfg names the reload under C(after)); the action never reloads by itself.
version_added: 0.1.0
author:
  - mailcfg developers (@mailcfg)
requirements:
  - mailcfg (the Python package of the same version as this collection) on the controller or in the
    execution environment
  - Python on the host, for M(ansible.builtin.copy) (reading needs only a POSIX shell)
options:
  rules:
    description:
      - Fix what these rules find only (rule ids, aliases, globs or tags).
    type: list
    elements: str
  ignore:
    description:
      - Leave these rules' findings unfixed (ids, aliases, globs or tags).
    type: list
    elements: str
  unsafe:
    description:
      - Also apply the fixes mailcfg marks unsafe (they can lock out clients that relied on the open setting).
    type: bool
    default: false
  backup:
    description:
      - Keep a backup of each file changed, as M(ansible.builtin.copy) does.
    type: bool
    default: false
  validate:
    description:
      - A command that checks each new file before it replaces the old one (C(%s) is the new file),
        as M(ansible.builtin.copy) runs it.
    type: str
  fail_on:
    description:
      - The lowest severity of a finding left after the fixes that fails the task.
    type: str
    choices: [error, warning, never]
    default: never
extends_documentation_fragment:
  - action_common_attributes
  - action_common_attributes.conn
  - action_common_attributes.flow
  - action_common_attributes.files
attributes:
  action:
    support: full
  async:
    support: none
  become:
    support: full
  bypass_host_loop:
    support: none
  check_mode:
    support: full
  connection:
    support: full
  delegation:
    support: none
  diff_mode:
    support: full
  platform:
    platforms: posix
  safe_file_operations:
    support: full
  vault:
    support: none
seealso:
  - module: mailcfg.mailcfg.lint
  - module: ansible.builtin.copy
"""

EXAMPLES = r"""
- name: Show what mailcfg would change, changing nothing
  mailcfg.mailcfg.fix:
  check_mode: true
  diff: true
  register: mail_fix_preview

- name: Close open relays (unsafe fixes included), keeping backups; the handler reloads Postfix
  mailcfg.mailcfg.fix:
    rules: [postfix-open-relay]
    unsafe: true
    backup: true
  notify: Reload postfix
"""

RETURN = r"""
files:
  description: The host paths written (in check mode, those that would be).
  returned: always
  type: list
  elements: str
  sample: ["/etc/postfix/main.cf"]
backups:
  description: The backups made (O(backup)).
  returned: always
  type: list
  elements: str
commands:
  description: The Plesk commands of the fixes (run unless in check mode).
  returned: always
  type: list
  elements: str
after:
  description: What reloads the mail system after the change (for the play's handler), e.g. C(postfix reload).
  returned: always
  type: list
  elements: str
fixed:
  description: The findings the fixes resolve (the objects of M(mailcfg.mailcfg.lint)'s C(findings)).
  returned: always
  type: list
  elements: dict
findings:
  description: The findings left after the fixes.
  returned: always
  type: list
  elements: dict
summary:
  description: Counts of the findings left, by severity, and by rule under C(rules).
  returned: always
  type: dict
"""
