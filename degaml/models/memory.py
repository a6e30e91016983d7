"""Give the C allocator's freed memory back to the operating system between the phases of a long run.

glibc keeps the heap pages a large freed tensor used (its trim threshold adapts upward to the largest free), so a
process that generated with a wide batch and then trains holds both peaks in its resident set. `malloc_trim(0)`
at a phase boundary returns them; unlike a lower `MALLOC_MMAP_THRESHOLD_` it costs nothing inside a phase. On a
C library without `malloc_trim` (musl, macOS, Windows) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import cache


@cache
def _trim():
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None


def release_freed_memory() -> bool:
    """Collect garbage and return the allocator's free pages to the OS; whether the C library could."""
    gc.collect()
    trim = _trim()
    if trim is None:
        return False
    trim(0)
    return True
