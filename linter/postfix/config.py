"""Everything the analysis knows about one Postfix instance, read from a snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from mailcfg.memo import Memo
from mailcfg.postfix.maincf import MainCf, parse_main_cf
from mailcfg.postfix.mastercf import MasterCf, Service, parse_master_cf
from mailcfg.postfix.tables import Table, TableRef, load_table, parse_ref
from mailcfg.postfix.tokens import split
from mailcfg.postfix.version import ASSUMED, Version, parse_version, show
from mailcfg.snapshot import Snapshot
from mailcfg.source import SourceFile

# What Debian and upstream ship when master.cf is not in the snapshot: one smtpd on port 25.
STOCK_SMTP = "smtp      inet  n       -       y       -       -       smtpd\n"


@dataclass
class PostfixConfig(Memo):
    snapshot: Snapshot
    main: MainCf
    master: MasterCf
    version: Version
    assumptions: list[str] = field(default_factory=list)
    _tables: dict[TableRef, Table] = field(default_factory=dict)
    memo: dict = field(default_factory=dict)  # files read and results computed once per configuration

    def assume(self, text: str) -> None:
        if text not in self.assumptions:
            self.assumptions.append(text)

    @cached_property
    def smtpd_services(self) -> list[Service]:
        """Services that run smtpd, as master runs them (last duplicate wins)."""
        return [s for s in self.master.effective if s.daemon == "smtpd" and s.type in ("inet", "pass", "unix")]

    def tables(self) -> list[Table]:
        """Every lookup table that main.cf or a master.cf `-o` names, read where the snapshot has it."""
        values = [p.value for p in self.main.entries]
        values += [o.value for s in self.master.services for o in s.overrides]
        refs = {ref for v in values for tok in split(v) if (ref := parse_ref(tok.inner())) is not None}
        return [self.table(ref) for ref in sorted(refs, key=lambda r: r.text)]

    def table(self, ref: TableRef) -> Table:
        if ref not in self._tables:
            self._tables[ref] = load_table(ref, self.snapshot.resolve, self.snapshot.display)
        return self._tables[ref]


def load_postfix(snapshot: Snapshot) -> PostfixConfig:
    assumptions: list[str] = []
    main_path = snapshot.main_cf
    main = parse_main_cf(_read(snapshot, main_path, "main.cf"))
    if main_path is None:
        assumptions.append("main.cf is not in the snapshot: Postfix's built-in defaults are used")
    if snapshot.master_cf is not None:
        master = parse_master_cf(_read(snapshot, snapshot.master_cf, "master.cf"))
    else:
        master = parse_master_cf(SourceFile.from_text("(stock master.cf)", STOCK_SMTP))
        assumptions.append("master.cf is not in the snapshot: assuming the stock one, "
                           "with smtpd on port 25 only")
    version = parse_version(snapshot.facts.versions.get("postfix"))
    if version is None:
        version = ASSUMED
        assumptions.append(f"Postfix version unknown: assuming {show(ASSUMED)} or later")
    return PostfixConfig(snapshot, main, master, version, assumptions)


def _read(snapshot: Snapshot, real, name: str) -> SourceFile:
    if real is None:  # named where it would be: a fix may create it
        return SourceFile(snapshot.config_display(name), [])
    shown = snapshot.config_display(name)
    return SourceFile.read(shown, real, f"{snapshot.target}: {shown}")

