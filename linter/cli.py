"""The `mailcfg` command line."""

import getpass
import os
import shutil
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from mailcfg import __version__, cliconvert
from mailcfg.color import ColorChoice, use_color
from mailcfg.errors import MailcfgError
from mailcfg.remote import CONFIRM_SECONDS
from mailcfg.reporters.visible import visible
from mailcfg.targets import Target, expand
from mailcfg.writes import write_atomic, write_inside

if TYPE_CHECKING:
    from mailcfg.pipeline import Pipeline
    from mailcfg.remote.hosts import HostSpec
    from mailcfg.remote.sshtarget import SshOptions

# Start-up: each command imports what it uses (the analysis, SSH, rich's Markdown...) in its body, and
# help is plain text (rich_markup_mode=None: rich loads for nothing else either).
app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  # completion: --install-completion
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Find and fix mail-server settings that make open relays, bounce mail or skip SMTP AUTH.")


class Format(str, Enum):
    text = "text"
    concise = "concise"
    json = "json"
    sarif = "sarif"
    junit = "junit"
    github = "github"
    codeclimate = "codeclimate"


class DecisionFormat(str, Enum):
    text = "text"
    json = "json"


class FixFormat(str, Enum):
    text = "text"
    json = "json"


class TestFormat(str, Enum):
    text = "text"
    json = "json"
    junit = "junit"
    sarif = "sarif"


class FailOn(str, Enum):
    error = "error"
    warning = "warning"
    info = "info"
    never = "never"


def _say(message: str) -> None:
    """One line on stderr, input text in it (file names, hosts, values) with terminal controls made visible."""
    typer.echo(visible(message), err=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mailcfg {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                               help="Show the version and exit.")] = False) -> None:
    """mailcfg: lint Postfix, Exim and Plesk mail settings."""


Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print the findings and nothing else (no summary).")]
ColorOption = Annotated[ColorChoice, typer.Option("--color", help="Colour the text output: auto (on a terminal), "
                                                  "always or never; beats FORCE_COLOR and NO_COLOR.")]
Select = Annotated[list[str] | None, typer.Option("--select", help="Check only these rules: ids, globs (exim-*) "
                                                 "or tags (relay, auth, tls...); comma lists, repeatable; "
                                                 "replaces the configuration's select.")]
Ignore = Annotated[list[str] | None, typer.Option("--ignore", help="Rules not checked (ids, globs, tags; comma "
                                                 "lists, repeatable); added to the configuration's.")]
ExtendSelect = Annotated[list[str] | None, typer.Option("--extend-select", help="Rules checked besides the "
                                                        "selected ones (ids, globs, tags).")]
ConfigFile = Annotated[Path | None, typer.Option("--config", help="Project configuration file (default: "
                                                 ".mailcfg.yml here or in the nearest parent, up to the "
                                                 "repository root).")]
Isolated = Annotated[bool, typer.Option("--isolated", help="Read no project configuration file.")]
KnownHosts = Annotated[Path | None, typer.Option("--known-hosts", help="known_hosts file checked besides "
                                                   "~/.ssh/known_hosts (new keys accepted go here).")]
AcceptNew = Annotated[bool, typer.Option("--accept-new-host-keys", help="Accept and record the key of a host "
                                         "not in known_hosts (a changed key is refused even so).")]
Identity = Annotated[Path | None, typer.Option("--identity", help="SSH private key file (besides ssh-agent and "
                                               "~/.ssh keys; an encrypted key's passphrase comes from "
                                               "MAILCFG_SSH_PASSPHRASE or a prompt).")]
Timeout = Annotated[float, typer.Option("--timeout", min=0.1, help="SSH connect timeout in seconds.")]
CommandTimeout = Annotated[float, typer.Option("--command-timeout", min=0.1,
                                               help="Time limit in seconds for each step of the collection on a host "
                                                    "(each remote command of fix --apply); a remote shell slow to "
                                                    "start gets up to --timeout more.")]
Become = Annotated[bool, typer.Option("--become", help="Read the host's files as root through `sudo -n` "
                                      "(inventory: mailcfg_become or ansible_become per host).")]
Inventory = Annotated[Path | None, typer.Option("--inventory", "-i", help="Ansible-style inventory (YAML or INI); "
                                                "targets that are no local path are host patterns.")]
Targets = Annotated[list[str], typer.Argument(help="What lint takes: snapshot directories, Postfix or Exim config "
                                               "directories or files, hosts (ssh://user@host:port, names from "
                                               "~/.ssh/config, with -i inventory host patterns).")]
