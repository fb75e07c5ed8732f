"""Effective parameter values for one smtpd service: its `-o` overrides over main.cf over defaults."""

from __future__ import annotations

from mailcfg.findings import Location
from mailcfg.postfix import defaults, known
from mailcfg.postfix.config import PostfixConfig
from mailcfg.postfix.expand import compat_level, expand
from mailcfg.postfix.maincf import Parameter
from mailcfg.postfix.mastercf import Override, Service
from mailcfg.postfix.mynetworks import LOOPBACK, compute
from mailcfg.postfix.tokens import split_list

TRUE_WORDS = ("yes", "true", "1")  # mail_conf_bool accepts yes/no (case-insensitive)


class ParameterView:
    """Parameters as one daemon sees them; `service=None` means main.cf alone (postconf)."""

    def __init__(self, config: PostfixConfig, service: Service | None = None) -> None:
        self.config = config
        self.service = service
        self._expanded: dict[str, str] = {}

    def origin(self, name: str) -> Override | Parameter | None:
        """Where the value comes from: a `-o`, a main.cf line, or None for the built-in default."""
        if self.service is not None:
            override = self.service.override(name)
            if override is not None:
                return override
        return self.config.main.get(name)

    def location(self, name: str) -> Location | None:
        origin = self.origin(name)
        if origin is None:
            return None
        return origin.location

    def raw(self, name: str) -> str | None:
        """The unexpanded value, or None when `name` is no parameter this Postfix knows."""
        origin = self.origin(name)
        if origin is not None:
            return origin.value
        computed = self._computed_default(name)
        if computed is not None:
            return computed
        value = defaults.default(name, self.config.version)
        if value is None and (known.is_known(name, self.config.master) or name in self._user_defined()):
            return ""
        return value

    def get(self, name: str) -> str:
        if name not in self._expanded:
            self._expanded[name] = expand(self.raw(name) or "", self.raw).value
        return self._expanded[name]

    def items(self, name: str) -> list[str]:
        return split_list(self.get(name))

    def yes(self, name: str) -> bool:
        return self.get(name).strip().lower() in TRUE_WORDS

    @property
    def compat(self) -> tuple[int, ...]:
        return compat_level(self.get("compatibility_level"))

    def _user_defined(self) -> set[str]:
        return set(self.config.main.last)

    def _computed_default(self, name: str) -> str | None:
        facts = self.config.snapshot.facts
        if name == "myhostname":
            if facts.hostname:
                return facts.hostname
            self.config.assume("host name unknown: $myhostname stands for 'host.invalid'")
            return "host.invalid"
        if name == "mydomain":
            host = self.get("myhostname")
            return host.split(".", 1)[1] if "." in host else "localdomain"
        if name == "mynetworks":
            return self._computed_mynetworks()
        return None

    def _computed_mynetworks(self) -> str:
        style = self.get("mynetworks_style").strip()
        interfaces = self.config.snapshot.facts.interfaces
        listen = self.get("inet_interfaces").strip().lower()
        if listen in ("loopback-only", "localhost", "127.0.0.1"):
            interfaces = LOOPBACK
        elif interfaces is None:
            self.config.assume(f"interface addresses unknown: the computed mynetworks "
                               f"(mynetworks_style = {style}) covers loopback only")
            interfaces = LOOPBACK
        elif listen != "all":
            wanted = set(split_list(listen))
            interfaces = [i for i in interfaces if i.address in wanted] or LOOPBACK
        return compute(style, interfaces)
