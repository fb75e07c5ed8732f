"""mailcfg: find and fix mail-server settings that make open relays, bounce mail or skip SMTP AUTH."""

__version__ = "0.1.0"
