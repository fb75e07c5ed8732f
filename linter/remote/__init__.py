"""Live hosts: collecting a snapshot over SSH (see DESIGN.md, "Snapshot" and "SSH")."""

# how long a changed host waits for mailcfg's re-check before it rolls back (here, not in applyscript,
# because the CLI names it as a default and must not load the script to start)
CONFIRM_SECONDS = 120


def is_ssh_target(text: str) -> bool:
    """Whether a target names a host by URL (here, so that a run of local targets loads no SSH module)."""
    return text.startswith("ssh://")
