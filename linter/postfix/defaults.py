"""Postfix's built-in defaults for the parameters the analysis reads, by release.

Defaults are kept as Postfix itself writes them (`postconf -d` text), so the ones that depend
on compatibility_level are expressions that the expander evaluates. Sources: DEF_* macros in
src/global/mail_params.h per release branch; see shared/reference/postfix.md section 5.
"""

from __future__ import annotations

from mailcfg.postfix.version import Version

_RELAY_LIST = "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination"

# Same in every release the analysis supports.
STATIC = {
    "compatibility_level": "0",
    "mydestination": "$myhostname, localhost.$mydomain, localhost",
    "myorigin": "$myhostname",
    "inet_interfaces": "all",
    "inet_protocols": "all",
    "proxy_interfaces": "",
    "virtual_maps": "",
    "virtual_alias_maps": "$virtual_maps",
    "virtual_alias_domains": "$virtual_alias_maps",
    "virtual_mailbox_maps": "",
    "virtual_mailbox_domains": "$virtual_mailbox_maps",
    "relay_recipient_maps": "",
    "permit_mx_backup_networks": "",
    "allow_untrusted_routing": "no",
    "allow_percent_hack": "yes",
    "swap_bangpath": "yes",
    "resolve_dequoted_address": "yes",
    "resolve_null_domain": "no",
    "resolve_numeric_domain": "no",
    "smtpd_delay_reject": "yes",
    "smtpd_client_restrictions": "",
    "smtpd_helo_restrictions": "",
    "smtpd_sender_restrictions": "",
    "smtpd_data_restrictions": "",
    "smtpd_end_of_data_restrictions": "",
    "smtpd_etrn_restrictions": "",
    "smtpd_restriction_classes": "",
    "smtpd_helo_required": "no",
    "smtpd_sasl_auth_enable": "no",
    "smtpd_sasl_type": "cyrus",
    "smtpd_sasl_path": "smtpd",
    "smtpd_sasl_security_options": "noanonymous",
    "smtpd_sasl_tls_security_options": "$smtpd_sasl_security_options",
    "smtpd_sasl_exceptions_networks": "",
    "smtpd_tls_auth_only": "no",
    "smtpd_tls_security_level": "",
    "smtpd_use_tls": "no",
    "smtpd_enforce_tls": "no",
    "smtpd_tls_wrappermode": "no",
    "smtpd_tls_cert_file": "",
    "smtpd_tls_key_file": "$smtpd_tls_cert_file",
    "smtpd_tls_dcert_file": "",
    "smtpd_tls_dkey_file": "$smtpd_tls_dcert_file",
    "smtpd_tls_eccert_file": "",
    "smtpd_tls_eckey_file": "$smtpd_tls_eccert_file",
    "smtpd_tls_chain_files": "",
    "smtpd_authorized_xclient_hosts": "",
    "smtpd_authorized_xforward_hosts": "",
    "smtpd_upstream_proxy_protocol": "",
    "broken_sasl_auth_clients": "no",
    "soft_bounce": "no",
    "smtpd_reject_unlisted_recipient": "yes",
    "smtpd_reject_unlisted_sender": "no",
    "relay_domains_reject_code": "554",
    "reject_code": "554",
    "defer_code": "450",
    "access_map_reject_code": "554",
    "access_map_defer_code": "450",
    "unknown_relay_recipient_reject_code": "550",
    "parent_domain_matches_subdomains": ("debug_peer_list,fast_flush_domains,mynetworks,"
                                         "permit_mx_backup_networks,qmqpd_authorized_clients,"
                                         "relay_domains,smtpd_access_maps"),
    "local_recipient_maps": "proxy:unix:passwd.byname $alias_maps",
    "alias_maps": "hash:/etc/aliases, nis:mail.aliases",
    "unknown_local_recipient_reject_code": "550",
    "unknown_virtual_alias_reject_code": "550",
    "unknown_virtual_mailbox_reject_code": "550",
    "smtpd_null_access_lookup_key": "<>",
    "append_at_myorigin": "yes",
    "empty_address_recipient": "MAILER-DAEMON",
    "show_user_unknown_table_name": "yes",
    "recipient_delimiter": "",
    "double_bounce_sender": "double-bounce",
    "canonical_maps": "",
    "recipient_canonical_maps": "",
    "invalid_hostname_reject_code": "501",
    "non_fqdn_reject_code": "504",
    "unknown_client_reject_code": "450",
    "plaintext_reject_code": "450",
    "smtpd_sender_login_maps": "",
    "config_directory": "/etc/postfix",
    "queue_directory": "/var/spool/postfix",
}


def default(name: str, version: Version) -> str | None:
    """The built-in default of `name` in release `version`, or None if the analysis has none."""
    if name == "smtpd_relay_restrictions":
        if version < (2, 10):
            return None
        if version < (3, 3):
            return _RELAY_LIST
        return "${{$compatibility_level} <level {1} ? {} : {" + _RELAY_LIST + "}}"
    if name == "smtpd_recipient_restrictions":
        return "permit_mynetworks, reject_unauth_destination" if version < (2, 10) else ""
    if name == "relay_domains":
        return "$mydestination" if version < (3, 0) else "${{$compatibility_level} <level {2} ? {$mydestination} : {}}"
    if name == "mynetworks_style":
        return "subnet" if version < (3, 0) else "${{$compatibility_level} <level {2} ? {subnet} : {host}}"
    if name == "smtpd_relay_before_recipient_restrictions":
        return None if version < (3, 6) else "${{$compatibility_level} <level {3.6} ? {no} : {yes}}"
    if name == "append_dot_mydomain":
        return "yes" if version < (3, 0) else "${{$compatibility_level} <level {1} ? {yes} : {no}}"
    if name == "smtpd_sasl_mechanism_filter":
        return "" if version < (3, 6) else "!external, static:rest"
    return STATIC.get(name)