Forks = Annotated[int, typer.Option(min=1, help="Hosts collected at the same time.")]
Limit = Annotated[str | None, typer.Option(help="Only the inventory hosts this pattern selects.")]
Output = Annotated[Path | None, typer.Option("--output", "-o", help="Write the report to this file.")]


def _ssh_options(known_hosts: Path | None, accept_new: bool, identity: Path | None, timeout: float,
                 command_timeout: float, become: bool, hosts: "list[HostSpec]") -> "SshOptions":
    """The run's SSH settings; on a terminal, one passphrase prompt when a key to be used is encrypted."""
    from mailcfg.remote.sshtarget import PASSPHRASE_ENV, SshOptions

    passphrase = None
    if hosts and not os.environ.get(PASSPHRASE_ENV) and not os.environ.get("SSH_AUTH_SOCK") and sys.stdin.isatty():
        from mailcfg.remote.ssh import default_keys, encrypted  # paramiko: only when hosts are named

        keys = {identity} if identity else set(default_keys())
        keys |= {h.identity for h in hosts if h.identity is not None}
        locked = sorted(str(k) for k in keys if k is not None and encrypted(k))
        if locked:
            passphrase = getpass.getpass(f"Passphrase for {', '.join(locked)}: ") or None
    return SshOptions(known_hosts=known_hosts, accept_new=accept_new, identity=identity, timeout=timeout,
                      command_timeout=command_timeout, become=become, passphrase=passphrase)


def _known_hosts(ssh: "SshOptions"):
    from mailcfg.remote.ssh import load_known_hosts  # paramiko: only when hosts are named

    return load_known_hosts(ssh)


