"""Postfix: lossless parsers, defaults, effective per-service configuration."""
