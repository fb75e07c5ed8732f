"""Digits as the C programs read them (isdigit(3), Postfix's alldig): ASCII 0-9 only.

Python's str.isdigit() also takes other scripts' digits, which int() reads as numbers no MTA
would see, and superscripts, which int() refuses with an exception.
"""

from __future__ import annotations


def digits(text: str) -> bool:
    """`text` is one or more ASCII digits."""
    return text.isascii() and text.isdigit()
