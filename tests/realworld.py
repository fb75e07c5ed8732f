"""The public configurations of ../shared/corpus/realworld made runnable by the real daemons.

Each configuration (one Postfix main.cf with its master.cf, or one Exim file) becomes a snapshot
that the real daemon runs and mailcfg analyses: the same files for both. What had to change for
the daemon to start here is done by named steps, each written down in `Setup.steps`, and nothing
else is touched:

- template placeholders get the values an installer would give them (per file, TEMPLATE_VALUES);
- paths of the host (queue, data, command directories, log file, owner) are left to the harness;
- certificates and keys become the harness's test certificate, CA files and DH parameters go;
- a table that is not in the repository (a database file, SQL, LDAP, socketmap, a pattern or list
  file) becomes an empty table at /etc/postfix/... (file types keep their type, the others become
  texthash); a plain list file (`mynetworks = /etc/postfix/mynetworks`) becomes an empty file;
- a milter (a program that does not run here: smtpd would answer 451 to everything) goes;
- master.cf: services run outside a chroot, the SASL socket is the harness's Dovecot, and a service
  on the harness's own check port (10025) goes.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import realpostfix as rp
from conftest import CORPUS

NEUTRAL = "/etc/postfix/mailcfg-neutral"  # where tables the repository does not hold are made empty
CERT = "/etc/postfix/tls/harness-cert.pem"
KEY = "/etc/postfix/tls/harness-key.pem"

# The installers' values for template placeholders (what a new install would write).
TEMPLATE_VALUES: dict[str, dict[str, str]] = {
    "iredmail__iRedMail": {
        "PH_HOSTNAME": "mail.example.com", "PH_SSL_KEY_FILE": KEY, "PH_SSL_CERT_FILE": CERT,
        "PH_POSTFIX_DEFAULT_DB_TYPE": "hash", "PH_POSTFIX_FILE_ALIASES": "/etc/postfix/aliases",
        "PH_POSTFIX_FILE_HEADER_CHECKS": "/etc/postfix/header_checks",
        "PH_POSTFIX_FILE_BODY_CHECKS": "/etc/postfix/body_checks.pcre",
        "PH_POSTFIX_FILE_SMTPD_COMMAND_FILTER": "/etc/postfix/command_filter.pcre",
        "PH_POSTFIX_FILE_HELO_ACCESS": "/etc/postfix/helo_access.pcre",
        "PH_POSTFIX_FILE_SENDER_ACCESS": "/etc/postfix/sender_access.pcre",
        "PH_IREDAPD_SERVER_ADDRESS": "127.0.0.1", "PH_IREDAPD_LISTEN_PORT": "7777",
        "PH_IREDAPD_SRS_FORWARD_PORT": "7778", "PH_IREDAPD_SRS_REVERSE_PORT": "7779",
        "PH_DOVECOT_SERVICE_QUOTA_STATUS_PORT": "12340", "PH_SYS_USER_VMAIL_UID": "2000",
        "PH_SYS_GROUP_VMAIL_GID": "2000", "PH_STORAGE_BASE_DIR": "/var/vmail",
        "PH_MESSAGE_SIZE_LIMIT_BYTES": "15728640",
        "PH_LOCAL_ADDRESS": "127.0.0.1", "PH_POSTFIX_MAIL_REINJECT_PORT": "10027",
        "PH_POSTFIX_MLMMJ_REINJECT_PORT": "10028", "PH_AMAVISD_MYNETWORKS": "127.0.0.0/8",
        "PH_AMAVISD_CONTENT_FILTER_ORIGINATING": "smtp-amavis:[127.0.0.1]:10026", "PH_AMAVISD_MAX_SERVERS": "4",
        "PH_SYS_USER_VMAIL": "vmail", "PH_SYS_GROUP_VMAIL": "vmail", "PH_SYS_USER_MLMMJ": "mlmmj",
        "PH_SYS_GROUP_MLMMJ": "mlmmj", "PH_DOVECOT_DELIVER_BIN": "/usr/lib/dovecot/deliver",
        "PH_CMD_MLMMJ_AMIME_RECEIVE": "/usr/bin/mlmmj-amime-receive", "PH_MLMMJ_SPOOL_DIR": "/var/vmail/mlmmj",
        "PH_SSL_CA_FILE": "", "PH_SSL_CERT_DIR": "", "PH_SSL_DH512_PARAM_FILE": "", "PH_SSL_DH1024_PARAM_FILE": "",
        # directories and programs: the harness's (the lines are commented out below)
        "PH_QUEUE_DIRECTORY": "", "PH_COMMAND_DIRECTORY": "", "PH_DAEMON_DIRECTORY": "", "PH_DATA_DIRECTORY": "",
        "PH_MAIL_OWNER": "", "PH_SENDMAIL_PATH": "", "PH_NEWALIASES_PATH": "", "PH_MAILQ_PATH": "",
        "PH_SETGID_GROUP": "",
    },
    # modoboa's installer: %{flag} is "" when the feature is on and "#" when off (rspamd, not amavis)
    "modoboa__modoboa-installer": {
        "%{dovecot_enabled}": "", "%{rspamd_enabled}": "", "%{rspamd_disabled}": "#", "%{amavis_enabled}": "#",
        "%{opendkim_enabled}": "#", "%{opendkim_port}": "12345", "%{db_driver}": "pgsql", "%{dhe_group}": "2048",
        "%{dovecot_mailboxes_owner}": "vmail", "%hostname": "mail.example.com", "%message_size_limit": "10240000",
        "%tls_cert_file": CERT, "%tls_key_file": KEY,
    },
    # Exim's source: the build writes the aliases file's path in (Makefile SYSTEM_ALIASES_FILE)
    "Exim__exim": {"{SYSTEM_ALIASES_FILE}": "{/etc/aliases}"},
    # Go templates (hardware/mailserver): the SQL (not LDAP) branch
    "hardware__mailserver": {
        "{{ .RECIPIENT_DELIMITER }}": "+", "{{ .FQDN }}": "mail.example.com", "{{ .DOMAIN }}": "example.com",
        "{{ .RELAY_NETWORKS }}": "", "{{ .FULLCHAIN }}": CERT, "{{ .KEYFILE }}": KEY, "{{ .DBDRIVER }}": "pgsql",
        "{{ .VMAILUID }}": "1024", "{{ .VMAILGID }}": "1024",
    },
}
# Go template conditionals: the branch not taken (regular expressions of what goes)
GO_BRANCHES_DROPPED: dict[str, tuple[str, ...]] = {
    "hardware__mailserver": (r'\{\{ if eq \.DBDRIVER "ldap" \}\}.*?\{\{ else \}\}\n?', r"\{\{ end \}\}\n?"),
}
# Postfix's own $name expansion written out where a table type is built from a prefix parameter
# (`podop = socketmap:unix:/tmp/podop.socket:` then `${podop}alias`), so the table can be made empty
PREFIX_TABLES: dict[str, tuple[str, str]] = {"Mailu__Mailu": ("podop", "socketmap:unix:/tmp/podop.socket:")}
# Host files a setting names that are no table: what they hold on a fresh install
HOST_FILES = {"/etc/mailname": "example.com\n"}
# Docker images' environment (${env{NAME}{$value}...} in Exim files): what a deployment passes, as the
# images' documentation shows it; credentials stay unset (client side only)
ENV_VALUES: dict[str, dict[str, str]] = {
    "appwrite__docker-smtp": {"LOCAL_DOMAINS": "example.com", "RELAY_TO_DOMAINS": "relay.example",
                              "RELAY_FROM_HOSTS": "127.0.0.1;10.0.0.0/8", "SMARTHOST_HOST": "smtp.example.net",
                              "SMARTHOST_PORT": "587"},
    "bambocher__docker-exim-relay": {"RELAY_FROM_HOSTS": "127.0.0.1 : 10.0.0.0/8 : 172.16.0.0/12",
                                     "DKIM_SELECTOR": "default", "DKIM_SIGN_HEADERS": "From:To:Subject"},
    "devture__exim-relay": {"LOCAL_DOMAINS": "example.com", "RELAY_TO_DOMAINS": "", "RELAY_TO_USERS": "",
                            "RELAY_FROM_HOSTS": "10.0.0.0/8"},
}
# variables the images leave unset by default: ${env{NAME}{if set}{if not}} is its "if not" branch
ENV_UNSET: dict[str, tuple[str, ...]] = {"devture__exim-relay": ("DISABLE_SENDER_VERIFICATION",)}
ENV_CHOICE = re.compile(r"\$\{env\{(\w+)\}\{([^{}$]*)\}\{([^{}$]*)\}\}")
ENV_LOOKUP = re.compile(r"\$\{env\{(\w+)\}\{\$value\}\s*(?:fail\s*|\{[^{}]*\}\s*)\}")
# Host paths of another distribution, as this host (and its snapshot) has them
EXIM_PATHS: dict[str, dict[str, str]] = {"devture__exim-relay": {"/etc/mail/aliases": "/etc/aliases"}}
# Jinja2 templates (Mailu): rendered with these variables, as Mailu's start script does
JINJA_VALUES: dict[str, dict[str, object]] = {
    "Mailu__Mailu": {"DOMAIN": "example.com", "HOSTNAMES": "mail.example.com", "MESSAGE_SIZE_LIMIT": "50000000",
                     "SUBNET": "192.168.203.0/24", "SUBNET6": None, "RELAYNETS": "", "RELAYHOST": "",
                     "RELAYUSER": "", "RECIPIENT_DELIMITER": "+", "DEFER_ON_TLS_ERROR": True,
                     "FRONT_ADDRESS": "192.168.203.2", "ANTISPAM_ADDRESS": "192.168.203.3",
                     "REJECT_UNLISTED_RECIPIENT": None},
}

# main.cf parameters that name the host's own directories, programs, owner and log: the harness's own apply
HOST_PATHS = ("queue_directory", "command_directory", "daemon_directory", "data_directory", "meta_directory",
              "shlib_directory", "mail_owner", "setgid_group", "sendmail_path", "newaliases_path", "mailq_path",
              "manpage_directory", "sample_directory", "readme_directory", "html_directory", "maillog_file")
CERT_PARAMS = {"smtpd_tls_cert_file": CERT, "smtpd_tls_key_file": KEY, "smtpd_tls_chain_files": f"{KEY} {CERT}"}
TLS_FILES = ("smtpd_tls_CAfile", "smtpd_tls_CApath", "smtpd_tls_dh512_param_file", "smtpd_tls_dh1024_param_file",
             "smtpd_tls_eccert_file", "smtpd_tls_eckey_file", "smtpd_tls_dcert_file", "smtpd_tls_dkey_file",
             "tls_server_sni_maps", "tls_config_file", "tls_config_name")
MILTERS = ("smtpd_milters", "non_smtpd_milters")
FILE_TYPES = {"regexp", "pcre", "cidr", "texthash"}  # keep their type; an empty file of it
OTHER_TYPES = {"hash", "btree", "lmdb", "cdb", "dbm", "sdbm", "mysql", "pgsql", "ldap", "sqlite", "memcache"}
TABLE = re.compile(r"(?:proxy:)?(?P<type>[a-z]+):(?P<path>(?:unix|inet):[^\s,]+|/[^\s,}]+)")
LIST_FILE_PARAMS = ("myorigin", "mynetworks", "relay_domains", "mydestination", "virtual_alias_domains",
                    "virtual_mailbox_domains", "permit_mx_backup_networks")


@dataclass
class Setup:
    """One corpus configuration made runnable: its snapshot, what was changed, or why it cannot run."""

    name: str  # the corpus folder, e.g. "Mailu__Mailu"
    system: str  # postfix | exim
    files: list[str]  # the manifest rows (corpus paths) it is made of
    root: Path | None = None
    steps: list[str] = field(default_factory=list)
    why_not: str | None = None


def manifest() -> list[dict[str, str]]:
    with (CORPUS / "MANIFEST.tsv").open() as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def postfix_folders() -> list[Path]:
    return sorted(p for p in (CORPUS / "postfix").iterdir() if p.is_dir())


def _find(folder: Path, stem: str) -> Path | None:
    return next((p for p in sorted(folder.iterdir()) if re.search(rf"(^|__){stem}(\.example|\.tpl)?$", p.name)),
                None)


def _substitute(name: str, text: str, steps: list[str], what: str) -> str:
    for branch in GO_BRANCHES_DROPPED.get(name, ()):
        text, n = re.subn(branch, "", text, flags=re.S)
        if n:
            steps.append(f"{what}: Go template: {n} branch(es) not taken removed ({branch[:40]}...)")
    values = TEMPLATE_VALUES.get(name)
    if values:
        used = sorted(k for k in values if k in text)
        for key in sorted(values, key=len, reverse=True):
            text = text.replace(key, values[key])
        if used:
            steps.append(f"{what}: template placeholders substituted ({len(used)}: {', '.join(used[:6])}"
                         f"{', ...' if len(used) > 6 else ''})")
        left = sorted(set(re.findall(r"PH_[A-Z0-9_]+|%\{\w+\}|\{\{[^}]*\}\}", text)))
        assert not left, f"{name} {what}: placeholders without a value: {left}"
    if name in ENV_VALUES:
        env = ENV_VALUES[name]
        text = ENV_LOOKUP.sub(lambda m: env.get(m[1], m[0]), text)
        values = ", ".join(f"{k}={v}" for k, v in env.items())
        steps.append(f"{what}: the container's environment written in ({values})")
    if name in ENV_UNSET:
        unset = ENV_UNSET[name]
        text = ENV_CHOICE.sub(lambda m: m[3] if m[1] in unset else m[0], text)
        steps.append(f"{what}: the container's environment leaves {', '.join(unset)} unset (its default)")
    for path, here in EXIM_PATHS.get(name, {}).items():
        text = text.replace(path, here)
        steps.append(f"{what}: {path} (another distribution's path, not on this host) is {here} here")
    if name in PREFIX_TABLES:
        prefix, value = PREFIX_TABLES[name]
        text, n = re.subn(r"\$\{" + prefix + r"\}(\w+)", lambda m: value + m[1], text)
        if n:
            steps.append(f"{what}: ${{{prefix}}}NAME written out as {value}NAME ({n} tables)")
    if name in JINJA_VALUES:
        import jinja2

        env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
        text = env.from_string(text).render(**JINJA_VALUES[name])
        steps.append(f"{what}: Jinja2 template rendered ({', '.join(sorted(JINJA_VALUES[name]))})")
    return text


def _logical_lines(lines: list[str]) -> list[tuple[int, int]]:
    """(first, end) line indexes of each main.cf setting with its continuation lines."""
    spans, i = [], 0
    while i < len(lines):
        j = i + 1
        while j < len(lines) and lines[j][:1] in (" ", "\t") and lines[j].strip():
            j += 1
        spans.append((i, j))
        i = j
    return spans


def _neutral_path(path: str) -> str:
    return path if path.startswith("/etc/postfix/") else f"{NEUTRAL}/{path.strip('/').replace('/', '_')}"


def _tables(text: str, steps: list[str], empty: set[str], what: str) -> str:
    changed: list[str] = []

    def table(m: re.Match) -> str:
        kind, path = m["type"], m["path"]
        if kind in FILE_TYPES and path.startswith("/"):
            target = _neutral_path(path)
            new = f"{kind}:{target}"
        elif kind in OTHER_TYPES or kind in ("socketmap", "tcp"):
            target = _neutral_path(path if path.startswith("/") else "/" + path.replace(":", "_"))
            new = f"texthash:{target}"
        else:
            return m.group(0)
        empty.add(target)
        if new != m.group(0):
            changed.append(f"{m.group(0)} -> {new}")
        return new

    out = []
    for line in text.splitlines(keepends=True):
        name = line.split("=", 1)[0].strip()
        if line.lstrip().startswith("#") or "cache" in name or name in ("address_verify_map", "proxy_write_maps"):
            out.append(line)
        else:
            out.append(TABLE.sub(table, line))
    if changed or empty:
        steps.append(f"{what}: tables not in the repository made empty ({len(set(changed))} rewritten: "
                     f"{'; '.join(sorted(set(changed))[:4])}{'; ...' if len(set(changed)) > 4 else ''})")
    return "".join(out)


def _main_cf(text: str, steps: list[str], empty: set[str], host_files: dict[str, str]) -> str:
    lines = text.replace("\r\n", "\n").splitlines()
    gone, certs = [], []
    for first, end in _logical_lines(lines):
        m = re.match(r"\s*([A-Za-z0-9_]+)\s*=\s*(.*)", lines[first])
        if not m or lines[first].startswith("#"):
            continue
        name, value = m[1], " ".join([m[2], *(line.strip() for line in lines[first + 1:end])])
        if name in MILTERS and value.strip():
            lines[first] = f"{name} ="
            for k in range(first + 1, end):
                lines[k] = "#mailcfg-neutralised# " + lines[k]
            steps.append(f"main.cf: {name} emptied: the milter ({value.strip()}) is a program that does not run "
                         f"here, and smtpd would answer every command 451 without it")
        elif name in HOST_PATHS or (name in TLS_FILES and value.strip()):
            for k in range(first, end):
                lines[k] = "#mailcfg-neutralised# " + lines[k]
            gone.append(name)
        elif name in CERT_PARAMS and value.strip():
            lines[first] = f"{name} = {CERT_PARAMS[name]}"
            for k in range(first + 1, end):
                lines[k] = "#mailcfg-neutralised# " + lines[k]
            certs.append(name)
        elif name in LIST_FILE_PARAMS:
            for k in range(first, end):
                for path in re.findall(r"(?:^|[\s,=])(/[^\s,]+)", lines[k] if k > first else m[2]):
                    new = _neutral_path(path)
                    lines[k] = lines[k].replace(path, new)
                    if path in HOST_FILES:
                        host_files[new] = HOST_FILES[path]
                        steps.append(f"main.cf: {name} names the host file {path}: one with "
                                     f"{HOST_FILES[path].strip()!r} at {new}")
                        continue
                    empty.add(new)
                    steps.append(f"main.cf: {name} names the file {path}, not in the repository: an empty one")
    if gone:
        steps.append(f"main.cf: host paths and TLS files left to the harness ({', '.join(gone)})")
    if certs:
        steps.append(f"main.cf: the harness's test certificate ({', '.join(certs)})")
    return "\n".join(lines) + "\n"


def _master_cf(text: str, steps: list[str]) -> str:
    out, skip, chroot, dropped = [], False, False, []
    for line in text.replace("\r\n", "\n").splitlines():
        if skip and line[:1] in (" ", "\t") and line.strip():
            out.append("#mailcfg-neutralised# " + line)
            continue
        skip = False
        fields = line.split()
        if len(fields) >= 8 and not line.startswith(("#", " ", "\t")):
            if fields[1] == "inet" and fields[0].rsplit(":", 1)[-1] == str(rp.CHECK_PORT):
                out.append("#mailcfg-neutralised# " + line)
                dropped.append(fields[0])
                skip = True
                continue
            if fields[4] != "n":  # chroot "y" or "-": nothing is set up for a chroot here
                line = re.sub(r"^(\S+\s+\S+\s+\S+\s+\S+\s+)\S+", r"\1n", line)
                chroot = True
        elif re.match(r"\s+-o\s*smtpd_milters\s*=\s*\S", line):
            out.append(re.sub(r"=.*", "=", line))
            steps.append("master.cf: an -o smtpd_milters emptied (the milter does not run here)")
            continue
        elif re.match(r"\s+-o\s*smtpd_sasl_path\s*=", line):
            out.append("#mailcfg-neutralised# " + line)
            steps.append("master.cf: an -o smtpd_sasl_path override goes (the harness's Dovecot is the SASL server)")
            continue
        out.append(line)
    if chroot:
        steps.append("master.cf: services run without chroot")
    names = {line.split()[0] for line in out if line.strip() and not line.startswith(("#", " ", "\t"))}
    missing = [line for line in rp.INTERNAL_SERVICES.splitlines()
               if line[:1].strip() and line.split()[0] not in names]
    if missing:
        out += missing
        steps.append(f"master.cf: stock internal services it lacks added ({', '.join(m.split()[0] for m in missing)})"
                     + ("; postlog: the harness logs to a file, through postlogd" if "postlog" in missing[-1] else ""))
    if dropped:
        steps.append(f"master.cf: the service on port {rp.CHECK_PORT} goes ({', '.join(dropped)}): the harness "
                     f"checks its own smtpd there")
    return "\n".join(out) + "\n"


POLICY_TIMING = "smtpd_policy_service_try_limit = 1\n"
STOCK_MASTER = "smtp      inet  n       -       n       -       -       smtpd"
# master.cf files that are what an installer appends to the distribution's own
FRAGMENTS = {"iredmail__iRedMail": "the installer appends these services to the distribution's master.cf"}


def postfix_setup(folder: Path, out: Path, cert: tuple[Path, Path], files: list[str]) -> Setup:
    """The snapshot at OUT for the Postfix configuration in FOLDER (main.cf, and master.cf when it has one)."""
    setup = Setup(folder.name, "postfix", files, out)
    main, master = _find(folder, "main.cf"), _find(folder, "master.cf")
    if main is None:
        setup.why_not = "no main.cf"
        return setup
    if out.exists():
        shutil.rmtree(out)
    etc = out / "etc" / "postfix"
    etc.mkdir(parents=True)
    empty: set[str] = set()
    host_files: dict[str, str] = {}
    text = _substitute(folder.name, main.read_text(errors="replace"), setup.steps, "main.cf")
    text = _tables(_main_cf(text, setup.steps, empty, host_files), setup.steps, empty, "main.cf")
    if "check_policy_service" in text:
        text += POLICY_TIMING
        setup.steps.append("main.cf: a policy service that is not here is tried once, not twice a second apart "
                           "(smtpd_policy_service_try_limit = 1): the same 451, sooner")
    (etc / "main.cf").write_text(text)
    if master is not None:
        mtext = _substitute(folder.name, master.read_text(errors="replace"), setup.steps, "master.cf")
        if folder.name in FRAGMENTS:
            mtext = STOCK_MASTER + "\n" + mtext
            setup.steps.append(f"master.cf: {FRAGMENTS[folder.name]}: the stock smtp inet service put before it")
        mtext = _tables(_master_cf(mtext, setup.steps), setup.steps, empty, "master.cf")
    else:
        mtext = rp.master_cf([STOCK_MASTER])
        setup.steps.append("no master.cf in the repository: the stock one (smtp inet smtpd only)")
    (etc / "master.cf").write_text(mtext)
    for path in sorted(empty):
        target = out / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
    for path, content in host_files.items():
        (out / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (out / path.lstrip("/")).write_text(content)
    if CERT in text or CERT in mtext:
        (etc / "tls").mkdir(exist_ok=True)
        shutil.copyfile(cert[0], etc / "tls" / "harness-cert.pem")
        shutil.copyfile(cert[1], etc / "tls" / "harness-key.pem")
        (etc / "tls" / "harness-key.pem").chmod(0o600)
    rp.finish_snapshot(out)
    shutil.copyfile("/etc/hosts", out / "etc" / "hosts")  # how the namespace resolves inet_interfaces names
    facts = out / ".mailcfg-host"
    facts.mkdir()
    (facts / "facts.json").write_text(json.dumps(rp.namespace_facts(), indent=1))
    return setup


# ------------------------------------------------------------------------------------------------
# The standard probe set: the one tests/postfix_generator.py sends, for this configuration's services
# and domains.
# ------------------------------------------------------------------------------------------------

PROBED_PORTS = (25, 587, 465)


@dataclass
class _Described:
    """What postfix_generator._probes reads from its builder, taken from a configuration instead."""

    services: list[dict]
    client_names: list[str]
    helo_keys: list[str]
    sender_keys: list[str]
    rcpt_keys: list[str]


def postfix_probes(config, name: str) -> list:
    """The generator's probe battery for CONFIG: each smtpd on 25, 587 or 465 (behind postscreen too; one that
    listens on loopback only answers the same probes there)."""
    import random

    import postfix_generator as pg
    from mailcfg.postfix.probes import access_keys, final_domains, local_domains
    from mailcfg.postfix.services import port, views
    from mailcfg.postfix.tls import auth_needs_tls, offers_tls, tls_mode

    services = []
    for service, view in views(config):
        number = port(config, service)
        if number not in PROBED_PORTS:
            continue
        services.append({"name": service.name, "port": number, "sasl": view.yes("smtpd_sasl_auth_enable"),
                         "tls": offers_tls(view), "encrypt": tls_mode(view) == "encrypt",
                         "auth_only": auth_needs_tls(view), "wrapper": tls_mode(view) == "wrapper"})
    main = views(config)[0][1] if views(config) else None
    if not services or main is None:
        return []
    # the first service's view names the domains (port 25's when there is one)
    view = next(v for s, v in views(config) if s.name == services[0]["name"])
    hostname = view.get("myhostname")
    locals_ = local_domains(view)
    finals = [d for d in final_domains(view) if d not in locals_]
    described = _Described(services, [], access_keys(view, "check_helo_access")[:3],
                           access_keys(view, "check_sender_access")[:3],
                           access_keys(view, "check_recipient_access")[:3])
    rng = random.Random(f"realworld-{name}")
    relay_rcpts = [f"x@{d}" for d in finals[:2]] or [f"x@{pg.RELAY}"]
    virtual = [f"postmaster@{d}" for d in finals[2:4]]
    return pg.probe_battery(described, rng, hostname, locals_, relay_rcpts, virtual, 400,
                            random.Random(f"realworld-{name}-smtps"))


# ------------------------------------------------------------------------------------------------
# Exim: a file Exim runs with -C (plain), or Debian's settings completed with the package's /etc/exim4.
# ------------------------------------------------------------------------------------------------

EXIM_CONF = "etc/exim4/exim4.conf"


def exim_folders() -> list[Path]:
    return sorted(p for p in (CORPUS / "exim").iterdir() if p.is_dir())


def _exim_text(text: str, steps: list[str]) -> str:
    """Neutralise a plain Exim file line for line (every line keeps its number)."""
    import realexim as rx

    tls = rx.harness_certificate()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"(openssl_options|tls_certificate|tls_privatekey|exim_user|exim_group)\s*=", line)
        account = re.match(r"(\s+)(user|group)\s*=\s*([\w.-]+)\s*$", line)
        if account and not _known_account(account[2], account[3]):
            lines[i] = f"{account[1]}{account[2]} = Debian-exim"
            steps.append(f"a transport's {account[2]} {account[3]}: Debian-exim (an account this host has)")
            continue
        if not m:
            continue
        end = i
        while lines[end].rstrip().endswith("\\") and end + 1 < len(lines):
            end += 1
        name = m[1]
        new = {"openssl_options": "", "tls_certificate": f"tls_certificate = {tls.cert}",
               "tls_privatekey": f"tls_privatekey = {tls.key}", "exim_user": "exim_user = Debian-exim",
               "exim_group": "exim_group = Debian-exim"}[name]
        lines[i] = new
        for k in range(i + 1, end + 1):
            lines[k] = ""
        steps.append({"openssl_options": "openssl_options goes: this Exim is built with GnuTLS",
                      "tls_certificate": "tls_certificate: the harness's test certificate",
                      "tls_privatekey": "tls_privatekey: the harness's test key",
                      "exim_user": "exim_user: Debian-exim (the account this host has)",
                      "exim_group": "exim_group: Debian-exim (the group this host has)"}[name])
    _client_only_drivers(lines, steps)
    return "\n".join(lines) + "\n"


MISSING_AUTH_DRIVERS = ("spa",)  # authenticator drivers Debian's light build has not


def _client_only_drivers(lines: list[str], steps: list[str]) -> None:
    """An authenticator of a driver this build lacks, client-side only (no server_ option), goes: it
    is used only when Exim sends to a smarthost and decides nothing a client of this server is told."""
    start = next((i for i, line in enumerate(lines) if line.strip() == "begin authenticators"), None)
    if start is None:
        return
    i = start + 1
    while i < len(lines):
        m = re.match(r"([A-Za-z0-9_-]+):\s*$", lines[i])
        if not m:
            if lines[i].strip().startswith("begin "):
                return
            i += 1
            continue
        end = i + 1
        while end < len(lines) and (lines[end][:1] in (" ", "\t", "#") or not lines[end].strip()):
            end += 1
        body = [line.strip() for line in lines[i + 1:end] if not line.strip().startswith("#")]
        driver = next((b.split("=", 1)[1].strip() for b in body if re.match(r"driver\s*=", b)), "")
        if driver in MISSING_AUTH_DRIVERS and not any(b.startswith("server_") for b in body):
            for k in range(i, end):
                lines[k] = "#mailcfg-neutralised# " + lines[k] if lines[k].strip() else lines[k]
            steps.append(f"authenticator {m[1]} goes: driver {driver}, which this Exim build lacks, and client-side "
                         f"only (no server_ option)")
        i = end


def _known_account(kind: str, name: str) -> bool:
    import grp
    import pwd

    try:
        (pwd.getpwnam if kind == "user" else grp.getgrnam)(name)
    except KeyError:
        return False
    return True


def _host_files(root: Path) -> None:
    """What `mailcfg fetch` collects beside the configuration: passwd and aliases, the host name."""
    import socket

    for host_file in ("/etc/passwd", "/etc/aliases"):
        if Path(host_file).exists():
            (root / "etc").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(host_file, root / host_file.lstrip("/"))
    facts = {"hostname": socket.gethostname(), "systems": {"exim": {"version": "4.96"}}}
    (root / ".mailcfg-host").mkdir(parents=True, exist_ok=True)
    (root / ".mailcfg-host" / "facts.json").write_text(json.dumps(facts, indent=1) + "\n")
    for path in [root, *root.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)


@dataclass
class EximRun:
    """The file real Exim runs (-C) and the -D macros for it."""

    config: Path
    macros: dict[str, str] = field(default_factory=dict)


def exim_setup(folder: Path, out: Path, work: Path, files: list[str]) -> tuple[Setup, EximRun | None]:
    """The snapshot at OUT for the Exim configuration in FOLDER, and what real Exim runs for it (made in WORK)."""
    import realexim as rx

    setup = Setup(folder.name, "exim", files, out)
    if out.exists():
        shutil.rmtree(out)
    debconf = folder / "update-exim4.conf.conf"
    work.mkdir(parents=True, exist_ok=True)
    if debconf.exists():
        confdir = rx.stock_confdir(out / "etc" / "exim4")
        shutil.copy(debconf, confdir / "update-exim4.conf.conf")
        setup.steps.append("Debian settings only: the package's own /etc/exim4 (exim4-config 4.96) completes them")
        for part in sorted(folder.glob("conf.d__*")):
            target = confdir / part.name.replace("__", "/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(part, target)
        _host_files(out)
        try:
            real = rx.debian_generate(confdir, work / f"{folder.name}.conf")
        except rx.EximError as exc:
            setup.why_not = f"update-exim4.conf fails: {str(exc).splitlines()[0]}"
            return setup, None
        tls = rx.harness_certificate()
        return setup, EximRun(real, {"MAIN_TLS_CERTIFICATE": str(tls.cert), "MAIN_TLS_PRIVATEKEY": str(tls.key)})
    source = next(p for p in sorted(folder.iterdir()) if p.is_file())
    text = _exim_text(_substitute(folder.name, source.read_text(errors="replace"), setup.steps, "exim"), setup.steps)
    (out / "etc" / "exim4").mkdir(parents=True)
    (out / EXIM_CONF).write_text(text)
    _host_files(out)
    real = rx.write_config(work / f"{folder.name}.conf", text)
    check = rx.check_config(real)
    if not check.ok:
        setup.why_not = "Exim refuses it: " + " ".join(check.error.split("\n")[-1:]).strip()
    return setup, EximRun(real)


def exim_probes(config, name: str) -> list:
    """The Exim generator's probe battery, with its domains replaced by this configuration's own and its
    port 25 by the first port this configuration listens on."""
    import random
    from dataclasses import replace

    import exim_generator as eg
    from mailcfg.exim.probes import listening_ports, local_domain_names

    locals_ = [d for d in local_domain_names(config) if "." in d]
    hostname = config.option("primary_hostname") or config.snapshot.facts.hostname
    names = {eg.LOCAL: (locals_ or [hostname])[0], eg.LOCAL2: (locals_[1:] or [hostname])[0], eg.HOSTNAME: hostname}
    ports = listening_ports(config)

    def mapped(address: str) -> str:
        for generic, own in names.items():
            address = re.sub(rf"@{re.escape(generic)}$", f"@{own}", address)
        return address

    out = []
    for probe in eg._probes(random.Random(f"realworld-{name}")):  # the battery test_exim_differential sends
        port = probe.port or 25
        if port == 25 and 25 not in ports:
            port = ports[0]
        out.append(replace(probe, rcpt=mapped(probe.rcpt), sender=mapped(probe.sender), port=port))
    return out
