"""The decision engine for Exim: what a server with this configuration answers one SMTP transaction.

The session goes as Exim's smtp_in.c runs it: the connect ACL, EHLO (with what is advertised),
STARTTLS and AUTH when the client uses them, MAIL and its ACL, then RCPT and acl_smtp_rcpt, which
must be set for any mail to be accepted. Replies are Exim's own texts.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from itertools import islice, product

from mailcfg.exim.acl import DEFER, DISCARD, DROP, ERROR, FAIL, OK, TEMPORARY, reply_for, run_acl, with_code
from mailcfg.exim.address import Split, argument, extract, mail_parameters, put_back_option, split
from mailcfg.exim.auth import PASSWORD_MECHANISMS, public_name, servers
from mailcfg.exim.config import EximConfig
from mailcfg.exim.expand import expand, truth
from mailcfg.exim.match import ListError, in_list, match_list
from mailcfg.exim.parse import Driver
from mailcfg.exim.services import service_name
from mailcfg.exim.session import TLS_CIPHER, Session, World
from mailcfg.transaction import Decision, Probe, Step

ACCEPTED = "250 Accepted"


_DEFAULT_WORLD = World()  # frozen: one serves every decision
MAX_BRANCHES = 4  # undecided conditions whose both answers are tried (2**4 runs at most)


def decide(config: EximConfig, probe: Probe, world: World | None = None) -> Decision:
    """The decision, and whether it depends on what the snapshot cannot show: when it has undecided
    conditions, each combination of their answers is tried, and if all give the same reply, so does
    the server whatever the truth is."""
    world = world or _DEFAULT_WORLD
    session = Session(config, probe, world)
    first = _decide(session)
    points = session.points
    if not first.undecided or not 0 < points <= MAX_BRANCHES:
        return first
    # the first run took every condition as not met (product's first combination): the others are tried
    for choices in islice(product((False, True), repeat=points), 1, None):
        branch = Session(config, probe, world, choices=choices)
        other = _decide(branch)
        # a branch that meets undecided conditions of its own has not been tried both ways: no conclusion
        if branch.points > points or (other.action, other.reply) != (first.action, first.reply):
            return first
    first.trace.append(Step("rcpt", "undecided conditions", "no difference",
                            "every answer to them gives the same reply"))
    first.undecided = []
    return first


def decide_taking(config: EximConfig, probe: Probe, choices: tuple[bool, ...], world: World | None = None) -> Decision:
    """One run that takes the undecided conditions as `choices` says (met or not, in the order met)."""
    return _decide(Session(config, probe, world or _DEFAULT_WORLD, choices=choices))


def _decide(s: Session) -> Decision:
    config, probe = s.config, s.probe
    service = service_name(probe.port or 25)
    if config.error is not None:
        s.step("startup", "configuration", "error", config.error.message,
               config.error.origin)
        return _decision(s, "error", "startup", None, service)
    refusal = _acl_option(s, "connect", "acl_smtp_connect", "550", unset_accepts=True)
    if refusal is not None:
        return _decision(s, *refusal, service)
    if probe.helo is not None:
        if not _helo_syntax(s, probe.helo):
            s.step("helo", "EHLO", "reject", f"{probe.helo!r} is not a host name or an address literal")
            return _decision(s, "reject", "helo", "501 Syntactically invalid EHLO argument(s)", service)
        s.context.variables["sender_helo_name"] = probe.helo
        refusal = _acl_option(s, "helo", "acl_smtp_helo", "550", unset_accepts=True)
        if refusal is not None:
            return _decision(s, *refusal, service)
        start_tls(s)
        if probe.sasl_user:
            _login(s)
    elif _advertised(s, "hosts_require_helo", "mail"):
        s.step("mail", "hosts_require_helo", "reject", "the client sent MAIL without HELO or EHLO")
        return _decision(s, "reject", "mail", "503 HELO or EHLO required", service)
    sender = _read_address(s, "mail", probe.sender)
    if isinstance(sender, tuple):
        return _decision(s, *sender, service)
    s.set_sender(sender)
    refusal = _acl_option(s, "mail", "acl_smtp_mail", "550", unset_accepts=True)
    if refusal is not None:
        return _decision(s, *refusal, service)
    recipient = _read_address(s, "rcpt", probe.rcpt)
    if isinstance(recipient, tuple):
        return _decision(s, *recipient, service)
    s.set_recipient(recipient, split(recipient))
    _percent_hack(s)
    s.context.variables.update({"local_part": s.rcpt_local, "domain": s.rcpt_domain, "rcpt_count": "1",
                                "recipients_count": "0"})
    refusal = _acl_option(s, "rcpt", "acl_smtp_rcpt", "550", unset_accepts=False)
    if refusal is not None:
        return _decision(s, *refusal, service)
    return _decision(s, "accept", "rcpt", with_code("250", s.accepted_with) if s.accepted_with else ACCEPTED, service)


def recipient_domain(config: EximConfig, probe: Probe, world: World | None = None) -> str | None:
    """The domain the RCPT ACL sees for the probe's recipient, where the mail goes (route dropped, after
    the percent hack); None when Exim refuses the address, or when it may treat it as local."""
    s = Session(config, probe, world or _DEFAULT_WORLD)
    found = _read_address(s, "rcpt", probe.rcpt)
    if isinstance(found, tuple):
        return None
    s.set_recipient(found, split(found))
    _percent_hack(s)
    if s.recipient_cache and any(s.recipient_cache.values()):
        return None  # a list that matched the local domain still matches the rewritten one: it may stay local
    return s.rcpt_domain


def _helo_syntax(s: Session, helo: str) -> bool:
    """check_helo: an address literal ([IPv6:...], [IPv4:...] or [address]) or letters, digits, dots,
    hyphens and helo_allow_chars; anything from helo_accept_junk_hosts."""
    if s.config.option("helo_accept_junk_hosts") and _advertised(s, "helo_accept_junk_hosts"):
        return True
    if helo.startswith("["):
        if not helo.endswith("]"):
            return False
        inner, version = helo[1:-1], None
        if inner[:5].lower() in ("ipv6:", "ipv4:"):
            inner, version = inner[5:], int(inner[3])
        try:
            return ipaddress.ip_address(inner).version == (version or ipaddress.ip_address(inner).version)
        except ValueError:
            return False
    return bool(helo) and set(helo) <= s.config.helo_chars


def _read_address(s: Session, stage: str, written: str) -> str | tuple[str, str, str]:
    """The address of MAIL FROM or RCPT TO as Exim reads it (route dropped, unqualified ones qualified
    where allowed), or (action, stage, reply) when Exim refuses the command's syntax."""
    data = argument(written)
    if s.probe.helo is not None:  # after EHLO, ESMTP parameters are looked for at the end
        if stage == "mail":
            data, known = mail_parameters(data)
            if known:
                s.undecided_step(stage, f"MAIL FROM parameters {' '.join(known)}", "what Exim does with their "
                                 "values is not modelled", None, branch=False)
        # put_back_option and extract are cached: called with positional arguments, their caches key the
        # values alone
        data = put_back_option(data, stage == "rcpt")  # (data, rcpt)
    found = extract(data, stage == "mail", s.config.address_syntax)  # (mailbox, allow_null, syntax)
    what = "MAIL FROM" if stage == "mail" else "RCPT TO"
    if found.address is None:
        s.step(stage, what, "reject", f"Exim cannot read the address: {found.error}")
        return "reject", stage, f"501 {data}: {found.error}"
    if found.has_domain or not found.address:
        if found.address != written:
            s.step(stage, what, "read", f"Exim reads the address as <{found.address}>")
        return found.address
    role = "sender" if stage == "mail" else "recipient"
    if (stage == "rcpt" and found.address.lower() == "postmaster") or \
            _advertised(s, f"{role}_unqualified_hosts", stage):
        # the first of these that is set, even to nothing (then the address ends in a bare @)
        setting = s.config.setting(f"qualify_{role}") or s.config.setting("qualify_domain")
        domain = expand(setting.value, s.context).value or "" if setting else s.config.primary_hostname or ""
        s.step(stage, what, "qualified", f"the unqualified address becomes <{found.address}@{domain}>")
        return f"{found.address}@{domain}"
    s.step(stage, what, "reject", f"the {role} address has no domain")
    return "reject", stage, f"501 {data}: {role} address must contain a domain"


