"""Restart a benchmark tool under the allocator setting its memory column needs.

:mod:`attnplug.analysis.profiling` reads a CPU call's peak memory from the resident set, which
is only faithful when glibc ``mmap``s every block over 64 KiB (``MALLOC_MMAP_THRESHOLD_=65536``,
:data:`~attnplug.analysis.profiling.MMAP_ENV`): freed tensors then leave the resident set. The
setting is read when the process starts, so a tool that measures memory restarts itself with it
before importing torch. This lives beside the benchmarks, not in the library: replacing the
running process is a tool's decision, never a library call's.
"""
import os
import sys
from typing import List

from attnplug.analysis.profiling import MMAP_ENV

__all__ = ['reexec_with_mmap_threshold']


def reexec_with_mmap_threshold(script: str, argv: List[str]) -> None:
    """Restart ``python script *argv`` with ``MALLOC_MMAP_THRESHOLD_=65536`` unless it is set
    (Linux only; a no-op otherwise or when already set)."""
    if MMAP_ENV in os.environ or not sys.platform.startswith('linux'):
        return
    os.environ[MMAP_ENV] = '65536'
    os.execv(sys.executable, [sys.executable, os.path.abspath(script)] + list(argv))
