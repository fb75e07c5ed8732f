"""The ssh command-line options an Ansible inventory passes (`ansible_ssh_args`,
`ansible_ssh_common_args`, `ansible_ssh_extra_args`), read as ssh's own argument parser reads them.

Ansible builds `ssh [ssh_args] [-o Port/IdentityFile/User from the inventory] [common_args]
[extra_args] HOST`, and ssh keeps the first value it obtains for each setting; `settings()` gives
the settings in that order of precedence. Honoured: ProxyJump (`-J`), ProxyCommand, Port (`-p`),
User (`-l`), IdentityFile (`-i`), HostKeyAlias, UserKnownHostsFile, GlobalKnownHostsFile and
RevokedHostKeys. Options that do not change where the connection goes or what is trusted
(connection sharing, keep-alives, logging, forwardings mailcfg never opens, host key checking,
which mailcfg always does) are ignored. Any other option would make mailcfg connect differently
from Ansible, so it is an `SshArgsError` and the host is refused, never connected to directly.
"""

from __future__ import annotations

import re
import shlex

# ssh's options that take an argument (its getopt string), and what mailcfg does with each.
_WITH_ARGUMENT = set("bcDeEFiIJlLmoOpPQRSwW")
_FLAG_IGNORED = set("aACgkMnqtTvxXYy")  # agent/X11 forwarding off or on, tty, verbosity, master mode
_ARGUMENT_IGNORED = set("DeELPRS")  # forwardings, escape char, log file, tag, control path
_ARGUMENT_HONOURED = {"J": "proxyjump", "p": "port", "l": "user", "i": "identityfile"}

HONOURED = ("proxyjump", "proxycommand", "port", "user", "identityfile", "hostkeyalias", "userknownhostsfile",
            "globalknownhostsfile", "revokedhostkeys")
IGNORED = frozenset({
    "addkeystoagent", "batchmode", "checkhostip", "clearallforwardings", "compression", "connectionattempts",
    "connecttimeout", "controlmaster", "controlpath", "controlpersist", "dynamicforward", "escapechar",
    "exitonforwardfailure", "forwardagent", "forwardx11", "forwardx11timeout", "forwardx11trusted",
    "gssapiauthentication", "gssapidelegatecredentials", "hashknownhosts", "identitiesonly", "ipqos",
    "kbdinteractiveauthentication", "challengeresponseauthentication", "localforward", "loglevel", "logverbose",
    "numberofpasswordprompts", "passwordauthentication", "preferredauthentications", "pubkeyauthentication",
    "remoteforward", "requesttty", "sendenv", "serveralivecountmax", "serveraliveinterval", "setenv",
    "stricthostkeychecking", "syslogfacility", "tcpkeepalive", "updatehostkeys", "visualhostkey",
})


class SshArgsError(ValueError):
    """An option mailcfg cannot honour, or arguments ssh could not parse; str() is one line."""


def options(text: str, variable: str) -> list[tuple[str, str]]:
    """The (setting, value) pairs of one variable's text, in order; raises `SshArgsError`."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise SshArgsError(f"{variable}: cannot split {text!r}: {exc}") from None
    found: list[tuple[str, str]] = []
    i = 0
    while i < len(words):
        word = words[i]
        if not word.startswith("-") or word == "-":
            raise SshArgsError(f"{variable}: {word!r} is not an ssh option")
        j = 1
        while j < len(word):  # bundled flags (-qC), then at most one option with its argument
            letter = word[j]
            if letter in _WITH_ARGUMENT:
                value = word[j + 1:]
                if not value:
                    i += 1
                    if i == len(words):
                        raise SshArgsError(f"{variable}: -{letter} needs an argument")
                    value = words[i]
                found += _option(letter, value, variable)
                break
            if letter not in _FLAG_IGNORED:
                raise SshArgsError(f"{variable}: mailcfg cannot honour ssh's -{_shown(letter)}; refused rather than "
                                   f"connecting differently from Ansible")
            j += 1
        i += 1
    return found


def _option(letter: str, value: str, variable: str) -> list[tuple[str, str]]:
    if letter == "o":  # `Key=Value` or `Key Value`, as in ssh_config
        match = re.fullmatch(r"\s*(\w+)(?:\s*=\s*|\s+)(.*?)\s*", value, re.S)
        if match is None or not match.group(2):
            raise SshArgsError(f"{variable}: -o {value!r} is not Key=Value")
        key, rest = match.group(1).lower(), match.group(2)
        if key in HONOURED:
            return [(key, rest)]
        if key in IGNORED:
            return []
        raise SshArgsError(f"{variable}: mailcfg cannot honour -o {_shown(value)}; refused rather than connecting "
                           f"differently from Ansible")
    if letter in _ARGUMENT_HONOURED:
        return [(_ARGUMENT_HONOURED[letter], value)]
    if letter in _ARGUMENT_IGNORED:
        return []
    raise SshArgsError(f"{variable}: mailcfg cannot honour ssh's -{letter} {_shown(value)}; refused rather than "
                       f"connecting differently from Ansible")


def settings(layers: list[list[tuple[str, str]]]) -> dict[str, str]:
    """The settings ssh ends up with: the first value obtained for each wins; ProxyJump and
    ProxyCommand are one setting, whichever comes first (its value may be `none`)."""
    result: dict[str, str] = {}
    for key, value in (pair for layer in layers for pair in layer):
        taken = ("proxyjump" in result or "proxycommand" in result) if key.startswith("proxy") else key in result
        if not taken:
            result[key] = value
    return result


def _shown(text: str) -> str:
    """`text` for a message: control characters (terminal escapes, newlines) written as escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