def _percent_hack(s: Session) -> None:
    """percent_hack_domains: Exim turns user%other@domain into user@other before the RCPT ACL runs, for as
    long as the domain is in the list (deliver_split_address, on the local part without its quoting)."""
    hack = s.config.option("percent_hack_domains")
    parts = s.recipient_parts
    local, domain = (parts.local_part, parts.domain) if parts else ("", "")
    cache: dict[str, bool] = {}
    while hack and "%" in local and in_list(replace(s.env, domain_cache=cache), "domain", hack, domain):
        local, _, written = local.rpartition("%")
        domain = written.lower()
        s.set_recipient(f"{local}@{written}", Split(local, domain))
        s.recipient_cache = cache
        s.step("rcpt", "percent_hack_domains", "rewrite", f"the recipient becomes <{s.recipient}>",
               s.config.setting("percent_hack_domains").origin)


def _decision(s: Session, action: str, stage: str, reply: str | None, service: str) -> Decision:
    return Decision(action, stage, reply, service, s.trace, s.undecided)


def _acl_option(s: Session, stage: str, option: str, code: str, unset_accepts: bool
                ) -> tuple[str, str, str] | None:
    """Run the ACL `option` names; (action, stage, reply) when it refuses, None when it lets the session on."""
    setting = s.config.setting(option)
    if setting is None or not setting.value.strip():
        if unset_accepts:
            return None
        s.step(stage, option, "deny", f"{option} is not set: no SMTP mail is accepted (implicit deny)")
        return "reject", stage, f"{code} Administrative prohibition"
    expanded = expand(setting.value, s.context)
    if expanded.forced_fail:
        s.step(stage, option, "accept", "the expansion is forced to fail: the ACL accepts", setting.origin)
        return None
    if expanded.value is None:
        s.undecided_step(stage, option, expanded.why, setting.origin, branch=False)
        return "defer", stage, f"451 {TEMPORARY}"
    result = run_acl(s, stage, expanded.value, setting.origin)
    if result.rc in (OK, DISCARD):
        if result.rc == DISCARD:
            s.step(stage, option, "discard", "the recipient is accepted and then thrown away")
        s.accepted_with = result.message
        return None
    action = {FAIL: "reject", DROP: "reject", DEFER: "defer", ERROR: "defer"}[result.rc]
    return action, stage, reply_for(result, code, s)


