"""Plesk: its server-wide mail settings read from a snapshot, judged beside the Postfix it generates,
and fixed only through its own CLI (`plesk bin mailserver`)."""
