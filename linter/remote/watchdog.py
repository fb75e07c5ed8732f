"""Actions run when a time limit passes, all on one thread for the whole process.

A fleet run asks each host's server to start a command, and paramiko waits for the answer without a
time limit: something must end the wait from outside. One thread serving every such limit costs a
fleet's controller nothing per host, where a timer thread each would be started and joined for
every host. An action must not block (it would hold back every later limit): one that has slow work
to do starts it elsewhere.
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

_PENDING, _RUNNING, _DONE = "pending", "running", "done"


@dataclass(order=True)
class Alarm:
    """One scheduled action; `cancel()` it once the watched wait is over."""

    due: float
    seq: int
    action: Callable[[], None] = field(compare=False)
    state: str = field(default=_PENDING, compare=False)

    def cancel(self) -> None:
        """The action will not run; one already under way has finished when this returns."""
        with _changed:
            if self.state == _PENDING:  # out of the queue at once: it holds only the waits still under way
                self.state = _DONE
                if self in _alarms:
                    _alarms.remove(self)
                    heapq.heapify(_alarms)
            while self.state == _RUNNING:
                _changed.wait()


_changed = threading.Condition()
_alarms: list[Alarm] = []
_order = itertools.count()
_thread: threading.Thread | None = None
_running: Alarm | None = None


def after(seconds: float, action: Callable[[], None]) -> Alarm:
    """Run `action` on the watchdog thread `seconds` from now, unless the alarm is cancelled first."""
    global _thread
    alarm = Alarm(time.monotonic() + seconds, next(_order), action)
    with _changed:
        heapq.heappush(_alarms, alarm)
        if _thread is None or not _thread.is_alive():
            thread = threading.Thread(target=_serve, name="mailcfg-watchdog", daemon=True)
            thread.start()  # may raise (no more threads): the next alarm tries again
            _thread = thread
        elif _alarms[0] is alarm:  # due before the one the thread waits for
            _changed.notify_all()
    return alarm


def _serve() -> None:
    global _running
    while True:
        with _changed:
            while True:
                if _alarms and _alarms[0].due <= time.monotonic():
                    alarm = _running = heapq.heappop(_alarms)
                    alarm.state = _RUNNING
                    break
                _changed.wait(_alarms[0].due - time.monotonic() if _alarms else None)
        try:
            alarm.action()
        except BaseException:  # one action's failure must not end every later limit
            pass
        finally:
            with _changed:
                alarm.state = _DONE
                _running = None
                _changed.notify_all()


def _forked() -> None:
    """A forked child has none of its parent's threads: its first alarm starts its own, and the alarms
    it inherited neither run nor keep a cancel waiting."""
    global _changed, _thread, _running
    for alarm in (*_alarms, *([_running] if _running else [])):
        alarm.state = _DONE
    _changed, _thread, _running = threading.Condition(), None, None
    _alarms.clear()


os.register_at_fork(after_in_child=_forked)
