"""The one-thread watchdog that ends a remote command's wait (mailcfg.remote.watchdog)."""

from __future__ import annotations

import os
import threading

from mailcfg.remote import watchdog


def test_an_alarm_not_cancelled_runs_its_action_and_earlier_ones_first():
    order: list[str] = []
    done = threading.Event()
    watchdog.after(0.3, lambda: (order.append("late"), done.set()))
    watchdog.after(0.05, lambda: order.append("early"))  # due before the one the thread already waits for
    assert done.wait(10)
    assert order == ["early", "late"]


def test_a_cancelled_alarm_never_runs():
    ran = threading.Event()
    alarm = watchdog.after(0.05, ran.set)
    alarm.cancel()
    later = threading.Event()
    watchdog.after(0.1, later.set)
    assert later.wait(10)  # the thread went past the cancelled alarm's time
    assert not ran.is_set()
    assert alarm not in watchdog._alarms


def test_cancel_waits_for_an_action_already_under_way():
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def action() -> None:
        started.set()
        release.wait(10)
        finished.set()

    alarm = watchdog.after(0.0, action)
    assert started.wait(10)
    threading.Timer(0.2, release.set).start()
    alarm.cancel()
    assert finished.is_set()  # the channel a give_up closes is closed once cancel returns


def test_a_failing_action_does_not_stop_later_alarms():
    watchdog.after(0.0, lambda: 1 / 0)
    later = threading.Event()
    watchdog.after(0.05, later.set)
    assert later.wait(10)


def test_a_forked_child_runs_its_own_alarms_and_not_its_parents():
    watchdog.after(0.0, lambda: None)  # the parent's thread is running
    ran_in_child = threading.Event()
    inherited = watchdog.after(0.2, ran_in_child.set)
    pid = os.fork()
    if pid == 0:  # the child: no watchdog thread was inherited
        fired = threading.Event()
        watchdog.after(0.3, fired.set)
        ok = fired.wait(10) and not ran_in_child.is_set()
        inherited.cancel()  # returns: the inherited alarm is done in the child
        os._exit(0 if ok else 1)
    inherited.cancel()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
