#!/usr/bin/python3
"""A stand-in for Plesk's `plesk` command, for tests (installed as `plesk` on the sshd-served test host).

Only what mailcfg relies on is modelled, each with the tag of the fact it rests on
(../shared/reference/plesk.md and plesk-postfix.md):

- /etc/psa/psa.conf, `KEY value` lines (PRODUCT_ROOT_D, ...)                                   [V]
- `plesk version`: a `Product version: Plesk Obsidian 18.0.NN.N` line among others               [V]
- `plesk db [-N] [-B] [-s] -e QUERY`: psa's tables, rows printed tab-separated, no header with -N  [V] syntax,
  [V-3p] tab-separated output. Here psa is SQLite (/etc/psa/psa.sqlite) and only SELECT is allowed (mailcfg
  never writes through `plesk db`); any other statement fails as the real one fails on bad SQL (exit 1).
- psa `misc(param, val)` with relay, disable_smtp_auth, disable_pop_auth, poplock_time,
  message_submission                                                                              [V] names
- psa `smtp_poplocks(ip_address, ip_mask, lock_time)`; white list = rows without a lock time       [V] table, [I] rows
- `plesk bin mailserver --help`: lists the switches below                                          [I] wording
- `--set-relay auth -auth-type pop3|smtp|both [-lock-time N]`                                      [V-3p]
- `--set-relay open|closed`                                                                        [I]
- `--set-message-submission true|false`                                                            [I]
- `--add-to-white-list` / `--remove-from-white-list ip/mask[,ip/mask]`                             [I]
- after every change Plesk regenerates the Postfix parameters it manages ([V-3p] plesk-postfix.md §1.1(d)):
  mynetworks = the white list ([I, fairly strong] §1.3); in relay mode auth with SMTP AUTH,
  smtpd_sasl_auth_enable = yes and permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
  ([V-3p] §1.2); closed: no SASL, only mynetworks relays ([I]); open: an access check that says OK to
  every client before the destination check ([I]: the form is [NF]; smtpd refuses a bare `permit` there);
  master.cf gets a submission service on 587 with SASL when message submission is on
  ([I] §1.5), which is removed when it is off. Other lines of main.cf and master.cf are kept. Postfix is
  reloaded when it runs.
- A test makes the next run of one switch fail after changing the rows (a half-done change, exit 1) by
  writing the switch's name to /etc/psa/fail-once.

Paths are under $FAKEPLESK_ROOT (default /) so tests can drive it without a namespace.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(os.environ.get("FAKEPLESK_ROOT", "/"))
DB = "etc/psa/psa.sqlite"
MAPS_DIR = "/var/spool/postfix/plesk/"
VERSION = "Product version: Plesk Obsidian 18.0.61.5\nOS version: Debian 12.0 x86_64\n" \
          "Build date: 2024/05/14 13:00\nRevision: 5b5fa5c6e3d4\n"
HELP = """Usage: mailserver command [options]

Available commands:
  --set-relay <open|closed|auth>   Set the mail relay mode
      -auth-type <pop3|smtp|both>  Authorization types for the auth mode
      -lock-time <minutes>         POP3 lock time
  --set-message-submission <true|false>  Allow sending through port 587
  --add-to-white-list <ip/mask[,ip/mask]>       Add networks to the white list
  --remove-from-white-list <ip/mask[,ip/mask]>  Remove networks from the white list
  --set-max-letter-size <size>     Set the maximum message size
  --help                           Display help
