"""`rnnbow gui` (the default command) and the console-less `rnnbow-gui` launcher: open the window."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> None:
    gui = sub.add_parser("gui", help="open the window (the default command)")
    add_arguments(gui)
    gui.set_defaults(run=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", nargs="?", type=Path, metavar="SESSION.h5", help="a saved session to open")
    parser.add_argument("--corpus", default=None, help="preselect this corpus")
    parser.add_argument("--start", action="store_true", help="start training at once")
    parser.add_argument("--out", type=Path, default=None, help="session file to write when training")


def run(args: argparse.Namespace) -> int:
    from ..gui.launch import run_app

    return run_app(session=getattr(args, "session", None), corpus=getattr(args, "corpus", None),
                   start=getattr(args, "start", False), out=getattr(args, "out", None))
