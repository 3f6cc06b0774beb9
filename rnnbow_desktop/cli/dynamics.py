"""`rnnbow dynamics`: how the hidden units organise themselves over training — the multislice embedding of a
session's checkpoints replayed over a probe text, and its spread and community curves."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..analysis.hidden_trace import MULTIWAY_SAMPLES, MULTIWAY_STEPS, STATES
from ..core.errors import Cancelled, RnnbowError
from ..storage.paths import check_new_file
from .args import PROG, positive_int
from .progress import Progress
from .signals import StopRequests

PROGRESS_STEPS = 1000  # the bar's resolution


def checkpoint_range(text: str) -> tuple[int | None, int | None]:
    """'all' → (None, None); 'A:B' → batches A to B, both included, either may be left out ('2000:', ':8000')."""
    if text == "all":
        return None, None
    if text.count(":") != 1:
        raise argparse.ArgumentTypeError(f"expected all or A:B (batches A to B), got '{text}'")
    bounds = []
    for part in text.split(":"):
        if not part.strip():
            bounds.append(None)
            continue
        try:
            value = int(part.replace(",", "").replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected all or A:B with whole numbers, got '{text}'") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"batches are 0 or more, got '{text}'")
        bounds.append(value)
    first, last = bounds
    if first is not None and last is not None and first > last:
        raise argparse.ArgumentTypeError(f"A must not be after B, got '{text}'")
    return first, last


def add_parser(sub) -> None:
    dynamics = sub.add_parser(
        "dynamics", help="how the hidden units organise themselves over training (multislice PHATE of the checkpoints)",
        description="Replay every checkpoint of a session over a probe text and embed every (checkpoint, unit) in one "
                    "picture (M-PHATE; MM-PHATE with --multiway). Prints the spread of the units and the number of "
                    "unit communities at each checkpoint: phases of expansion and compression over training.",
    )
    dynamics.add_argument("session", type=Path, metavar="SESSION.h5")
    dynamics.add_argument("--text", type=Path, default=None, metavar="FILE",
                          help="probe text (UTF-8, characters of the session's vocabulary; default: about 2,000 "
                               "characters from the end of the session's corpus)")
    dynamics.add_argument("--checkpoints", type=checkpoint_range, default=(None, None), metavar="all|A:B",
                          help="the checkpoints taken at batches A to B, both included; either may be left out "
                               "(default: all)")
    dynamics.add_argument("--multiway", action="store_true",
                          help=f"the multiway form: {MULTIWAY_SAMPLES} windows of the probe, each read from the "
                               "checkpoint's state; points are (step, unit), linked across checkpoints and steps")
    dynamics.add_argument("--steps", type=positive_int, default=None,
                          help=f"--multiway: characters per window (default: the session's sequence length, at most "
                               f"{MULTIWAY_STEPS})")
    dynamics.add_argument("--state", choices=STATES, default="h",
                          help="h: the hidden state (default); c: the LSTM's cell state")
    dynamics.add_argument("--interslice-knn", type=positive_int, default=None, metavar="K",
                          help="copies of a unit its bandwidth across checkpoints is measured to (default: a quarter "
                               "of the number of checkpoints, at least 2; M-PHATE's own default, 25, glues each "
                               "unit's trajectory into one place when there are only ~20 checkpoints)")
    dynamics.add_argument("--out", type=Path, default=None, metavar="PICTURE.png|PICTURE.svg",
                          help="draw the embedding and the curves to this file")
    dynamics.add_argument("--color-by", choices=("checkpoint", "unit"), default="checkpoint",
                          help="--out: colour the points by training time (default) or by unit")
    dynamics.add_argument("--width", type=positive_int, default=1400, help="--out: image width (default: 1400)")
    dynamics.add_argument("--height", type=positive_int, default=800, help="--out: image height (default: 800)")
    dynamics.add_argument("--npz", type=Path, default=None, metavar="FILE.npz",
                          help="write embedding (checkpoints, points, 2), checkpoints, units, spread, communities "
                               "(and steps with --multiway) to this numpy file")
    dynamics.add_argument("--force", action="store_true", help="overwrite existing --out and --npz files")
    dynamics.add_argument("--json", action="store_true",
                          help="print the curves, the chosen diffusion time t and the settings as one JSON object")
    dynamics.set_defaults(run=run)


def check_npz_path(path: Path, overwrite: bool) -> Path:
    if path.suffix.lower() != ".npz":
        raise RnnbowError(f"{path}: a numpy file name must end in .npz")
    return check_new_file(path, overwrite)


def summary(path: Path, dynamics) -> dict:
    """What --json prints."""
    curves = dynamics.curves
    return {
        "session": str(path),
        "state": dynamics.state,
        "multiway": dynamics.point_step is not None,
        "units": dynamics.units,
        "characters": dynamics.characters,
        "samples": dynamics.samples,
        "interslice_knn": dynamics.interslice_knn,
        "t": dynamics.t,
        "checkpoints": [int(b) for b in curves.checkpoints],
        "spread": [round(float(s), 6) for s in curves.spread],
        "communities": [int(c) for c in curves.communities],
    }


def table(path: Path, dynamics) -> str:
    curves = dynamics.curves
    form = (f"(step, unit) points of {dynamics.samples} windows" if dynamics.point_step is not None
            else f"units over {dynamics.characters:,} probe characters")
    lines = [
        f"{path}: {len(curves.checkpoints)} checkpoints, {dynamics.units} {form} (state {dynamics.state})",
        f"  interslice_knn {dynamics.interslice_knn}, diffusion time t = {dynamics.t}",
        "",
        "     batch    spread  communities",
    ]
    lines += [f"  {int(b):>8,}  {s:8.4f}  {c:11d}" for b, s, c in zip(curves.checkpoints, curves.spread, curves.communities)]
    return "\n".join(lines)


def write_npz(path: Path, dynamics) -> None:
    import numpy as np

    arrays = dict(embedding=dynamics.embedding, checkpoints=dynamics.checkpoints, units=dynamics.point_unit,
                  spread=dynamics.curves.spread, communities=dynamics.curves.communities,
                  t=np.int64(dynamics.t), interslice_knn=np.int64(dynamics.interslice_knn))
    if dynamics.point_step is not None:
        arrays["steps"] = dynamics.point_step
    try:
        with open(path, "wb") as handle:
            np.savez(handle, **arrays)
    except OSError as exc:
        raise RnnbowError(f"{path}: cannot be written ({exc.strerror or exc})") from None


def run(args: argparse.Namespace) -> int:
    from ..analysis.probe import read_probe_file
    from ..storage.paths import check_image_path
    from ..storage.reader import Session
    from ..storage.session_dynamics import session_dynamics

    # Files that cannot be written are refused before minutes of work, not after.
    out = check_image_path(args.out, overwrite=args.force) if args.out is not None else None
    npz = check_npz_path(args.npz, args.force) if args.npz is not None else None
    if args.steps is not None and not args.multiway:
        raise RnnbowError("--steps is for --multiway")
    text = read_probe_file(args.text) if args.text is not None else None
    first, last = args.checkpoints
    bar = Progress(PROGRESS_STEPS, "dynamics")
    with StopRequests() as stop, Session(args.session) as session:

        def progress(fraction: float, what: str) -> None:
            if stop.requested:
                raise Cancelled
            bar.update(int(fraction * PROGRESS_STEPS), what)

        try:
            _trace, dynamics = session_dynamics(
                session, text, first, last, args.state, args.multiway, args.interslice_knn, args.steps,
                progress=progress,
            )
        except Cancelled:
            bar.close()
            print(f"{PROG}: cancelled; nothing written", file=sys.stderr)
            return 130
        bar.update(PROGRESS_STEPS, "done", force=True)
        bar.close()
    if npz is not None:
        write_npz(npz, dynamics)
    if out is not None:
        from ..gui.dynamics.render import render_dynamics

        render_dynamics(dynamics, out, size=(args.width, args.height), color_by=args.color_by, force=True,
                        title=f"{args.session.name} — {session.info.config.cell}")
    if args.json:
        print(json.dumps(summary(args.session, dynamics), indent=2))
    else:
        print(table(args.session, dynamics))
        for written in (npz, out):
            if written is not None:
                print(f"wrote {written}")
    return 0
