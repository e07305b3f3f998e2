"""Running one step in a second process while this one does another, when the caller asks
for two workers: the machines tpn is measured on have two cores, and OR-Tools' solve and
most of tpn's explaining hold Python's GIL, so threads would take turns instead.

Library code never forks on its own: ``workers(2)`` asks for it (the ``tpn`` command does,
on Linux, with ``--workers``); the web app and a caller that asks for nothing get one
worker, and every step runs here. The second process is a fork: it sees every array as it
is (nothing is copied or pickled on the way in) and sends back only its answer. The answer
is the same either way. A second process starts no third while the first works; once the
first only waits for its answer, that core is free, and it may.

>>> with workers(2), in_second_process(lambda: sum(range(10))) as job:
...     job.result()
45
"""

from __future__ import annotations

import contextlib
import contextvars
import multiprocessing
import os
import sys
from typing import Callable, Generic, Iterator, Sequence, TypeVar

T = TypeVar("T")

_WORKERS: contextvars.ContextVar[int] = contextvars.ContextVar("tpn_workers", default=1)
_IN_SECOND_PROCESS = False       # set in the child: two cores make one second process...
_PARENT_WAITING = None           # ... unless its parent waits for it (an Event, in the child)


@contextlib.contextmanager
def workers(count: int) -> Iterator[None]:
    """Within the block, tpn may run steps in ``count`` processes (only 1 and 2 differ)."""
    if count < 1:
        raise ValueError(f"workers must be at least 1, not {count}")
    token = _WORKERS.set(count)
    try:
        yield
    finally:
        _WORKERS.reset(token)


def default_workers() -> int:
    """What the command line asks for: 2 where a fork is there (Linux), else 1."""
    return 2 if sys.platform == "linux" and hasattr(os, "fork") else 1


def can_fork() -> bool:
    """Whether a step may run in a forked process: two workers were asked for, the
    platform forks, and this is not already the second process, or it is and its parent
    only waits for its answer (its core is free)."""
    return (_WORKERS.get() >= 2 and sys.platform == "linux" and hasattr(os, "fork")
            and (not _IN_SECOND_PROCESS or (_PARENT_WAITING is not None
                                            and _PARENT_WAITING.is_set())))


class Job(Generic[T]):
    """A step started in a second process (or kept to run here): ``result()`` waits (and
    runs the step here if the process ended without answering), ``done()`` says whether
    it would not; leaving the ``with`` block stops the process if its answer was never
    asked for (this process failed meanwhile)."""

    def __init__(self, step: Callable[[], T]):
        self._step, self._process, self._answer = step, None, None
        self._value: tuple[bool, object] | None = None
        if can_fork():
            context = multiprocessing.get_context("fork")
            self._answer, send = context.Pipe(duplex=False)
            self._waiting = context.Event()
            # The fork start method hands ``_run`` to the child as it is, closure included.
            # Not a daemon, which could start no process of its own: leaving the ``with``
            # block, or this process dying (``_die_with``), stops it.
            self._process = context.Process(
                target=_run, args=(step, send, self._answer, os.getpid(), self._waiting))
            self._process.start()
            send.close()

    def done(self) -> bool:
        return self._value is not None or (self._process is not None and self._answer.poll())

    def result(self) -> T:
        if self._value is None:
            self._value = self._receive() if self._process is not None else (True, self._step())
        ok, value = self._value
        if not ok:
            raise value
        return value

    def _receive(self) -> tuple[bool, object]:
        try:
            if not self._answer.poll():
                self._waiting.set()         # this core is free: the step may fork too
            return self._answer.recv()
        except EOFError:
            # The process ended without answering (killed, out of memory): the step runs
            # here instead, as it would have without a second core.
            return True, self._step()
        finally:
            self._answer.close()
            self._process.join()

    def __enter__(self) -> "Job[T]":
        return self

    def __exit__(self, *exc) -> None:
        if self._process is not None and self._value is None:
            self._process.terminate()
            self._process.join()
            self._answer.close()


def in_second_process(step: Callable[[], T]) -> Job[T]:
    """Start ``step()`` beside this process (see the module's note); ``.result()`` is its
    value, or raises what it raised."""
    return Job(step)


def two_halves(items: Sequence[T], size: Callable[[T], int]) -> tuple[list[T], list[T]]:
    """The items in two lists of about the same total size, for two processes (largest
    first, each to the lighter list); within each list the items keep their order.

    >>> two_halves([5, 1, 4, 2], size=lambda x: x)
    ([5, 1], [4, 2])
    """
    order = sorted(range(len(items)), key=lambda k: -size(items[k]))
    sides, load = ([], []), [0, 0]
    for k in order:
        side = 0 if load[0] <= load[1] else 1
        sides[side].append(k)
        load[side] += size(items[k])
    return [items[k] for k in sorted(sides[0])], [items[k] for k in sorted(sides[1])]


def _run(step, send, receive, parent: int, waiting) -> None:
    global _IN_SECOND_PROCESS, _PARENT_WAITING
    _IN_SECOND_PROCESS, _PARENT_WAITING = True, waiting
    # The fork copied this process's reading end: closed, a parent that is gone leaves the
    # pipe without a reader, and sending fails instead of blocking for ever.
    receive.close()
    _die_with(parent)
    try:
        answer = (True, step())
    except BaseException as exc:      # sent back to be raised where the result is asked
        answer = (False, exc)
    send.send(answer)
    send.close()


def _die_with(parent: int) -> None:
    """Linux ends the second process when the first one dies (a killed ``tpn match``
    leaves nothing behind), instead of letting it finish a step nobody will read."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)           # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:                  # it died before the line above
        os._exit(1)