@app.command()
def lint(
    targets: Annotated[list[str], typer.Argument(help="Snapshot directories, Postfix or Exim config directories, "
                                                      "single config files, or hosts as ssh://user@host:port "
                                                      "(user, port optional).")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report to this file.")] = None,
    fail_on: Annotated[FailOn | None, typer.Option(help="Exit 1 when a finding is at least this severe "
                                                        "(default: the configuration's fail-on, else warning).")]
        = None,
    select: Select = None,
    ignore: Ignore = None,
    extend_select: ExtendSelect = None,
    config: ConfigFile = None,
    isolated: Isolated = False,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="Target paths not linted: globs relative "
                                                      "to the working directory (repeatable).")] = None,
    baseline: Annotated[Path | None, typer.Option("--baseline", help="Hide the findings this baseline file "
                                                  "records; report its entries no longer found "
                                                  "(mailcfg-stale-baseline).")] = None,
    write_baseline: Annotated[Path | None, typer.Option("--write-baseline", help="Record this run's findings "
                                                        "in a baseline file (they are then hidden).")] = None,
    fail_on_stale: Annotated[bool, typer.Option("--fail-on-stale", help="Exit 1 when the baseline has entries "
                                                "no longer found.")] = False,
    known_hosts: KnownHosts = None,
    accept_new_host_keys: AcceptNew = False,
    identity: Identity = None,
    timeout: Timeout = 10.0,
    command_timeout: CommandTimeout = 120.0,
    become: Become = False,
    forks: Annotated[int, typer.Option(min=1, help="Hosts checked at the same time.")] = 10,
    inventory: Inventory = None,
    limit: Annotated[str | None, typer.Option(help="Only the inventory hosts this pattern selects.")] = None,
    quiet: Quiet = False,
    statistics: Annotated[bool, typer.Option("--statistics", help="Print how many findings each rule has "
                                             "instead of the findings (text, concise or json).")] = False,
    show_fixes: Annotated[bool, typer.Option("--show-fixes", help="Show under each fixable finding the diff "
                                             "its fix makes (text, concise).")] = False,
    color: ColorOption = ColorChoice.auto,
    changed: Annotated[bool, typer.Option("--changed", help="The targets are changed files (pre-commit): lint "
                                          "the snapshot or config directory holding each, once, and report "
                                          "only findings in those files.")] = False,
) -> None:
    """Check mail-server configuration and report what is wrong."""
    from mailcfg.pipeline import lint_local, stale_failure
    from mailcfg.registry import declared

    if changed:
        from mailcfg.precommit import units

        if inventory is not None or limit is not None:
            raise MailcfgError("--changed takes changed files, not inventory hosts (-i, --limit)")
        changes = units(targets)
        items = [Target(u.target, path=u.target) for u in changes]
    else:
        items = expand(targets, inventory, limit)
    pipe = _pipeline(config, isolated, select, ignore, extend_select, fail_on, fail_on_stale, baseline,
                     write_baseline is not None)
    items = pipe.included(items, exclude or [], targets)
    settings = pipe.settings_of(items, inventory)
    hosts = [t for t in items if t.host is not None]
    for t in hosts:
        for name in t.host.vars.get("mailcfg_skip_rules", ()):
            try:
                declared(name)
            except MailcfgError as exc:
                raise MailcfgError(f"{inventory}: host {t.label}: mailcfg_skip_rules: {exc}") from None
    ssh, known = _reach(items, known_hosts, accept_new_host_keys, identity, timeout, command_timeout, become)

    def check(t: Target):
        from mailcfg.remote.fetch import lint_host

        return lint_host(t.host, ssh, known, t.label)

    interactive = output is None and fmt is Format.text and sys.stdout.isatty() and sys.stderr.isatty()
    if hosts:  # waiting on the network: threads (local targets among them are checked in turn)
        from mailcfg.fanout import run_all

        results = run_all(items, lambda t: check(t) if t.host is not None else
                          lint_local((t.path or t.label, settings[t.label])), forks,
                          [t.label for t in items], progress=interactive)
    elif len(items) == 1:  # one target: no workers to start (nor their module)
        results = [lint_local((items[0].path or items[0].label, settings[items[0].label]))]
    else:  # CPU-bound: every core, in input order
        from mailcfg.parallel import in_order
        from mailcfg.registry import all_rules

        all_rules()  # loaded once here, before the workers fork
        results = list(in_order(lint_local, [(t.path or t.label, settings[t.label]) for t in items]))
    results = [pipe.prepare(r, t, settings[t.label]) for r, t in zip(results, items, strict=True)]
    if write_baseline is not None:
        write_atomic(write_baseline, pipe.record(results, items, write_baseline, settings))
        _say(f"mailcfg: baseline written to {write_baseline} "
             f"({sum(len(r.findings) for r in results)} findings, hidden from now on)")
    results = [pipe.hide(r, t, settings[t.label]) for r, t in zip(results, items, strict=True)]
    if changed:
        from mailcfg.precommit import only_changed

        results = [only_changed(r, u) for r, u in zip(results, changes, strict=True)]
    report = _lint_report(results, fmt, use_color(color, sys.stdout, to_file=output is not None), quiet,
                          statistics, show_fixes)
    if output is not None:
        write_atomic(output, report)
    else:
        sys.stdout.write(report)
    for r in results:
        if r.status != "ok":
            _say(f"mailcfg: {r.target}: {r.error}")
        _say_unreadable(r.target, r.unreadable)
    if any(r.status == "unreachable" for r in results):
        raise typer.Exit(3)
    if any(r.status == "error" for r in results):
        raise typer.Exit(2)
    gate = pipe.run_settings()
    if gate.fail_on_stale and stale_failure(results):
        raise typer.Exit(1)
    if (gate.fail_on or "warning") != "never":
        threshold = _rank(gate.fail_on or "warning")
        if any(f.severity.rank >= threshold for r in results for f in r.findings):
            raise typer.Exit(1)


def _pipeline(config: Path | None, isolated: bool, select: list[str] | None, ignore: list[str] | None,
              extend_select: list[str] | None, fail_on: FailOn | None = None, fail_on_stale: bool = False,
              baseline: Path | None = None, writing_baseline: bool = False) -> "Pipeline":
    """The project configuration with the command line's settings over it."""
    from mailcfg import projectconfig
    from mailcfg.pipeline import Pipeline
    from mailcfg.projectconfig import Overrides, split_entries

    overrides = Overrides(select=split_entries(select), extend_select=split_entries(extend_select) or [],
                          ignore=split_entries(ignore) or [], fail_on=fail_on.value if fail_on else None,
                          fail_on_stale=fail_on_stale, baseline=str(baseline) if baseline else None)
    return Pipeline.start(projectconfig.load(config, isolated), overrides, writing_baseline)


