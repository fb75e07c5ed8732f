"""Text from configuration files, file names and hosts, made safe to show on a terminal.

A configuration line or a file name can hold terminal escape sequences (`ESC ] 0 ; title BEL`
retitles the window, `ESC [ 31 m` recolours everything after it) or bidi overrides that make a
line read differently from what it holds. Every human-facing output passes such text through
`visible`, which writes each of those characters as a Python-style escape (`\\x1b`, `\\u202e`).
"""

from __future__ import annotations

# C0 controls (a tab is only blank space), DEL, C1 controls, and the bidi controls and line
# separators that reorder or break what follows them.
UNSAFE = [c for c in range(0x20) if c != 0x09] + list(range(0x7F, 0xA0)) + \
    [0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_TABLE = {c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" for c in UNSAFE}
_LINES_TABLE = {c: text for c, text in _TABLE.items() if c != 0x0A}


def visible(text: str, keep_lines: bool = False) -> str:
    """`text` with every control, DEL and bidi character written as an escape; the rest unchanged.
    `keep_lines`: line feeds stay (multi-line text such as a diff)."""
    return text.translate(_LINES_TABLE if keep_lines else _TABLE)
