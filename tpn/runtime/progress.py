"""Progress on a terminal for runs longer than a second: the stage, a bar, the time.

Quiet when the stream is not a terminal (scripts, CI, pipes) or when asked (``--json``).

>>> import io
>>> p = TerminalProgress(io.StringIO(), delay=0.0, force=True)
>>> p("solving", 0.5); p.done()
>>> "solving" in p.stream.getvalue() and "50%" in p.stream.getvalue()
True
"""

from __future__ import annotations

import sys
from time import perf_counter
from typing import TextIO


class TerminalProgress:
    WIDTH = 24

    def __init__(self, stream: TextIO | None = None, delay: float = 1.0, force: bool = False):
        self.stream = stream or sys.stderr
        self.enabled = force or (hasattr(self.stream, "isatty") and self.stream.isatty())
        self.delay = delay
        self.start = perf_counter()
        self._last = 0.0
        self._shown = False

    def __call__(self, stage: str, fraction: float | None = None) -> None:
        if not self.enabled:
            return
        now = perf_counter()
        elapsed = now - self.start
        if elapsed < self.delay or (now - self._last < 0.1 and fraction not in (None, 1.0)):
            return
        self._last = now
        if fraction is None:
            bar = ""
        else:
            filled = int(round(self.WIDTH * min(1.0, max(0.0, fraction))))
            bar = f" [{'#' * filled}{'-' * (self.WIDTH - filled)}] {fraction:4.0%}"
        self.stream.write(f"\r{stage:<32}{bar} {elapsed:6.1f} s\033[K")
        self.stream.flush()
        self._shown = True

    def done(self) -> None:
        if self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
