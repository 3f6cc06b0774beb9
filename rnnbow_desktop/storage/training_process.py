"""A TrainingRun in a child process driven from this one: the GUI's training, whose math would otherwise
share the interpreter lock with the window's drawing.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import subprocess
import sys
import threading
import time
import traceback
from collections import deque
from pathlib import Path

from ..core import errors
from ..core.config import TrainConfig
from ..core.corpus import Corpus
from ..core.errors import RnnbowError, TrainingDiverged
from ..core.records import StepResult
from .locks import writer_closed, writer_opened
from .run import TrainingRun

# A numpy training loop on arrays this small (25 × 100) holds the interpreter lock nearly all the
# time, so in one process a training thread and the GUI's Python drawing slow each other down:
# live training ran at 0.55–0.65 × headless (see benchmarks/bench_gui_latency.py). In a child
# process the math has a core and an interpreter to itself; the GUI process only unpickles what
# was trained. Every batch is still trained and written exactly as TrainingRun does it.

# The child sends what it trained at most this often: one message per batch would cost a system
# call, a wake-up of the receiving thread and a turn of this process's interpreter lock each (which
# the GUI thread then waits for); the GUI takes in snapshots at about this pace anyway (worker.py).
SEND_INTERVAL = 0.03  # seconds
CLOSE_TIMEOUT = 30.0  # seconds for the child to exit after closing the session (it takes milliseconds)


class ChildError(Exception):
    """An unexpected error (a bug, not a user's problem) inside the training process.

    `name` is the type name of the original exception and `details` its traceback in the child.
    """

    def __init__(self, name: str, message: str, details: str = ""):
        super().__init__(message)
        self.name = name
        self.details = details


class ChildUnavailable(OSError):
    """No training process could be started here (or it ended before it could say why)."""


def _describe(exc: BaseException) -> tuple:
    """An exception as plain data: exception types whose constructors take other arguments than
    their message (TrainingDiverged) do not survive pickling themselves."""
    if isinstance(exc, TrainingDiverged):
        return ("TrainingDiverged", str(exc.args[0]), exc.batch)
    if isinstance(exc, RnnbowError):
        return (type(exc).__name__, str(exc), None)
    if isinstance(exc, OSError):
        return ("OSError", exc.strerror or str(exc), (exc.errno, exc.filename))
    return ("ChildError", str(exc), (type(exc).__name__, "".join(traceback.format_exception(exc))))


def _rebuild(description: tuple) -> BaseException:
    """The exception `_describe` described, with the same type and message."""
    name, message, extra = description
    if name == "TrainingDiverged":
        exc = TrainingDiverged.__new__(TrainingDiverged)
        RnnbowError.__init__(exc, message)
        exc.batch = extra
        return exc
    if name == "OSError":
        number, filename = extra
        return OSError(number, message, filename)
    if name == "ChildError":
        return ChildError(extra[0], message, extra[1])
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, RnnbowError):
        return cls(message)
    return RnnbowError(message)


class _StreamChannel:
    """Length-prefixed pickles over two binary streams (the child's stdin and stdout)."""

    def __init__(self, reader, writer):
        self._reader, self._writer = reader, writer

    def send(self, message) -> None:
        data = pickle.dumps(message, protocol=5)  # protocol 5 keeps read-only arrays read-only
        self._writer.write(len(data).to_bytes(8, "little"))
        self._writer.write(data)
        self._writer.flush()

    def recv(self):
        size = int.from_bytes(self._read(8), "little")
        return pickle.loads(self._read(size))

    def _read(self, n: int) -> bytes:
        data = self._reader.read(n)  # a buffered read: all n bytes, or fewer only at the end
        if data is None or len(data) < n:
            raise EOFError("the other side closed the channel")
        return data

    def close(self) -> None:
        for stream in (self._writer, self._reader):
            try:
                stream.close()
            except OSError:
                pass


class _ConnectionChannel:
    """The same over a multiprocessing Connection (a frozen app has no Python to start)."""

    def __init__(self, connection):
        self._connection = connection

    def send(self, message) -> None:
        self._connection.send_bytes(pickle.dumps(message, protocol=5))

    def recv(self):
        return pickle.loads(self._connection.recv_bytes())

    def close(self) -> None:
        self._connection.close()


def _start_child():
    """(channel, process) of a new training process that waits for its run's description."""
    if getattr(sys, "frozen", False):
        return start_multiprocessing_child()
    return start_python_child()


def start_multiprocessing_child():
    """A child through multiprocessing: a frozen app has no Python to start (its entry point calls
    multiprocessing.freeze_support(), see storage/preflight.py)."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=serve_connection, args=(theirs,), daemon=True)
    try:
        process.start()
    except RuntimeError as exc:
        raise ChildUnavailable(str(exc)) from None
    finally:
        theirs.close()
    return _ConnectionChannel(ours), process


def start_python_child():
    """A fresh `python -c` that imports only this package: multiprocessing's "spawn" would re-run
    the caller's main script in the child, and "fork" would copy a GUI's threads."""
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, "1")  # as the CLI does: BLAS threads cost more than they gain here
    # Its own session (process group): a Ctrl+C in the terminal reaches the app, which stops the
    # run in order, and not the child in the middle of a write.
    detach = {"start_new_session": True} if os.name == "posix" else {
        "creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    process = subprocess.Popen(
        [sys.executable, "-c", f"from {__name__} import serve_stdio; serve_stdio()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, **detach,
    )
    return _StreamChannel(process.stdout, process.stdin), process


def _end_child(process, timeout: float) -> int | None:
    """Wait for the child to exit (killing it after `timeout`); its exit code."""
    if isinstance(process, subprocess.Popen):
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()
    process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join()
    return process.exitcode


class _ChildGone(Exception):
    """The child's end of the channel closed without a reply."""


class TrainingProcess:
    """A TrainingRun in a child process, with TrainingRun's interface: `step()`, `batch`, `records`,
    `flush()`, `close()` and the same errors (rebuilt here with their messages).

    The child trains ahead of `step()` on its own; `settle()` stops it after its current batch and
    returns what it trained beyond the last `step()`, so a caller that pauses or stops accounts for
    every batch in the file. The next `step()` lets it go on. If this process dies without closing,
    the child ends at once without writing again: the file is left as a killed app leaves it.
    """

    in_process = False  # the math runs in another interpreter; this side mostly waits on a pipe

    def __init__(self, corpus: Corpus, config: TrainConfig, out: Path, force: bool = False):
        self.config = config.validate()
        self.path = Path(out)
        self.batch = 0
        self.records = 0
        self._ahead: deque[StepResult] = deque()
        self._failure: BaseException | None = None
        self._failed_batch: int | None = None
        self._settled = False
        self._closed = False
        self._trust_key = None
        try:
            self._channel, self._process = _start_child()
        except OSError as exc:
            raise ChildUnavailable(f"cannot start a training process ({exc})") from None
        try:
            self._channel.send((corpus, config, os.fspath(out), force))
            kind, info = self._receive()
        except (_ChildGone, OSError):
            self._end()
            raise ChildUnavailable("the training process ended before it started training") from None
        if kind != "ready":
            self._end()
            raise _rebuild(info)
        # Files this process's runs wrote are trusted by its readers (no pre-flight check).
        self._trust_key = writer_opened(self.path)

    # -- the run's interface -----------------------------------------------------------------------
    def step(self) -> StepResult:
        """The next trained batch (already written by the child, as TrainingRun.step writes it)."""
        while not self._ahead:
            if self._failure is not None:
                if self._failed_batch is not None:
                    self.batch = self._failed_batch
                raise self._failure
            if self._closed:
                raise errors.SessionWriteError(f"{self.path}: the session is already closed")
            try:
                if self._settled:
                    self._channel.send(("go",))
                    self._settled = False
                self._receive()
            except (_ChildGone, OSError):
                self._failure = self._gone_error()
        result = self._ahead.popleft()
        self._count(result)
        return result

    def settle(self) -> list[StepResult]:
        """Stop the child after its current batch; the batches it trained beyond the last `step()`."""
        if not (self._settled or self._closed or self._failure is not None):
            try:
                self._request("settle", "settled")
                self._settled = True
            except (_ChildGone, OSError):
                self._failure = self._gone_error()
        results = list(self._ahead)
        self._ahead.clear()
        for result in results:
            self._count(result)
        return results

    def flush(self) -> None:
        """Commit every trained batch to the file (raises the run's write error, as TrainingRun does)."""
        if self._closed:
            return
        try:
            error = self._request("flush", "flushed")
        except (_ChildGone, OSError):
            self._failure = self._failure or self._gone_error()
            raise self._failure from None
        if error is not None:
            raise _rebuild(error)

    def close(self) -> None:
        """Save what is pending and mark the session complete; after a write error, does nothing."""
        if self._closed:
            return
        self._closed = True
        error = None
        try:
            error = self._request("close", "closed")
        except (_ChildGone, OSError):
            pass  # nothing more can be saved: the file stays as the child last flushed it
        finally:
            self._end()
            writer_closed(self.path, self._trust_key)
            self._trust_key = None
        if error is not None:
            raise _rebuild(error)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- the channel ---------------------------------------------------------------------------------
    def _count(self, result: StepResult) -> None:
        self.batch = result.batch + 1
        self.records += result.record is not None

    def _receive(self) -> tuple[str, object]:
        """One message from the child: its trained batches join the queue; (kind, info) is returned."""
        try:
            kind, results, info = self._channel.recv()
        except (EOFError, OSError, pickle.UnpicklingError):
            raise _ChildGone from None
        self._ahead.extend(results)
        if kind == "failed":
            description, self._failed_batch = info
            self._failure = _rebuild(description)
        return kind, info

    def _request(self, command: str, reply: str):
        """Send `command` and wait for its reply (taking in the batches trained meanwhile)."""
        self._channel.send((command,))
        while True:
            kind, info = self._receive()
            if kind == reply:
                return info

    def _gone_error(self) -> RnnbowError:
        code = _end_child(self._process, 5.0)
        return RnnbowError(f"the training process ended unexpectedly (exit code {code}); "
                           f"{self.path} keeps what was saved before")

    def _end(self) -> None:
        self._channel.close()
        _end_child(self._process, CLOSE_TIMEOUT)


def start_run(corpus: Corpus, config: TrainConfig, out: Path, force: bool = False) -> TrainingProcess | TrainingRun:
    """The run a GUI trains: in a child process where one can be started, else in this process."""
    existed = Path(out).exists()
    try:
        return TrainingProcess(corpus, config, out, force)
    except ChildUnavailable:
        # A child that died while creating the file may have left it behind: that one is ours to replace.
        return TrainingRun(corpus, config, out, force=force or (not existed and Path(out).exists()))


# -- the child's side ------------------------------------------------------------------------------
def serve_stdio() -> None:
    """Entry point of `python -c`: serve one run over stdin (commands) and stdout (results)."""
    results = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print must not corrupt the channel
    serve(_StreamChannel(sys.stdin.buffer, results))


def serve_connection(connection) -> None:
    """Entry point of a multiprocessing child (frozen apps)."""
    serve(_ConnectionChannel(connection))


def _send(channel, message) -> None:
    try:
        channel.send(message)
    except (OSError, EOFError):
        os._exit(1)  # the parent is gone: leave the file exactly as a killed app leaves it


class _Sender:
    """Sends the child's messages, in order, from a thread of their own.

    Why: a message of 30 ms of batches is larger than a pipe holds, so writing it waits until the parent
    has read the start; the parent's reading thread must win its own interpreter lock for every chunk, which
    it does only between the window's drawing. Written from the training loop, that wait stopped training
    for ~5 % of the time (measured with benchmarks/bench_gui_latency.py); from here it overlaps training.
    """

    def __init__(self, channel):
        self._channel = channel
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="rnnbow-sender", daemon=True)
        self._thread.start()

    def send(self, message) -> None:
        self._queue.put(message)

    def finish(self) -> None:
        """Wait until every message is written."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (message := self._queue.get()) is not None:
            _send(self._channel, message)


def _listen(channel, commands: queue.SimpleQueue) -> None:
    """Pass the parent's commands to the training loop; end the process when the parent is gone."""
    while True:
        try:
            command = channel.recv()
        except (EOFError, OSError, pickle.UnpicklingError):
            os._exit(1)  # gone without closing: no further write, as after a kill
        commands.put(command)
        if command[0] == "close":
            return


def serve(channel) -> None:
    """Train the run the first message describes until told to close, sending batches as they are trained.

    Every message to the parent is (kind, results trained since the last message, info).
    Commands: "settle" stops after the current batch, "go" goes on, "flush" commits the file,
    "close" completes it and ends.
    """
    try:
        corpus, config, out, force = channel.recv()
    except (EOFError, OSError):
        return
    try:
        run = TrainingRun(corpus, config, Path(out), force=force)
    except Exception as exc:  # noqa: BLE001 — the parent reports it, as if it had happened there
        _send(channel, ("error", [], _describe(exc)))
        return
    _send(channel, ("ready", [], None))
    sender = _Sender(channel)
    commands: queue.SimpleQueue = queue.SimpleQueue()
    threading.Thread(target=_listen, args=(channel, commands), daemon=True).start()
    training, failed = True, False
    pending: list[StepResult] = []
    last_send = time.monotonic()
    while True:
        if training and not failed:
            try:
                command = commands.get_nowait()
            except queue.Empty:
                command = None
        else:
            command = commands.get()
        if command is not None:
            kind = command[0]
            if kind == "go":
                training = True
            elif kind == "settle":
                training = False
                sender.send(("settled", pending, None))
                pending = []
            elif kind == "flush":
                error = None
                try:
                    run.flush()
                except Exception as exc:  # noqa: BLE001
                    error = _describe(exc)
                sender.send(("flushed", pending, error))
                pending = []
            elif kind == "close":
                error = None
                try:
                    run.close()
                except Exception as exc:  # noqa: BLE001
                    error = _describe(exc)
                sender.send(("closed", pending, error))
                sender.finish()
                return
            continue
        try:
            result = run.step()
        except Exception as exc:  # noqa: BLE001 — TrainingRun's errors, and bugs, go to the parent
            failed = True
            sender.send(("failed", pending, (_describe(exc), run.batch)))
            pending = []
            continue
        pending.append(result)
        now = time.monotonic()
        if now - last_send >= SEND_INTERVAL:
            sender.send(("results", pending, None))
            pending = []
            last_send = now