def _advertised(s: Session, option: str, stage: str = "helo") -> bool | None:
    """Whether the client matches a host list option such as tls_advertise_hosts."""
    value = s.config.option(option)
    setting = s.config.setting(option)
    try:
        outcome = match_list(s.env, "host", value, s.client)
    except ListError as exc:  # Exim takes a list it cannot use as not matching
        s.step(stage, option, "no match", str(exc), setting.origin if setting else None)
        return False
    if outcome.result is None:
        return s.undecided_step(stage, option, outcome.undecided, setting.origin if setting else None)
    return outcome.result


def start_tls(s: Session) -> None:
    port = str(s.probe.port or 25)
    on_connect = port in s.config.tls_on_connect_ports
    if on_connect:
        s.step("helo", "tls_on_connect_ports", "tls", f"port {port} speaks TLS from the start")
    elif not s.probe.tls:
        return
    elif not _advertised(s, "tls_advertise_hosts"):
        s.step("helo", "STARTTLS", "not offered", "tls_advertise_hosts does not match the client: "
               "the session stays unencrypted")
        return
    else:
        s.step("helo", "STARTTLS", "done", "the client starts TLS")
    s.tls = True
    s.context.variables.update({"tls_in_cipher": TLS_CIPHER, "tls_cipher": TLS_CIPHER, "received_protocol": "esmtps"})
    s.assume("a TLS session's cipher is taken to be TLS 1.3 (what matters is that there is one)")


def offered(s: Session) -> list[Driver]:
    """The server authenticators EHLO advertises to this client."""
    found = servers(s.config.parsed)
    if not found:
        s.step("helo", "authenticators", "none", "no authenticator is set up as a server: AUTH is not offered")
        return []
    if not _advertised(s, "auth_advertise_hosts"):
        s.step("helo", "auth_advertise_hosts", "no match", "AUTH is not offered to this client")
        return []
    offered = []
    for driver in found:
        condition = driver.get("server_advertise_condition")
        if condition is not None:
            expanded = expand(condition, s.context)
            if expanded.value is None and not expanded.forced_fail:
                if s.undecided_step("helo", f"{driver.name}: server_advertise_condition", expanded.why,
                                    driver.settings["server_advertise_condition"].origin):
                    offered.append(driver)
                continue
            if expanded.forced_fail or truth(expanded.value or "") is False or not (expanded.value or "").strip():
                s.step("helo", f"{driver.name}: server_advertise_condition", "false",
                       f"{public_name(driver)} is not advertised", driver.settings["server_advertise_condition"].origin)
                continue
        offered.append(driver)
    return offered


def _login(s: Session) -> None:
    offered_now = offered(s)
    names = [public_name(d) for d in offered_now]
    mechanism = next((m for m in PASSWORD_MECHANISMS if m in names), None)
    if mechanism is None:
        why = f"AUTH offers {' '.join(names)} only" if names else "AUTH is not advertised"
        s.step("helo", "AUTH", "not done", f"{why}: the client cannot log in and goes on without")
        return
    driver = offered_now[names.index(mechanism)]
    setting = s.config.setting("acl_smtp_auth")
    if setting is not None and setting.value.strip():
        refusal = _acl_option(s, "helo", "acl_smtp_auth", "503", unset_accepts=True)
        if refusal is not None:
            s.step("helo", "AUTH", "refused", f"acl_smtp_auth refuses it ({refusal[2]}): the session goes on "
                   "unauthenticated")
            return
    condition = driver.get("server_condition")
    if condition is not None and "$" not in condition and not truth(condition):
        s.step("helo", f"{driver.name}: server_condition", "fail",
               f"{condition!r} never accepts a login: the session goes on unauthenticated",
               driver.settings["server_condition"].origin)
        return
    s.assume(f"the user's login through {driver.name} ({mechanism}) is accepted: the password is right")
    s.authenticated = driver
    user = s.probe.sasl_user or ""
    auth_vars = {"auth1": "" if mechanism == "PLAIN" else user, "auth2": user if mechanism == "PLAIN" else "",
                 "auth3": ""}
    s.context.variables.update(auth_vars)
    set_id = driver.get("server_set_id")
    identity = expand(set_id, s.context).value if set_id else ""
    s.context.variables.update({"sender_host_authenticated": driver.name, "authenticated_id": identity or "",
                                "received_protocol": "esmtpsa" if s.tls else "esmtpa"})
    for name in auth_vars:
        s.context.variables.pop(name, None)
    s.step("helo", "AUTH " + mechanism, "authenticated", f"as {user} through {driver.name}", driver.origin)

