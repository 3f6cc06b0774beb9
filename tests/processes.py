"""The one way tests start child processes: `rnnbow` as a user runs it, Python snippets, and runs stopped by a signal.

A plain module (tests have no packages): pytest puts tests/ on sys.path (`pythonpath` in pyproject.toml),
so `from processes import rnnbow` works from tests/, tests/gui/ and tests/analysis/ alike.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

RNNBOW = [sys.executable, "-m", "rnnbow_desktop"]


def app_env(folder: Path | None = None, display: bool = True) -> dict[str, str]:
    """This process's environment for a child that may open windows.

    With `folder`, the child's settings and data live there, never in the user's. With a display, Qt draws
    offscreen (unless a platform is chosen already); without one, the child sees what a server shows: no X11,
    no Wayland, no platform.
    """
    env = dict(os.environ)
    if folder is not None:
        env.update(RNNBOW_SETTINGS_DIR=str(folder), XDG_DATA_HOME=str(Path(folder) / "data"))
    if display:
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    else:
        for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
            env.pop(name, None)
    return env


def run(argv: list[object], timeout: float = 120, **run_options) -> subprocess.CompletedProcess[str]:
    """`argv` run to its end in a new process, as text; output is captured unless `run_options` name a stdout
    or stderr. Other `run_options` go to subprocess.run (env, cwd, preexec_fn, ...)."""
    if not {"stdout", "stderr"} & run_options.keys():
        run_options["capture_output"] = True
    return subprocess.run([str(a) for a in argv], text=True, timeout=timeout, **run_options)


def rnnbow(*args: object, timeout: float = 120, **run_options) -> subprocess.CompletedProcess[str]:
    """`rnnbow ARGS` run to its end, as `run` runs it."""
    return run([*RNNBOW, *args], timeout=timeout, **run_options)


def python(code: str, *args: object, timeout: float = 60, **run_options) -> subprocess.CompletedProcess[str]:
    """`python -c CODE ARGS` with this interpreter, run to its end, as `run` runs it."""
    return run([sys.executable, "-c", code, *args], timeout=timeout, **run_options)


def wait_for_file(path: Path, timeout: float = 30) -> None:
    """Return once `path` exists (a started run has created its session), or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not Path(path).exists() and time.monotonic() < deadline:
        time.sleep(0.05)


@contextlib.contextmanager
def started(argv: list[object], writes: Path | None = None, settle: float = 0.0,
            **popen_options) -> Iterator[subprocess.Popen[str]]:
    """A child running `argv`, yielded once it has created `writes` and `settle` seconds more have passed.

    Output is piped as text unless `popen_options` say otherwise. However the test ends, the child does not
    outlive it: still running, it is killed, and its pipes are drained and closed.
    """
    options = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) | popen_options
    proc = subprocess.Popen([str(a) for a in argv], **options)
    try:
        if writes is not None:
            wait_for_file(writes)
        time.sleep(settle)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        if any(stream is not None and not stream.closed for stream in (proc.stdin, proc.stdout, proc.stderr)):
            proc.communicate()
        else:
            proc.wait()


def rnnbow_started(*args: object, writes: Path | None = None, settle: float = 0.0,
                   **popen_options) -> contextlib.AbstractContextManager[subprocess.Popen[str]]:
    """`rnnbow ARGS` as `started` runs it: yielded once `writes` exists and `settle` seconds have passed."""
    return started([*RNNBOW, *args], writes=writes, settle=settle, **popen_options)


def python_started(code: str, *args: object,
                   **popen_options) -> contextlib.AbstractContextManager[subprocess.Popen[str]]:
    """`python -c CODE ARGS` as `started` runs it, yielded at once."""
    return started([sys.executable, "-c", code, *args], **popen_options)


def stop(proc: subprocess.Popen[str], *signals: signal.Signals, gap: float = 0.005,
         timeout: float = 30) -> tuple[str, str]:
    """Send `signals` one after another (`gap` seconds apart: a second Ctrl+C lands while the first is being
    handled), then wait for the child to end; its (stdout, stderr)."""
    for number in signals:
        proc.send_signal(number)
        time.sleep(gap)
    return proc.communicate(timeout=timeout)


def one_line(stderr: str) -> str:
    """The single line of `stderr`, after checking it is one line with no traceback, ignored exception or warning."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr and "Warning" not in stderr
    return lines[0]


def one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """The one-line `rnnbow: ...` message of a run that failed with exit status 1, after checking it names `words`."""
    assert result.returncode == 1, result.stderr
    line = one_line(result.stderr)
    assert line.startswith("rnnbow: "), line
    for word in words:
        assert word in line, (word, line)
    return line
