#!/usr/bin/python
# Copyright: mailcfg developers. MIT License (see the repository's pyproject.toml).
# The work is done by the action plugin plugins/action/lint.py on the controller; this file only documents it.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lint
short_description: Lint a mail server's Postfix, Exim or Plesk configuration with mailcfg
description:
  - Reads the host's mail configuration through the task's own connection, in as few round trips as
    mailcfg's SSH collector needs (a read-only POSIX C(sh) script on the standard input of C(sh -s);
    no Python is needed on the host, C(become) is honoured), and analyses it on the controller with
    the mailcfg library (open relays, C(554 5.7.1 Relay access denied) for legitimate clients,
    submission without SMTP AUTH, and what cannot be decided from the configuration alone).
  - With O(files), lints the given content instead (for example what the play's templates would write)
    and does not connect to the host at all (a pre-deploy check).
  - Per-rule counts are returned as aggregated custom stats (C(ansible_stats)), which AWX keeps as job
    artifacts. Ansible only counts the stats of tasks that did not fail, so use O(fail_on=never) where
    the counts of every host are wanted.
version_added: 0.1.0
author:
  - mailcfg developers (@mailcfg)
requirements:
  - mailcfg (the Python package of the same version as this collection) on the controller or in the
    execution environment
options:
  fail_on:
    description:
      - The lowest severity of a finding that fails the task. A host whose configuration could not be
        read or analysed always fails.
    type: str
    choices: [error, warning, never]
    default: warning
  rules:
    description:
      - Lint with these rules only (rule ids, aliases, globs such as C(postfix-*), or tags such as C(relay)).
    type: list
    elements: str
  ignore:
    description:
      - Leave these rules out (ids, aliases, globs or tags).
    type: list
    elements: str
  files:
    description:
      - Host path to file content, for example C(/etc/postfix/main.cf) to the output of
        C(lookup('template', 'main.cf.j2')). Only this content is analysed; the host is not contacted.
      - Postfix's main.cf and master.cf, its lookup tables, and Exim's configuration files are understood.
    type: dict
  facts:
    description:
      - With O(files), facts about the host as mailcfg's snapshots record them (for example C(hostname),
        C(addresses)). Without them mailcfg assumes documented defaults and names the assumptions.
    type: dict
  templates:
    description:
      - With O(files), host path to the template that rendered it (found as the template lookup finds
        it, in the role's C(templates/), then the playbook's).
      - A finding in such a file then names the template and the template line that produced the
        offending line (its C(file), C(line) and C(column)), with the rendered place under C(rendered).
        A line is traced when its text equals exactly one template line, or when its setting name (the
        text before C(=)) starts exactly one template line; a continuation line is traced as the line it
        continues. Other findings keep the rendered place, name the template under C(template), and a
        warning says they could not be traced.
    type: dict
extends_documentation_fragment:
  - action_common_attributes
  - action_common_attributes.conn
  - action_common_attributes.flow
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
    details: Only reads; runs the same in check mode.
  connection:
    support: full
  delegation:
    support: none
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - The mail hosts need only a POSIX shell and the mail system's own tools; no Python.
  - The collection script never reads credentials (password tables, private keys, Plesk's password database).
seealso:
  - module: mailcfg.mailcfg.fix
"""

EXAMPLES = r"""
- name: Lint the mail configuration of each host, failing none
  mailcfg.mailcfg.lint:
    fail_on: never
  register: mail_lint

- name: Show each host's findings
  ansible.builtin.debug:
    msg: "{{ item.file }}:{{ item.line }}: {{ item.severity }} [{{ item.rule }}] {{ item.message }}"
  loop: "{{ mail_lint.findings }}"
  loop_control:
    label: "{{ item.rule }}"

- name: Fail the hosts with relay errors only
  mailcfg.mailcfg.lint:
    rules: [relay]
    fail_on: error

- name: Before deploying, lint what the role's templates would write (no connection to the host)
  mailcfg.mailcfg.lint:
    files:
      /etc/postfix/main.cf: "{{ lookup('ansible.builtin.template', 'main.cf.j2') }}"
    templates:
      /etc/postfix/main.cf: main.cf.j2
    fail_on: error
"""

RETURN = r"""
findings:
  description:
    - The findings, as in mailcfg's JSON report (rule, severity, message, file, line, column, service, fix).
    - A finding traced to a template (O(templates)) names the template's file, line and column, and keeps
      the rendered place under C(rendered).
  returned: always
  type: list
  elements: dict
  sample:
    - rule: postfix-open-relay
      severity: error
      message: "an outside client relays to any domain: ..."
      file: etc/postfix/helo_access
      line: 2
      column: 1
      service: smtp
      fix: unsafe
summary:
  description: Counts of the findings by severity, and by rule under C(rules).
  returned: always
  type: dict
  sample: {"error": 1, "warning": 2, "info": 0, "rules": {"postfix-open-relay": 1}}
status:
  description: C(ok), or why the host was not analysed (then the task fails).
  returned: always
  type: str
systems:
  description: The mail systems found (C(postfix), C(exim), C(plesk)).
  returned: always
  type: list
  elements: str
assumptions:
  description: What mailcfg assumed where the configuration did not say.
  returned: always
  type: list
  elements: str
"""
