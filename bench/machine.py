"""What the machine a benchmark ran on could do, printed beside its figures.

CPU seconds per device are the figures that reproduce best, but only on the same kind of CPU and
only when the CPU is not shared: the same commit gave 0.9 s of station CPU a device on one machine
of this workplace and 2.8 s on another (both 2 vCPUs, load 1–4), and vCPUs that share a physical core
run slower while the other is busy, which CPU time counts too. Printed before and after a
benchmark, a fixed pure-Python workload's CPU time lets a reader see a contended run and scale
figures between machines (station CPU ÷ reference compares across machines; both are mostly
interpreter time).
"""

from __future__ import annotations

import os
import platform
import time

#: steps of the reference loop: about a second of CPU on a 2020s server core
REFERENCE_STEPS = 10_000_000


def cpu_reference() -> float:
    """CPU seconds of this process for :data:`REFERENCE_STEPS` additions in a Python loop (best of 3)."""
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        total = 0
        for i in range(REFERENCE_STEPS):
            total += i
        best = min(best, time.process_time() - start)
    return best


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def describe() -> str:
    """One line: CPU model, cores, the reference loop's CPU seconds and the load while it ran."""
    ref = cpu_reference()
    one, five, _ = os.getloadavg()
    return (f"machine: {_cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}; CPU reference "
            f"{ref:.2f} s ({REFERENCE_STEPS:,} Python loop steps, best of 3) [load {one:.1f}/{five:.1f}]")
