"""Entry point of the frozen app: `rnnbow-gui` (no console) opens the window, `rnnbow` is the full CLI."""

import os
import sys

if sys.stdout is None:  # windowed builds have no console streams
    sys.stdout = open(os.devnull, "w")
if sys.stderr is None:
    sys.stderr = open(os.devnull, "w")

from rnnbow_desktop.cli import main  # noqa: E402

if __name__ == "__main__":
    name = os.path.splitext(os.path.basename(sys.executable))[0]
    argv = sys.argv[1:]
    if name == "rnnbow-gui" and (not argv or argv[0] not in ("gui", "--version", "-h", "--help")):
        argv = ["gui", *argv]
    sys.exit(main(argv))
