"""mailcfg's rules: one module per rule family, one doc page per rule id in docs/."""
