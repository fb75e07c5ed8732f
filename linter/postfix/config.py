"""Everything the analysis knows about one Postfix instance, read from a snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from mailcfg.findings import Location
from mailcfg.memo import Memo
from mailcfg.postfix.maincf import MainCf, parse_main_cf
from mailcfg.postfix.mastercf import MasterCf, Service, parse_master_cf
from mailcfg.postfix.tables import Table, TableRef, load_table, refs_in
from mailcfg.postfix.version import ASSUMED, Version, parse_version, show
from mailcfg.snapshot import Snapshot
from mailcfg.source import SourceFile

POSTFIX_DIR = "/etc/postfix"
MAIN_CF, MASTER_CF = POSTFIX_DIR + "/main.cf", POSTFIX_DIR + "/master.cf"
# What Debian and upstream ship when master.cf is not in the snapshot: one smtpd on port 25.
STOCK_SMTP = "smtp      inet  n       -       y       -       -       smtpd\n"


@dataclass
class PostfixConfig(Memo):
    """One Postfix configuration: main.cf, master.cf, the release, and what is worked out of them."""

    snapshot: Snapshot
    main: MainCf
    master: MasterCf
    version: Version
    assumptions: list[str] = field(default_factory=list)
    _tables: dict[TableRef, Table] = field(default_factory=dict)
    memo: dict = field(default_factory=dict)  # files read and results computed once per configuration

    @property
    def sources(self) -> dict[str, SourceFile]:
        """main.cf, master.cf and the lookup tables they name, by how findings name them."""
        files = [self.main.source, self.master.source, *(t.source for t in self.tables() if t.source)]
        return {s.path: s for s in files}

    def assume(self, text: str) -> None:
        if text not in self.assumptions:
            self.assumptions.append(text)

    @cached_property
    def smtpd_services(self) -> list[Service]:
        """Services that run smtpd, as master runs them (last duplicate wins)."""
        return [s for s in self.master.effective if s.daemon == "smtpd" and s.type in ("inet", "pass", "unix")]

    def tables(self) -> list[Table]:
        """Every lookup table that main.cf or a master.cf `-o` names, read where the snapshot has it."""
        return list(self.remember("tables", self._tables_named))  # asked again for every finding's subject

    def _tables_named(self) -> list[Table]:
        values = [p.value for p in self.main.entries]
        values += [o.value for s in self.master.services for o in s.overrides]
        refs = refs_in(values)
        return [self.table(ref) for ref in sorted(refs, key=lambda r: r.text)]

    def smtpd_on_port(self, port: int) -> SmtpdSettings | None:
        """What the smtpd clients reach on `port` uses (effective values, restriction names), for other
        systems that judge this configuration (Plesk) without reading Postfix's internals; None when no
        smtpd listens there."""
        from mailcfg.postfix.services import port as port_of
        from mailcfg.postfix.services import views

        return next((SmtpdSettings(service.name, view) for service, view in views(self)
                     if port_of(self, service) == port), None)

    def table(self, ref: TableRef) -> Table:
        table = self._tables.get(ref)
        if table is None:
            table = self._tables[ref] = load_table(ref, self.snapshot.resolve, self.snapshot.display)
        return table


def load_postfix(snapshot: Snapshot) -> PostfixConfig:
    assumptions: list[str] = []
    main_path, master_path = snapshot.resolve(MAIN_CF), snapshot.resolve(MASTER_CF)
    main = parse_main_cf(_read(snapshot, main_path, MAIN_CF))
    if main_path is None:
        assumptions.append("main.cf is not in the snapshot: Postfix's built-in defaults are used")
    if master_path is not None:
        master = parse_master_cf(_read(snapshot, master_path, MASTER_CF))
    else:
        master = parse_master_cf(SourceFile.from_text("(stock master.cf)", STOCK_SMTP))
        assumptions.append("master.cf is not in the snapshot: assuming the stock one, "
                           "with smtpd on port 25 only")
    version = parse_version(snapshot.facts.versions.get("postfix"))
    if version is None:
        version = ASSUMED
        assumptions.append(f"Postfix version unknown: assuming {show(ASSUMED)} or later")
    return PostfixConfig(snapshot, main, master, version, assumptions)


def _read(snapshot: Snapshot, real, host_path: str) -> SourceFile:
    shown = snapshot.display(host_path)
    if real is None:  # named where it would be: a fix may create it
        return SourceFile(shown, [])
    return SourceFile.read(shown, real, f"{snapshot.target}: {shown}")



class SmtpdSettings:
    """One smtpd service's effective parameters, as PostfixConfig.smtpd_on_port hands them out."""

    def __init__(self, name: str, view) -> None:
        self.name = name
        self._view = view

    def value(self, name: str) -> str:
        """The value the service uses ($names expanded, defaults included)."""
        return self._view.get(name)

    def where(self, name: str) -> Location | None:
        """Where the service's value is set (a -o or main.cf); None for Postfix's default."""
        return self._view.location(name)

    def enabled(self, name: str) -> bool:
        return self._view.yes(name)

    def restrictions(self, *lists: str) -> list[str]:
        """The names of the restrictions in these lists and the restriction classes they use, in order."""
        from mailcfg.postfix.restrictions import lists_and_classes, parse

        return [item.name for name in lists_and_classes(self._view, lists) for item in parse(self._view, name)]