def _lint_report(results: list, fmt: Format, color: bool, quiet: bool, statistics: bool, show_fixes: bool) -> str:
    """The report in `fmt`; the people's formats (text, concise) take the viewing options."""
    from mailcfg.reporters.formats import FORMATS

    people = fmt in (Format.text, Format.concise)
    if statistics:
        from mailcfg.reporters import statistics as stats

        if fmt is Format.json:
            return stats.render_json(results)
        if not people:
            raise MailcfgError(f"--statistics prints text, concise or json, not {fmt.value}")
        return stats.render_text(results)
    if not people:
        return FORMATS[fmt.value](results, False)
    width = shutil.get_terminal_size().columns if fmt is Format.text and sys.stdout.isatty() else None
    return FORMATS[fmt.value](results, color, quiet=quiet, show_fixes=show_fixes, width=width)


@app.command()
def fetch(
    target: Annotated[str, typer.Argument(help="The host: ssh://user@host:port (user, port optional), a name "
                                               "from ~/.ssh/config, or with -i one inventory host.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Snapshot directory to write (new, empty, or "
                                                                 "an earlier snapshot: the files fetched are replaced, "
                                                                 "others are kept).")],
    known_hosts: KnownHosts = None,
    accept_new_host_keys: AcceptNew = False,
    identity: Identity = None,
    timeout: Timeout = 10.0,
    command_timeout: CommandTimeout = 120.0,
    become: Become = False,
    inventory: Inventory = None,
) -> None:
    """Copy the files a host's mail analysis reads, and its facts, into a snapshot directory (one SSH
    connection, read-only; never credentials)."""
    from mailcfg.remote import is_ssh_target
    from mailcfg.remote.fetch import fetch as fetch_host

    found = expand([target], inventory) if is_ssh_target(target) or "/" not in target else []
    if len(found) != 1 or found[0].host is None:
        raise MailcfgError(f"{target}: not one host (expected ssh://[user@]host[:port], a host name, or with -i "
                           f"an inventory host)")
    spec = found[0].host
    ssh = _ssh_options(known_hosts, accept_new_host_keys, identity, timeout, command_timeout, become, [spec])
    data = fetch_host(spec, ssh, output)
    systems = ", ".join(f"{name} {info.get('version', '')}".strip() for name, info in data["systems"].items())
    _say(f"mailcfg: {target}: snapshot written to {output} ({systems or 'no mail system found'})")
    _say_unreadable(target, [(u["path"], u["reason"]) for u in data["unreadable"]])


def _say_unreadable(target: str, files: list[tuple[str, str]]) -> None:
    """One line per host file the collection could not read, with the reason."""
    for path, reason in files:
        _say(f"mailcfg: {target}: {path} not read ({reason})"
             + ("; try --become" if reason == "permission-denied" else ""))


