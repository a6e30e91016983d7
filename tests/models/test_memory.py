"""Freed heap pages go back to the OS at a phase boundary (glibc's malloc_trim)."""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

import pytest

from degaml.models.memory import release_freed_memory

GLIBC = platform.libc_ver()[0] == "glibc"


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_freed_heap_pages_below_a_live_block_return_to_the_os():
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    size, count = 64 * 1024, 3200  # 200 MiB of heap chunks (below the mmap threshold)
    blocks = [libc.malloc(size) for _ in range(count)]
    for b in blocks:
        ctypes.memset(b, 1, size)
    for b in blocks[:-1]:  # the last block pins the heap's top: glibc cannot shrink it on free
        libc.free(b)
    held = _rss_mib()
    assert release_freed_memory() is True
    assert held - _rss_mib() > 100  # most of the 200 MiB is back with the OS
    libc.free(blocks[-1])
