"""A stand-in for Plesk (no Plesk can be installed here): see plesk.py for what it models."""
