"""Keeping freed memory in the process for the length of a batch command.

The engine makes and drops hundreds of NumPy arrays of a million elements or more per
certificate round. glibc hands most of them back to the operating system when they are
freed (it unmaps them, or trims the top of the heap), so the next array of that size is
faulted in again, page by page. On ordinary hardware a page fault costs under a
microsecond; on some virtual machines, the one tpn's benchmarks run on among them, about
20 µs. There, at 30,000 institutions, a solve took ~155,000 page faults and 2.6–3.4 s of
system time, and with freed memory kept for reuse ~115,000 faults and 2 s for the first
solve in a process, ~42,000 and 0.2 s for the next (``python benchmarks/run.py``).

Only for commands that end: a long-running server (``tpn serve``) should give memory back.
"""

from __future__ import annotations

import ctypes
import sys

# mallopt parameters (malloc.h): glibc serves allocations up to the mmap threshold from
# its heap, and gives the top of the heap back once more than the trim threshold is free.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 * 2**20        # glibc's largest accepted value on 64-bit systems
_TRIM_NEVER = 2**31 - 1


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse until the process ends; whether it did
    (False, and nothing changed, on other C libraries and systems).

    >>> import platform
    >>> keep_freed_memory() == (platform.libc_ver()[0] == "glibc")
    True
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt      # the C library the process already uses
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and \
        bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_NEVER))
