"""Background analysis threads of the window give way to the window itself and to the training.

On a two-core machine the training process takes one core; the window's own thread and an analysis
thread (Dynamics, Units, findings) share the other. Both want the CPU whenever the analysis runs, and
the operating system shares it evenly, so every frame waited behind the analysis: measured with
benchmarks/bench_gui_latency.py, the Dynamics view's updates took the event loop's p99 from ~28 ms to
43–60 ms. A thread that calls `yield_to_the_window()` first runs at the lowest scheduling priority
(Linux keeps a nice value per thread), so it gets the CPU time the window and training leave, which is
still most of a core.
"""

from __future__ import annotations

import os
import threading

BACKGROUND_NICE = 19  # the lowest priority; only this thread's, not the process's


def yield_to_the_window() -> bool:
    """Lower the calling thread's priority (Linux); True if that was done. Elsewhere, and where the system
    refuses, the thread keeps its priority and runs as before."""
    if not hasattr(os, "setpriority") or not os.uname().sysname == "Linux":
        return False
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
    except OSError:
        return False
    return True
