"""Live hosts: collecting a snapshot over SSH (see DESIGN.md, "Snapshot" and "SSH")."""
