"""The read-only collection of a host's mail configuration as steps any transport can run.

Each step is a POSIX sh script for `sh -s` (the script on its standard input); what it prints is fed
back, and the next step is planned from everything collected so far (mailcfg.remote.plan) until
nothing is left to ask or MAX_ROUNDS is reached. The SSH collector (mailcfg.remote.fetch) and the
Ansible action plugin (through mailcfg.api) drive the same steps, so there is one collection logic.
"""

from __future__ import annotations

import dataclasses
import hashlib
import marshal

from mailcfg.errors import MailcfgError
from mailcfg.memo import Shared
from mailcfg.remote.collect import HEADER, MAX_ROUNDS, Collected, first_script, parse_stream, send_script
from mailcfg.remote.plan import Plan, plan, withhold_secrets
from mailcfg.remote.redact import redact


class Collection:
    """One host's collection: `next_script()`, run it, `feed()` its output, until `next_script()` is None."""

    def __init__(self) -> None:
        self._collected: Collected | None = None
        self._step: Plan | None = None  # the phase-2 step whose script is out
        self._rounds = 0
        self._result: Collected | None = None

    def next_script(self) -> str | None:
        """The next script to run on the host, or None when the collection is complete."""
        if self._result is not None:
            return None
        if self._collected is None:
            return first_script()
        key = digest(self._collected)
        step = _PLANS.get(key, lambda: plan(self._collected))
        if step.empty or self._rounds >= MAX_ROUNDS:
            # before anything is written, analysed or printed (the planner's private copies aside)
            self._result = _FINISHED.get(key, lambda: _finished(self._collected, step.secrets))
            return None
        self._step = step
        return send_script(step.wanted, step.optional, step.secrets)

    def feed(self, stdout: bytes) -> None:
        """What the last script printed; MailcfgError when it is not the collection's output."""
        if self._result is not None or (self._collected is not None and self._step is None):
            raise MailcfgError("collection: output fed with no script outstanding")
        if HEADER not in stdout:
            raise MailcfgError("collection: the script did not run (its output has no MAILCFG header)")
        collected = parse_stream(stdout)
        if self._collected is None:
            self._collected = collected
            return
        assert self._step is not None
        self._collected.merge(collected)
        self._collected.asked |= {*self._step.wanted, *self._step.optional}
        self._step = None
        self._rounds += 1

    @property
    def collected(self) -> Collected:
        """Everything collected, credentials withheld and inline secrets redacted; only once complete."""
        if self._result is None:
            raise MailcfgError("collection: not complete (run next_script() until it returns None)")
        return self._result


# A fleet's hosts often hold the same files: what to fetch next is planned, and a complete collection's
# secrets withheld and redacted, once for each distinct collection (both depend on what was collected
# alone). A finished collection may so be shared by several hosts: it is read, never changed.
_PLANS: Shared[Plan] = Shared()
_FINISHED: Shared[Collected] = Shared()


def _finished(collected: Collected, secrets: set[str]) -> Collected:
    withhold_secrets(collected, secrets)
    return redact(collected)[0]


def digest(collected: Collected, *more: object) -> str:
    """Everything collected (and `more`), in one canonical form: equal for byte-for-byte equal collections.

    The parts are serialized by marshal in C (a fleet's controller digests each host's collection
    four times). Its format 2 writes no back-references, so equal values always give equal bytes."""
    parts = [repr(more)]
    for f in dataclasses.fields(collected):
        value = getattr(collected, f.name)
        parts.append(sorted(value.items()) if isinstance(value, dict) else sorted(value) if isinstance(value, set)
                     else [dataclasses.astuple(v) if dataclasses.is_dataclass(v) else v for v in value]
                     if isinstance(value, list) else value)
    return hashlib.sha256(marshal.dumps(parts, 2)).hexdigest()
