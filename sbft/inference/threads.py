"""How many CPU threads inference runs, on either backend (torch or ONNX Runtime)."""

from __future__ import annotations

import os
from pathlib import Path

from sbft.errors import SbftError


def physical_cores() -> int:
    """Physical cores among the CPUs this process may use (SMT siblings count once)."""
    usable = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not usable:
        return os.cpu_count() or 1
    cores = set()
    for cpu in usable:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            package = (topology / "physical_package_id").read_text().strip()
            core = (topology / "core_id").read_text().strip()
        except OSError:  # no sysfs topology (not Linux, or hidden): count logical CPUs
            return len(usable)
        cores.add((package, core))
    return len(cores)


def thread_count(threads: int | None = None) -> int:
    """`threads`, else OMP_NUM_THREADS, else one thread per physical core.

    One per physical core is what BLAS-heavy inference runs best with: hyper-threads share a
    core's vector units, and more threads than cores only add contention.
    """
    if threads is not None:
        if threads <= 0:
            raise SbftError("--threads must be positive", where="threads")
        return threads
    try:
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        return physical_cores()