@app.command()
def fix(
    targets: Annotated[list[str], typer.Argument(help="What lint takes: snapshot directories, Postfix or Exim config "
                                                      "directories or files; hosts (ssh://user@host:port, names from "
                                                      "~/.ssh/config, with -i inventory host patterns).")],
    diff: Annotated[bool, typer.Option("--diff", help="Print the changes as a unified diff (the default when "
                                       "nothing else is asked).")] = False,
    patch: Annotated[Path | None, typer.Option("--patch", help="Write the diff to this file (`patch -p1` applies "
                                               "it at the snapshot root, or at / on the host; one target).")] = None,
    write: Annotated[bool, typer.Option("--write", help="Edit the local files (atomically).")] = False,
    apply: Annotated[bool, typer.Option("--apply", help="Change the host: check the files did not change, back "
                                        "them up, write, check them with the MTA's own tool (postfix check, "
                                        "exim -bV or update-exim4.conf), reload, lint again; restore on any "
                                        "failure.")] = False,
    confirm_timeout: Annotated[int, typer.Option("--confirm-timeout", min=5, help="With --apply: seconds the host "
                                                 "waits for the re-lint's confirmation before it restores the "
                                                 "files by itself.")] = CONFIRM_SECONDS,
    unsafe_fixes: Annotated[bool, typer.Option("--unsafe-fixes", help="Also apply fixes that can lock out "
                                               "clients or drop a function (see each rule's doc page).")] = False,
    select: Select = None,
    ignore: Ignore = None,
    extend_select: ExtendSelect = None,
    rule: Annotated[list[str] | None, typer.Option("--rule", hidden=True, help="Old name of --select.")] = None,
    config: ConfigFile = None,
    isolated: Isolated = False,
    fail_on: Annotated[FailOn | None, typer.Option(help="Exit 1 when a finding at least this severe is left after "
                                                        "the fixes, whatever the mode (default: the "
                                                        "configuration's fail-on, else warning).")] = None,
    fmt: Annotated[FixFormat, typer.Option("--format", "-f", help="text: the diff (what --diff prints); json: per "
                                           "target the fixes applied, skipped and why, and the findings left.")]
        = FixFormat.text,
    output: Output = None,
    known_hosts: KnownHosts = None,
    accept_new_host_keys: AcceptNew = False,
    identity: Identity = None,
    timeout: Timeout = 10.0,
    command_timeout: CommandTimeout = 120.0,
    become: Become = False,
    forks: Forks = 10,
    inventory: Inventory = None,
    limit: Limit = None,
) -> None:
    """Repair what lint finds, from the fix templates: as a diff, a patch file, or in place."""
    from mailcfg.fixer import fix_target
    from mailcfg.per_target import each
    from mailcfg.reporters.fixreport import FixOutcome
    from mailcfg.reporters.fixreport import render as render_fixes

    gate = _pipeline(config, isolated, [*(select or []), *(rule or [])] if select or rule else None, ignore,
                     extend_select, fail_on).run_settings()
    chosen = None if gate.select is None and not gate.ignore and not gate.extend_select else sorted(gate.rules())
    items = expand(targets, inventory, limit)
    if patch is not None and len(items) != 1:
        raise MailcfgError(f"--patch takes one target, its paths relative to it ({len(items)} given); "
                           f"--diff, --write and --apply take several")
    for t in items:
        if t.host is not None and write:
            raise MailcfgError(f"{t.label}: --write edits local files; a host is changed with --apply")
        if t.host is None and apply:
            raise MailcfgError(f"{t.label}: --apply changes a host; local files are changed with --write")
    ssh, known = _reach(items, known_hosts, accept_new_host_keys, identity, timeout, command_timeout, become)
    texts: dict[str, str] = {}

    def work(t: Target, snapshot) -> FixOutcome:
        outcome = FixOutcome(t.label, fix_target(t.label, chosen, unsafe_fixes, snapshot))
        texts[t.label] = _fixed(t.label, outcome.run, write, apply, patch)
        if apply and t.host is not None:
            outcome.apply = _apply(t, outcome.run, snapshot, ssh, known, confirm_timeout)
        return outcome

    outcomes = each(items, work, forks, ssh, known)
    if fmt is FixFormat.json:
        _emit(render_fixes([o.value or FixOutcome(o.target, status=o.status, error=o.error) for o in outcomes]),
              output)
    elif output is not None or diff or not (write or apply or patch is not None):
        several = len(items) > 1  # each target's diff under its name: paths are relative to each target
        text = "".join((f"# {t.label}\n" if several and texts.get(t.label) else "") + texts.get(t.label, "")
                       for t in items)
        # a pipe or file gets the exact patch; a terminal sees control characters made visible
        _emit(text if output is not None or not sys.stdout.isatty() else visible(text, keep_lines=True), output)
    code = _failed(outcomes)
    if code:
        raise typer.Exit(code)
    runs = [o.value for o in outcomes if o.value is not None]
    if any(o.apply is not None and o.apply[0] not in ("applied", "unchanged") for o in runs):
        raise typer.Exit(1)
    # as `ruff check --fix`: 1 while findings are left, in every mode
    threshold = gate.fail_on or "warning"
    if threshold != "never":
        rank = _rank(threshold)
        if any(f.severity.rank >= rank for o in runs for f in o.run.after.findings):
            raise typer.Exit(1)


def _fixed(target: str, run, write: bool, apply: bool, patch: Path | None) -> str:
    """Say what the fixes did and left; write the files (--write) or the patch (--patch); the diff."""
    from mailcfg.diff import unified

    for f in run.applied:
        _say(f"mailcfg: {target}: fix {f.rule} ({f.safety}): {f.summary}")
    for f in run.unsafe_skipped:
        _say(f"mailcfg: {target}: not applied, unsafe (--unsafe-fixes): {f.rule}: {f.summary}")
    for f, caused in dict((f.summary, (f, c)) for f, c in run.dropped).values():
        _say(f"mailcfg: {target}: not applied, it would cause new findings: {f.rule}: {f.summary}: "
             + "; ".join(f"{c.rule}: {c.message}" for c in caused))
    for f, caused in run.revealed:
        _say(f"mailcfg: {target}: fixing {f.rule} first revealed: "
             + "; ".join(f"{c.rule}: {c.message}" for c in caused))
    left = sorted({f.rule for f in run.after.findings})
    if left:
        _say(f"mailcfg: {target}: left for you: {', '.join(left)}")
    # fixes that go through a system's own tool (Plesk's CLI) are commands: shown and written as a script
    commands = list(dict.fromkeys(c for f in run.applied for c in f.commands))
    text = unified(run.changes) + (f"# mailcfg fix {target}: commands to run on the host\n"
                                   + "".join(f"{c}\n" for c in commands) if commands else "")
    if patch is not None:
        write_atomic(patch, text)
    steps = list(dict.fromkeys(step for f in run.applied for step in f.after))  # in the order they must run
    if write:
        for change in run.changes:
            write_inside(run.root, change.path, change.after)
        if run.changes:
            _say(f"mailcfg: {target}: {len(run.changes)} file(s) written"
                 + (f"; then run: {'; '.join(steps)}" if steps else ""))
    if commands and not apply:
        _say(f"mailcfg: {target}: these fixes run commands on the host: --apply runs them there"
             + (" (--write changes no host)" if write else ""))
    elif run.changes and steps and not apply and not write:  # (removing a comment needs no reload)
        _say(f"mailcfg: {target}: once the changes are in place, run: {'; '.join(steps)}")
    return text


