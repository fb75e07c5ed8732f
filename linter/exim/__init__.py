"""Exim: its runtime configuration as Exim reads it, Debian's generated configs, and the ACL engine."""
