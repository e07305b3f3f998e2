"""Pausing Python's cycle collector while a step makes many objects that outlive it.

Reading half a million score cells, or writing 200,000 explanations, sets the cycle
collector off again and again, and each full pass walks every object already alive — the
network's institutions and scores among them: a fifth of the explanation step at 30,000
institutions. Those steps make no reference cycles, so a pass would find nothing to free;
the collector runs as usual again when the step ends.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cycle collection inside the block; the collector's earlier state after it.

    >>> with gc_paused():
    ...     gc.isenabled()
    False
    >>> gc.isenabled()
    True
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