def _apply(t: Target, run, snapshot, ssh: "SshOptions", known, confirm_timeout: int) -> tuple[str, str]:
    """--apply on host `t`, whose collected snapshot the fixes were computed on: (status, detail)."""
    from mailcfg.lint import lint_snapshot
    from mailcfg.remote.apply import apply_run
    from mailcfg.remote.fetch import fetched

    def recheck():
        with fetched(t.host, ssh, known, t.label) as again:
            return lint_snapshot(again)

    done = apply_run(t.host, ssh, run, recheck, known, confirm_seconds=confirm_timeout,
                     redacted=snapshot.facts.redacted_paths)
    for earlier in done.earlier:
        _say(f"mailcfg: {t.label}: an earlier --apply no mailcfg heard the end of: run {earlier}")
    for step in done.log:
        _say(f"mailcfg: {t.label}: host: {step}")
    _say(f"mailcfg: {t.label}: {done.status}: {done.detail}")
    return done.status, done.detail


@app.command("config")
def config_command(
    target: Annotated[str | None, typer.Argument(help="With --show: the target whose settings to show (a path, "
                                                      "or with -i an inventory host).")] = None,
    schema: Annotated[bool, typer.Option("--schema", help="Print the JSON Schema of .mailcfg.yml.")] = False,
    show: Annotated[bool, typer.Option("--show", help="Print the settings that apply (to TARGET), as JSON.")]
        = False,
    config: ConfigFile = None,
    isolated: Isolated = False,
    inventory: Inventory = None,
) -> None:
    """The project configuration (.mailcfg.yml): its JSON Schema, or the settings in effect."""
    if schema == show:
        raise MailcfgError("config: give --schema or --show")
    if schema:
        from mailcfg.projectconfig import schema as config_schema

        sys.stdout.write(_json(config_schema()))
        return
    pipe = _pipeline(config, isolated, None, None, None)
    settings = pipe.run_settings()
    if target is not None:
        items = expand([target], inventory)
        if len(items) != 1:
            raise MailcfgError(f"{target}: config --show takes one target ({len(items)} found)")
        settings = pipe.settings_of(items, inventory)[items[0].label]
    path = pipe.config.path
    shown = {"config": str(path) if path else None, "target": target, **settings.to_json()}
    sys.stdout.write(_json(shown))


@app.command()
def rules(
    rule_id: Annotated[str | None, typer.Argument(help="Show this rule's documentation.")] = None,
    fmt: Annotated[DecisionFormat, typer.Option("--format", "-f", help="text: one rule a line (never wrapped) or "
                                                "the page; json: the rules' metadata (with the page as `doc`).")]
        = DecisionFormat.text,
    output: Output = None,
) -> None:
    """List the rules, or show one rule's documentation."""
    from mailcfg.registry import all_rules, listing, rule_by_id
    from mailcfg.reporters import rulelist

    if rule_id is None:  # the text needs only the declarations: read without loading the rules' engines
        _emit(rulelist.render_json(all_rules()) if fmt is DecisionFormat.json else rulelist.render_text(listing()),
              output)
        return
    rule = rule_by_id(rule_id)
    doc = rule.doc
    if fmt is DecisionFormat.json or output is not None:
        _emit(rulelist.render_doc_json(rule) if fmt is DecisionFormat.json else doc, output)
    elif sys.stdout.isatty():
        from rich.console import Console
        from rich.markdown import Markdown

        Console().print(Markdown(doc))
    else:
        sys.stdout.write(doc)


