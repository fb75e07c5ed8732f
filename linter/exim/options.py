"""What Exim 4.96 knows: its main options with their built-in values, and each driver's options.

Read from data/options.txt, which scripts/exim-option-data.sh writes from the real binary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from mailcfg import packaged


@dataclass(frozen=True)
class MainOption:
    """One main option of Exim 4.96, with its built-in value."""

    name: str
    boolean: bool
    default: str  # "true"/"false" for booleans


@dataclass
class Known:
    """The options Exim 4.96 knows: main ones, and each driver's."""

    main: dict[str, MainOption] = field(default_factory=dict)
    drivers: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)  # (kind, driver) -> options

    def generic(self, kind: str) -> frozenset[str]:
        """The options every driver of `kind` has (those may come before `driver =`)."""
        sets = [opts for (k, _), opts in self.drivers.items() if k == kind]
        return frozenset.intersection(*sets) if sets else frozenset()

    def driver_names(self, kind: str) -> set[str]:
        return {name for k, name in self.drivers if k == kind}


def _data(name: str) -> str:
    return packaged.text("mailcfg.exim", "data", name)


@cache
def known() -> Known:
    result = Known()
    section: tuple[str, str] | None = None
    collected: dict[tuple[str, str], set[str]] = {}
    for line in _data("options.txt").splitlines():
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            words = line.strip("[]").split()
            section = (words[0], words[1]) if len(words) == 2 else None
            if section:
                collected[section] = set()
            continue
        if section is None:
            if " = " in line or line.endswith(" ="):
                name, _, value = line.partition(" =")
                result.main[name] = MainOption(name, False, value.strip())
            else:
                negative = line.startswith("no_")
                name = line[3:] if negative else line
                result.main[name] = MainOption(name, True, "false" if negative else "true")
        else:
            collected[section].add(line.strip())
    _other_builds(result, collected)
    result.drivers = {k: frozenset(v) for k, v in collected.items()}
    return result


def _other_builds(result: Known, collected: dict[tuple[str, str], set[str]]) -> None:
    """Add what other builds of the same version accept: options with no built-in value here, the
    router options -bP does not print, and the drivers Debian's light build leaves out."""
    generic = {kind: set.intersection(*[v for (k, _), v in collected.items() if k == kind])
               for kind in ("router", "transport", "authenticator")}
    section: list[str] = []
    for line in _data("options-other-builds.txt").splitlines():
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]").split()
            if len(section) == 2:
                collected.setdefault((section[0], section[1]), set(generic[section[0]]))
        elif section == ["main"]:
            result.main.setdefault(line, MainOption(line, False, ""))
        elif len(section) == 1:
            for (kind, _), options in collected.items():
                if kind == section[0]:
                    options.add(line)
        else:
            collected[(section[0], section[1])].add(line)
