"""SIGTERM (what ``kill`` and job schedulers send) and SIGHUP stop hetrec as SIGINT does.

By default Python dies at once on SIGTERM: no ``finally`` runs, so the processes a command
started (data-parallel ranks, DGL graph servers and trainers) keep running and writing into
its folders, and its temporary folders and shared memory stay behind. Under
:func:`terminate_as_interrupt` the signal raises :class:`Terminated` in the main thread instead,
a :class:`KeyboardInterrupt`, so the clean-up that Ctrl-C runs also runs: atomic writes remove
their temporary files, child processes are stopped and waited for, temporary folders are
removed, locks are released. The process then exits with ``128 + signal`` (143 for SIGTERM).

Child processes do the same (:func:`raise_on_terminate`), and die with their parent even when
it is killed without a chance to stop them (:func:`die_with_parent`, Linux).
This module imports nothing of hetrec.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager

#: the signals that stop a command the way SIGINT does (SIGHUP is sent when its terminal closes)
STOP_SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None)


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM or SIGHUP (``signum``); a :class:`KeyboardInterrupt`, so
    everything that cleans up after Ctrl-C (and nothing that swallows ordinary errors) sees it."""

    def __init__(self, signum: int):
        super().__init__(signal_name(signum))
        self.signum = signum


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def exit_code(err: BaseException) -> int:
    """The shell's code for a process stopped by ``err``'s signal: 143 for SIGTERM, 130 for SIGINT."""
    return 128 + (err.signum if isinstance(err, Terminated) else signal.SIGINT)


def _raise_once(handled: list):
    def handler(signum, frame):
        if handled:  # a second signal while cleaning up: let the clean-up finish
            return
        handled.append(signum)
        raise Terminated(signum)

    return handler


@contextmanager
def terminate_as_interrupt():
    """Within the block, the first SIGTERM or SIGHUP raises :class:`Terminated` in the main
    thread; later ones are ignored while the clean-up runs. Signals a caller chose to ignore
    (``nohup``) stay ignored; outside the main thread this does nothing. The handlers in force
    before are restored when the block ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handled: list = []
    previous = {}
    for s in STOP_SIGNALS:
        if signal.getsignal(s) is signal.SIG_IGN:
            continue
        previous[s] = signal.signal(s, _raise_once(handled))
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def raise_on_terminate() -> None:
    """For a child process's whole life: SIGTERM and SIGHUP raise :class:`Terminated`."""
    handled: list = []
    for s in STOP_SIGNALS:
        if signal.getsignal(s) is not signal.SIG_IGN:
            signal.signal(s, _raise_once(handled))


def die_with_parent(parent_pid: int, signum: int = signal.SIGTERM) -> None:
    """Have the kernel send ``signum`` to this process when its parent ``parent_pid`` dies
    (``prctl(PR_SET_PDEATHSIG)``; Linux only, elsewhere nothing happens), so that a parent
    killed by SIGKILL leaves no child running. A parent already gone sends it now."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        if libc.prctl(pr_set_pdeathsig, int(signum), 0, 0, 0) != 0:
            return
    except (OSError, AttributeError):  # no libc prctl: nothing to arm
        return
    if os.getppid() != parent_pid:  # the parent died before the request was made
        os.kill(os.getpid(), signum)


__all__ = ["STOP_SIGNALS", "Terminated", "die_with_parent", "exit_code", "raise_on_terminate", "signal_name",
           "terminate_as_interrupt"]
