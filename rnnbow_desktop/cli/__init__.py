"""The `rnnbow` command: train headless, summarize a session, render figures, compare sessions, run the demo,
or open the window. One module per command; each has `add_parser(sub)` and `run(args) -> int`."""

from __future__ import annotations

import os

# The per-batch matrices are small (25 × 100); OpenBLAS threads cost more than they gain there
# (measured: a 25 × 2500 product took 2.3× longer with two threads than with one) and would
# compete with the GUI thread for the second core. Users can still override it.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

from ..core.version import __version__  # noqa: E402
from ..core.errors import RnnbowError  # noqa: E402
from . import compare, demo, dynamics, find, gui, info, render, train, units  # noqa: E402
from .args import PROG, OneLineParser, one_line  # noqa: E402

COMMANDS = (train, info, find, render, compare, dynamics, units, demo, gui)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description="RNNbow Desktop: watch the itemized gradients of a recurrent network while it learns.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def _console_streams() -> None:
    """A windowed (console-less) frozen build or pythonw has no console streams."""
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w")
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")


def main(argv=None) -> int:
    _console_streams()
    # Past a file-size limit the kernel would kill us with SIGXFSZ before we could say anything;
    # ignored, the write fails with EFBIG and the session writer reports it.
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    args = build_parser().parse_args(argv)
    return dispatch(args)


def dispatch(args: argparse.Namespace) -> int:
    """Run a parsed command; a user's mistake becomes one line on stderr and exit status 1."""
    command = getattr(args, "run", gui.run)
    try:
        code = command(args)
        # Flushed here, not at exit: block-buffered output into a closed pipe would otherwise fail in
        # Python's own final flush, which reports it with exit status 120 instead of the quiet 141.
        sys.stdout.flush()
        return code
    except RnnbowError as exc:
        print(f"{PROG}: {one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`rnnbow info s.h5 | head`): nothing left to say, and nothing to say it to.
        # Python's own flush at exit would fail again, so point stdout at nothing first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell tool killed by it would report


def gui_main(argv=None) -> int:
    """The console-less `rnnbow-gui` launcher: the same arguments as `rnnbow gui`."""
    _console_streams()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv[:1] == ["--version"]:
        parser.parse_args(argv)  # prints the version and exits, like `rnnbow --version`
    return dispatch(parser.parse_args(["gui", *argv]))


if __name__ == "__main__":
    sys.exit(main())
