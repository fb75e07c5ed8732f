"""Lines Exim refuses, or reads differently from how they look."""

from __future__ import annotations

import re
from collections.abc import Iterator

from mailcfg.exim.acl import missing_acl
from mailcfg.exim.config import EximConfig
from mailcfg.findings import Finding, Location, Severity
from mailcfg.rule import Rule

SYNTAX = Rule("exim-syntax", "Configuration that Exim refuses or reads differently from how it looks",
              Severity.ERROR, ("syntax",), "exim")

# ACL options other than acl_smtp_rcpt (exim-no-rcpt-acl covers that one)
ACL_OPTIONS = ("acl_smtp_connect", "acl_smtp_helo", "acl_smtp_mail", "acl_smtp_data", "acl_smtp_auth",
               "acl_smtp_predata", "acl_smtp_starttls", "acl_smtp_vrfy", "acl_smtp_expn", "acl_smtp_etrn",
               "acl_smtp_mime", "acl_not_smtp", "acl_smtp_quit", "acl_smtp_notquit", "acl_smtp_dkim")
_TRAILING_COMMENT = re.compile(r"\s#")


@SYNTAX.checker
def check(config: EximConfig) -> Iterator[Finding]:
    if config.error is not None:
        yield SYNTAX.finding(f"Exim refuses this configuration and will not start: {config.error.message}",
                             config.error.origin.location if config.error.origin else None)
        return
    for option in ACL_OPTIONS:
        why = missing_acl(config, option)
        if why:
            setting = config.setting(option)
            yield SYNTAX.finding(why, setting.origin.location if setting else None)
    yield from _comments(config)
    if config.debian is not None:
        for note in config.debian.notes:
            shown, ignored, why = note.partition(" ignored: ")
            if ignored:  # a conf.d file that looks active but that update-exim4.conf leaves out
                yield SYNTAX.finding(f"{shown} is ignored: {why}", Location(shown), severity=Severity.WARNING)


def _comments(config: EximConfig) -> Iterator[Finding]:
    """`# text` after a value is part of the value: Exim has comments only at the start of a line."""
    values = [(f"{n.kind}list {n.name}", n.value, n.origin) for n in config.parsed.lists.values()]
    values += [(s.name, s.value, s.origin) for s in config.parsed.main.values()]
    values += [(f"{i.name} in ACL {acl.name}", i.value, i.origin) for acl in config.parsed.acls.values()
               for st in acl.statements for i in st.items if not i.modifier]
    for name, value, origin in values:
        m = _TRAILING_COMMENT.search(value)
        if m and "${" not in value[:m.start()]:
            yield SYNTAX.finding(f"'#' in the middle of {name} is not a comment: Exim reads "
                                 f"{value[m.start() + 1:]!r} as part of the value (put comments on their own line)",
                                 origin.location, severity=Severity.WARNING)
