"""Latency sampling shared by the benchmark suites."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable


def timed(fn: Callable[[], object], *, repeat: int, warmup: int = 50) -> dict:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {
        "n": repeat,
        "p50_ms": round(statistics.median(samples), 4),
        "p95_ms": round(samples[int(0.95 * (repeat - 1))], 4),
        "mean_ms": round(statistics.fmean(samples), 4),
    }


def versus(measured: dict, baseline: dict) -> dict:
    return {**measured, "ratio_p50_to_baseline": round(measured["p50_ms"] / baseline["p50_ms"], 2)}


def proc_cpu(pid) -> float | None:
    """CPU seconds of a process so far (Linux /proc), None when it is gone or unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None
