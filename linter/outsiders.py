"""Who relay probes speak as, whatever the MTA: clients from documentation address space, a
recipient in a domain no server is final for, and a sender from elsewhere."""

from __future__ import annotations

OUTSIDE_V4 = ("198.51.100.77", "203.0.113.77")
OUTSIDE_V6 = ("2001:db8:77::77",)
FOREIGN = "relay-probe.invalid"
VICTIM = f"victim@{FOREIGN}"
OUTSIDE_SENDER = "someone@outside.example"
USER = "alice"  # the login of a user probe
