"""Large CPU tensors without a page fault per byte: glibc's malloc told to keep freed memory.

glibc serves every block above its mmap threshold (at most 32 MB by its own rule) with a fresh
``mmap`` and returns it to the system on ``free``. A training step of the paper's network at
327680 px allocates and frees activations of tens to hundreds of MB per layer, so every step
faults all of them in again: at batch 8 on this project's 2-core AMD EPYC, 1.4 s of a 1.6-s step
was the kernel zeroing pages (700k minor faults a step). With the threshold at 1 GiB and freed
memory kept for reuse, the same step takes 0.7 s (26k faults), and ``train()``'s paper-network
step at batch 32 went from 14.2 to 3.0 s (``benchmarks/training.py --paper``); the
peak resident memory grew by ~10 %. The process keeps its heap until it exits, and blocks of
many sizes fragment it: 300 rounds of two arrays of 8-320 MB held a resident 2.5 GB where glibc's
default held 1.0 GB at most. So it is set where the same sizes repeat -- a training run
(``train()``) and ``karaoke clean --backend torch`` on the CPU (batches of one size) -- and not on
``import karaoke``.
"""

from __future__ import annotations

import ctypes
import platform
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
_done = None


def reuse_freed_memory(mmap_threshold: int = 1 << 30) -> bool:
    """Serve blocks up to ``mmap_threshold`` bytes from the heap and keep freed memory for reuse
    (glibc's ``mallopt``; once per process).

    Returns
    -------
    bool
        True where set (Linux with glibc), False elsewhere (other C libraries, macOS, Windows:
        nothing is changed).
    """
    global _done
    if _done is None:
        _done = False
        if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
            try:
                libc = ctypes.CDLL("libc.so.6")
                _done = bool(
                    libc.mallopt(M_MMAP_THRESHOLD, ctypes.c_int(min(int(mmap_threshold), 2**31 - 1)))
                    and libc.mallopt(M_TRIM_THRESHOLD, ctypes.c_int(2**31 - 1))
                )
            except (OSError, AttributeError):
                _done = False
    return _done