def _reach(items: list[Target], known_hosts: Path | None, accept_new: bool, identity: Path | None,
           timeout: float, command_timeout: float, become: bool) -> "tuple[SshOptions | None, object]":
    """The SSH settings and known hosts for the hosts among `items` (read once for all of them); none, and
    none of SSH's modules loaded, for a run of local targets."""
    hosts = [t.host for t in items if t.host is not None]
    if not hosts:
        return None, None
    ssh = _ssh_options(known_hosts, accept_new, identity, timeout, command_timeout, become, hosts)
    return ssh, _known_hosts(ssh)


def _emit(report: str, output: Path | None) -> None:
    if output is not None:
        write_atomic(output, report)
    else:
        sys.stdout.write(report)


def _failed(outcomes: list) -> int:
    """Say each target that could not be decided; the exit code that calls for (0: none)."""
    for o in outcomes:
        if o.status != "ok":
            _say(f"mailcfg: {o.target}: {o.error}")
    return 3 if any(o.status == "unreachable" for o in outcomes) else \
        2 if any(o.status == "error" for o in outcomes) else 0


def _json(value: object) -> str:
    from mailcfg import jsontext

    return jsontext.dumps(value) + "\n"


def _rank(severity: str) -> int:
    from mailcfg.findings import Severity

    return Severity(severity).rank


def _decisions_json(outcomes: list) -> str:
    """One target: its object, as ever; several: {"version": 1, "targets": [...]} of them (a target that
    could not be decided as {"target", "status", "error"})."""
    objects = [o.value.to_json() if o.value is not None else {"target": o.target, "status": o.status,
                                                               "error": o.error} for o in outcomes]
    return _json(objects[0] if len(objects) == 1 else {"version": 1, "targets": objects})


@app.command()
def explain(
    targets: Targets,
    client: Annotated[str, typer.Option(help="IP address of the SMTP client.")],
    rcpt: Annotated[str, typer.Option(help="Recipient address (RCPT TO).")],
    sender: Annotated[str, typer.Option(help="Sender address (MAIL FROM); empty for <>.")] = "",
    helo: Annotated[str | None, typer.Option(help="HELO/EHLO name the client sends (default: its address "
                                                  "literal, or its --client-name).")] = None,
    client_name: Annotated[str | None, typer.Option(help="Verified reverse DNS name of the client.")] = None,
    sasl_user: Annotated[str | None, typer.Option(help="The client authenticates with this login.")] = None,
    tls: Annotated[bool, typer.Option("--tls", help="The client uses STARTTLS.")] = False,
    service: Annotated[str | None, typer.Option(help="master.cf service name.")] = None,
    port: Annotated[int | None, typer.Option(help="Port the client connects to (instead of --service).")] = None,
    fmt: Annotated[DecisionFormat, typer.Option("--format", "-f", help="Output format.")] = DecisionFormat.text,
    output: Output = None,
    color: ColorOption = ColorChoice.auto,
    known_hosts: KnownHosts = None,
    accept_new_host_keys: AcceptNew = False,
    identity: Identity = None,
    timeout: Timeout = 10.0,
    command_timeout: CommandTimeout = 120.0,
    become: Become = False,
    forks: Forks = 10,
    inventory: Inventory = None,
    limit: Limit = None,
) -> None:
    """Predict what the server answers to one SMTP transaction, and show why (hosts are collected first)."""
    from mailcfg.decisions import explain as explain_probe
    from mailcfg.per_target import each
    from mailcfg.policy import probe_problem
    from mailcfg.reporters.decision import render_explained
    from mailcfg.transaction import Probe, literal_helo

    helo = helo if helo is not None else client_name or literal_helo(client)
    probe = Probe(client, rcpt, sender, helo, client_name, sasl_user, tls, service, port)
    problem = probe_problem(probe)
    if problem:
        raise MailcfgError(f"explain: {problem}")
    items = expand(targets, inventory, limit)
    ssh, known = _reach(items, known_hosts, accept_new_host_keys, identity, timeout, command_timeout, become)
    outcomes = each(items, lambda t, snapshot: explain_probe(t.label, probe, snapshot), forks, ssh, known)
    if fmt is DecisionFormat.json:
        _emit(_decisions_json(outcomes), output)
    else:
        painted = use_color(color, sys.stdout, to_file=output is not None)
        _emit("\n".join(render_explained(o.value, painted) for o in outcomes if o.value is not None), output)
    code = _failed(outcomes)
    if code:
        raise typer.Exit(code)