"""
DEFAULTS = {"relay": "auth", "disable_smtp_auth": "false", "disable_pop_auth": "true", "poplock_time": "20",
            "message_submission": "true"}
MANAGED = ("mynetworks", "smtpd_sasl_auth_enable", "smtpd_relay_restrictions", "smtpd_recipient_restrictions")


def connect(root: Path = ROOT) -> sqlite3.Connection:
    db = sqlite3.connect(root / DB)
    db.execute("CREATE TABLE IF NOT EXISTS misc (param TEXT PRIMARY KEY, val TEXT NOT NULL)")
    db.execute("CREATE TABLE IF NOT EXISTS smtp_poplocks (ip_address TEXT NOT NULL, ip_mask INTEGER NOT NULL "
               "DEFAULT 32, lock_time TEXT NULL)")
    return db


def install(root: Path, settings: dict[str, str] | None = None, whitelist: list[str] = ()) -> None:
    """A Plesk host's /etc/psa under `root`, with these settings (DEFAULTS for the rest) and white list,
    and the Postfix files generated from them."""
    (root / "etc/psa").mkdir(parents=True, exist_ok=True)
    (root / "etc/psa/psa.conf").write_text("PRODUCT_ROOT_D /usr/local/psa\nQMAIL_ROOT_D /var/qmail\n"
                                           "PLESK_MAILNAMES_D /var/qmail/mailnames\n")
    with connect(root) as db:
        for param, val in {**DEFAULTS, **(settings or {})}.items():
            db.execute("REPLACE INTO misc VALUES (?, ?)", (param, val))
        for net in whitelist:
            address, _, mask = net.partition("/")
            db.execute("INSERT INTO smtp_poplocks VALUES (?, ?, NULL)", (address, int(mask or 32)))
    generate(root)


def state(db: sqlite3.Connection) -> tuple[dict[str, str], list[tuple[str, int]]]:
    misc = dict(db.execute("SELECT param, val FROM misc"))
    white = list(db.execute("SELECT ip_address, ip_mask FROM smtp_poplocks WHERE lock_time IS NULL"))
    return misc, white


def _on(value: str | None) -> bool:
    """disable_* rows as Plesk reads them: Perl truth ([V]); `false` reads as not disabled ([I])."""
    return (value or "").lower() not in ("", "0", "false", "no", "off")


def postfix_values(misc: dict[str, str], white: list[tuple[str, int]]) -> dict[str, str]:
    nets = []
    for address, mask in white:
        net = ipaddress.ip_network(f"{address}/{mask}", strict=False)
        nets.append(f"[{net.network_address}]/{net.prefixlen}" if net.version == 6 else str(net))
    relay = misc.get("relay", "auth")
    sasl = relay == "auth" and not _on(misc.get("disable_smtp_auth"))
    values = {"mynetworks": " ".join(nets), "smtpd_sasl_auth_enable": "yes" if sasl else "no"}
    if relay == "open":  # smtpd refuses a list that permits everyone before its destination check
        values["smtpd_relay_restrictions"] = \
            "permit_mynetworks permit_sasl_authenticated check_client_access static:OK defer_unauth_destination"
        values["smtpd_recipient_restrictions"] = \
            "permit_mynetworks, permit_sasl_authenticated, check_client_access static:OK, reject_unauth_destination"
    else:
        sasl_step = "permit_sasl_authenticated " if sasl else ""
        values["smtpd_relay_restrictions"] = f"permit_mynetworks {sasl_step}defer_unauth_destination"
        values["smtpd_recipient_restrictions"] = \
            "permit_mynetworks, " + ("permit_sasl_authenticated, " if sasl else "") + "reject_unauth_destination"
    return values


SUBMISSION = ("submission inet n       -       {chroot}       -       -       smtpd\n"
              "  -o smtpd_sasl_auth_enable=yes\n"
              "  -o smtpd_client_restrictions=permit_sasl_authenticated,reject\n")


def generate(root: Path = ROOT) -> None:
    """main.cf's managed parameters and master.cf's submission service, from psa."""
    with connect(root) as db:
        misc, white = state(db)
    conf = root / "etc/postfix"
    conf.mkdir(parents=True, exist_ok=True)
    main = conf / "main.cf"
    text = main.read_text() if main.exists() else ""
    for name, value in postfix_values(misc, white).items():
        line = f"{name} = {value}\n"
        pattern = re.compile(rf"^{name}[ \t]*=.*\n(?:[ \t]+.*\n)*", re.M)
        text = pattern.sub(line.replace("\\", "\\\\"), text, count=1) if pattern.search(text) else text + line
    _replace(main, text)
    master = conf / "master.cf"
    text = master.read_text() if master.exists() else "smtp      inet  n       -       y       -       -       smtpd\n"
    text = re.sub(r"^submission[ \t]+inet.*\n(?:[ \t]+.*\n)*", "", text, flags=re.M)
    if misc.get("message_submission") == "true":  # chrooted like the smtp service
        smtp = re.search(r"^smtp[ \t]+inet[ \t]+\S+[ \t]+\S+[ \t]+(\S+)", text, re.M)
        text += SUBMISSION.format(chroot=smtp[1] if smtp else "y")
    _replace(master, text)


def _replace(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.fakeplesk")
    tmp.write_text(text)
    os.replace(tmp, path)


def _reload() -> None:
    if Path("/") == ROOT:
        subprocess.run(["postfix", "reload"], capture_output=True, check=False)


def mailserver(args: list[str]) -> int:
    if not args or args[0] in ("--help", "-h"):
        print(HELP, end="")
        return 0
    switch, rest = args[0], args[1:]
    options = dict(zip(rest[1::2], rest[2::2], strict=False))
    fail = ROOT / "etc/psa/fail-once"
    with connect() as db:
        kind = options.get("-auth-type")
        if switch == "--set-relay" and rest[:1] == ["auth"] and kind not in ("pop3", "smtp", "both"):
            print("ERROR: -auth-type pop3|smtp|both is required with auth", file=sys.stderr)
            return 1
        if switch == "--set-relay" and rest and rest[0] in ("open", "closed", "auth"):
            db.execute("REPLACE INTO misc VALUES ('relay', ?)", (rest[0],))
            if kind:
                db.execute("REPLACE INTO misc VALUES ('disable_pop_auth', ?)",
                           ("false" if kind in ("pop3", "both") else "true",))
                db.execute("REPLACE INTO misc VALUES ('disable_smtp_auth', ?)",
                           ("false" if kind in ("smtp", "both") else "true",))
            if "-lock-time" in options:
                db.execute("REPLACE INTO misc VALUES ('poplock_time', ?)", (options["-lock-time"],))
        elif switch == "--set-message-submission" and rest and rest[0] in ("true", "false"):
            db.execute("REPLACE INTO misc VALUES ('message_submission', ?)", (rest[0],))
        elif switch in ("--add-to-white-list", "--remove-from-white-list") and rest:
            for net in rest[0].split(","):
                address, _, mask = net.partition("/")
                db.execute("DELETE FROM smtp_poplocks WHERE ip_address = ? AND lock_time IS NULL", (address,))
                if switch == "--add-to-white-list":
                    db.execute("INSERT INTO smtp_poplocks VALUES (?, ?, NULL)", (address, int(mask or 32)))
        else:
            print(f"ERROR: unknown or incomplete command: {' '.join(args)}", file=sys.stderr)
            return 1
    if fail.exists() and fail.read_text().strip() == switch:
        fail.unlink()
        print("ERROR: the mail server configuration could not be updated", file=sys.stderr)
        return 1
    generate()
    _reload()
    return 0


def db_query(args: list[str]) -> int:
    words = [a for a in args if not re.fullmatch(r"-[NBse]+", a)]  # -N, -B, -s, -e and their bundles
    query = words[-1] if words else ""
    if not re.match(r"\s*select\b", query, re.I):
        print("ERROR 1142 (42000): the stand-in answers SELECT only", file=sys.stderr)
        return 1
    try:
        with connect() as db:
            rows = list(db.execute(query))
    except sqlite3.Error as exc:
        print(f"ERROR 1064 (42000): {exc}", file=sys.stderr)
        return 1
    for row in rows:
        print("\t".join("NULL" if v is None else str(v) for v in row))
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["version"]:
        print(VERSION, end="")
        return 0
    if argv[:1] == ["db"]:
        return db_query(argv[1:])
    if argv[:2] == ["bin", "mailserver"]:
        return mailserver(argv[2:])
    print(f"plesk (stand-in): not modelled: {' '.join(argv)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
