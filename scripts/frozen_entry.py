"""Entry point of the frozen app: `rnnbow-gui` (no console) opens the window, `rnnbow` is the full CLI."""

import multiprocessing
import os
import sys

if sys.stdout is None:  # windowed builds have no console streams
    sys.stdout = open(os.devnull, "w")
if sys.stderr is None:
    sys.stderr = open(os.devnull, "w")

# The session reader's pre-flight check and the window's training run in child processes, which a
# frozen app can only start through multiprocessing: such a child is this same executable, and freeze_support() runs its task
# and exits here instead of starting the app again. Only the stream guards above come first, since
# the child of a windowed build has no console streams either.
multiprocessing.freeze_support()

from rnnbow_desktop.cli import main  # noqa: E402

if __name__ == "__main__":
    name = os.path.splitext(os.path.basename(sys.executable))[0]
    argv = sys.argv[1:]
    if name == "rnnbow-gui" and (not argv or argv[0] not in ("gui", "--version", "-h", "--help")):
        argv = ["gui", *argv]
    sys.exit(main(argv))