@app.command("test")
def test_policy(
    targets: Targets,
    policy: Annotated[Path, typer.Option(help="YAML or JSON file listing probes and the expected decision.")],
    fmt: Annotated[TestFormat, typer.Option("--format", "-f", help="Output format (junit: a test case per "
                                            "probe; sarif: a result per failed probe).")] = TestFormat.text,
    allow_undecided: Annotated[bool, typer.Option("--allow-undecided", help="A probe whose answer depends on "
                                                  "what the snapshot lacks (a table, DNS, a policy service) passes "
                                                  "when the answer offline is the expected one.")] = False,
    output: Output = None,
    color: ColorOption = ColorChoice.auto,
    known_hosts: KnownHosts = None,
    accept_new_host_keys: AcceptNew = False,
    identity: Identity = None,
    timeout: Timeout = 10.0,
    command_timeout: CommandTimeout = 120.0,
    become: Become = False,
    forks: Forks = 10,
    inventory: Inventory = None,
    limit: Limit = None,
) -> None:
    """Check expected decisions (accept, reject, defer, error); exit 1 when any differs or is undecided,
    2 when a probe is not valid (the others are still run and reported), 3 when a host is unreachable."""
    from mailcfg.decisions import run_policy
    from mailcfg.per_target import each
    from mailcfg.policy import load_policy
    from mailcfg.reporters.decision import render_test

    expectations = load_policy(policy)
    items = expand(targets, inventory, limit)
    ssh, known = _reach(items, known_hosts, accept_new_host_keys, identity, timeout, command_timeout, become)
    outcomes = each(items, lambda t, snapshot: run_policy(t.label, expectations, allow_undecided, snapshot), forks,
                    ssh, known)
    runs = [o.value for o in outcomes if o.value is not None]
    if fmt is TestFormat.json:
        _emit(_decisions_json(outcomes), output)
    elif fmt in (TestFormat.junit, TestFormat.sarif):
        from mailcfg.reporters import probes

        failed = [(o.target, o.status, o.error or "") for o in outcomes if o.value is None]
        _emit(probes.render_junit(runs, failed) if fmt is TestFormat.junit else
              probes.render_sarif(runs, policy, failed), output)
    else:
        painted = use_color(color, sys.stdout, to_file=output is not None)
        _emit("\n".join(render_test(run, painted) for run in runs), output)
    for run in runs:
        for r in run.results:
            if r.decision is None:
                _say(f"mailcfg: {r.error}")
    code = _failed(outcomes)
    if code or any(run.invalid for run in runs):
        raise typer.Exit(code or 2)
    if any(run.failed for run in runs):
        raise typer.Exit(1)


def _commands_for(argv: list[str]) -> list:
    """The commands to build for this run. Typer inspects the parameters of every registered command at
    each start; running one command needs that one alone. Help on the whole program, shell completion
    and a name that is no command (click names the ones there are) get them all."""
    every = app.registered_commands
    if len(argv) < 2 or "_MAILCFG_COMPLETE" in os.environ:
        return every
    named = [c for c in every if (c.name or c.callback.__name__.replace("_", "-")) == argv[1]]
    return named or every


def main() -> None:
    """Entry point: bad input ends with one line on stderr and exit 2, never a traceback."""
    cliconvert.install()
    every = app.registered_commands
    app.registered_commands = _commands_for(sys.argv)
    try:
        # named `mailcfg` however started (python -m mailcfg): usage lines, and the completion variable
        code = app(standalone_mode=False, prog_name="mailcfg")  # returns the exit code of typer.Exit in this mode
    except MailcfgError as exc:
        _say(f"mailcfg: {exc}")
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _say("mailcfg: aborted")
        sys.exit(130)
    except Exception as exc:
        # Usage errors (click's, or the copy newer typer vendors) know how to show themselves.
        if callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int):
            message = getattr(exc, "message", None)
            if isinstance(message, str):  # newer typer validates through pydantic, which words it its own way
                exc.message = message.removeprefix("Value error, ")
            exc.show()
            sys.exit(exc.exit_code)
        if os.environ.get("MAILCFG_DEBUG"):  # a bug: one line, or the traceback on request
            raise
        _say(f"mailcfg: internal error: {type(exc).__name__}: {exc} (set MAILCFG_DEBUG=1 for details)")
        sys.exit(2)
    finally:
        app.registered_commands = every
    sys.exit(code if isinstance(code, int) else 0)
