"""What a host is for: the inventory's `mailcfg_role`, or "roles" in a snapshot's facts.json.

A role tells the rules what to expect where the configuration alone cannot say. With no role
given, the rules assume nothing either way.

- `mx`: receives mail for its own domains from the internet on port 25.
- `submission`: the host's users send mail through it with SMTP AUTH.
- `relay`: relays for trusted networks or hosts (an office, application servers).
- `outbound`: only sends (a null client); receives no mail from the internet.
"""

from __future__ import annotations

ROLES = ("mx", "submission", "relay", "outbound")


def expects(roles: list[str] | None, role: str) -> bool:
    """Whether a host with `roles` (None: unknown) may be expected to act as `role`."""
    return roles is None or role in roles
