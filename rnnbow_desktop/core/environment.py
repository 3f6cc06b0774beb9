"""The machine a run happens on: what a session records about it, and whether a window can open here."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import numpy as np

from .version import __version__

# Environment variables that set how many threads BLAS and OpenMP use: they change the speed of a
# run (and, for some BLAS builds, the last bits of its sums), so a session records those that are set.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
# /proc/cpuinfo names the processor under different keys on different architectures; the first found wins.
_CPUINFO_KEYS = ("model name", "Model", "Hardware", "cpu model", "cpu")


def has_display() -> bool:
    """False only where Qt would abort for want of a display: Linux/BSD without X11 or Wayland."""
    if sys.platform.startswith(("win", "darwin")):
        return True
    if os.environ.get("QT_QPA_PLATFORM"):
        return True  # the user chose a platform (offscreen, vnc, …); let Qt judge it
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def describe_environment() -> dict[str, str | int]:
    """What a session records about the software and machine of a run, so the run can be explained later.

    Plain JSON values only. The storage layer adds the versions of h5py and HDF5, which core cannot import.
    """
    blas, blas_config, simd = _numpy_build()
    return {
        "app_version": __version__,
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "numpy": np.__version__,
        "blas": blas,
        "blas_config": blas_config,
        "simd": simd,
        "thread_settings": " ".join(f"{name}={os.environ[name]}" for name in THREAD_VARIABLES if name in os.environ),
        "cpu": _cpu_model(),
        "cpu_count": _usable_cpus(),
        "os": platform.platform(),
        "machine": platform.machine(),
    }


def _numpy_build() -> tuple[str, str, str]:
    """numpy's BLAS ("scipy-openblas 0.3.29"), that BLAS's own build line, and the SIMD extensions in use."""
    try:
        config = np.show_config(mode="dicts")
    except (TypeError, ValueError):  # numpy < 1.26 can only print its configuration
        return "unknown", "", ""
    blas = config.get("Build Dependencies", {}).get("blas", {})
    name = " ".join(str(blas[key]) for key in ("name", "version") if blas.get(key))
    build = " ".join(str(blas.get("openblas configuration", "")).split())
    simd = " ".join(map(str, config.get("SIMD Extensions", {}).get("found", [])))
    return name or "unknown", build, simd


def _cpu_model() -> str:
    """The processor's model name, as the operating system reports it."""
    if sys.platform.startswith("linux"):
        fields: dict[str, str] = {}
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
                for line in cpuinfo:  # "key : value", once per processor: the first processor's
                    key, colon, value = line.partition(":")
                    if colon:
                        fields.setdefault(key.strip(), value.strip())
        except OSError:
            pass
        found = next((fields[key] for key in _CPUINFO_KEYS if fields.get(key)), "")
        if found:
            return found
    elif sys.platform == "darwin":
        try:
            done = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, timeout=5)
            if done.returncode == 0 and done.stdout.strip():
                return done.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine() or "unknown"


def _usable_cpus() -> int:
    """Processors this process may run on (fewer than the machine has under a container's or taskset's limit)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
