"""Whether a report is coloured: `--color auto|always|never`, then FORCE_COLOR, NO_COLOR, the terminal.

The flag beats the environment (as ruff does); FORCE_COLOR (https://force-color.org) beats NO_COLOR
(https://no-color.org) when both are set, each counting only when non-empty; `auto` colours a
terminal only. A report written to a file (`-o`) is never coloured: it is read by tools.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import Enum
from typing import TextIO


class ColorChoice(str, Enum):
    auto = "auto"
    always = "always"
    never = "never"


def use_color(choice: ColorChoice | str, stream: TextIO, environ: Mapping[str, str] | None = None,
              to_file: bool = False) -> bool:
    env = os.environ if environ is None else environ
    choice = ColorChoice(choice)
    if to_file or choice is ColorChoice.never:
        return False
    if choice is ColorChoice.always or env.get("FORCE_COLOR"):
        return True
    if env.get("NO_COLOR"):
        return False
    return _isatty(stream)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or stand-in stream is no terminal
        return False
