"""A first look at a training run: train a small model, open its session, and save what a user looks at first.

    python examples/first_look.py [FOLDER]

Trains a small vanilla RNN on the bundled C-like sample (about ten seconds), then writes into FOLDER (default: a new
temporary folder):

    first-look.h5      the session, as `rnnbow train` writes it (open it with `rnnbow gui first-look.h5`)
    over_training.csv  batch, effective horizon and max gradient of every recorded batch
    overview.png       the overview: max gradient per batch and effective horizon below, as
                       `rnnbow render first-look.h5 --view overview` draws it

Only the public API: `rnnbow_desktop.train`, `rnnbow_desktop.open_session` and `render_session` of
`rnnbow_desktop.gui.render` (docs/api.md).
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import rnnbow_desktop as rb
from rnnbow_desktop.gui.render import render_session

BATCHES = 3000
SETTINGS = dict(cell="rnn", hidden_size=64, seq_length=25, checkpoint_every=1000, sample_every=0, seed=0)


def first_look(folder: Path, batches: int = BATCHES) -> dict[str, Path]:
    """Train, open and save into `folder`; the files written, by what they hold."""
    folder.mkdir(parents=True, exist_ok=True)
    session_path = rb.train("c-like", folder / "first-look.h5", batches=batches, force=True, **SETTINGS)

    with rb.open_session(session_path) as session:
        print(session)
        batch = session.batches  # (R,) the training batch of every record
        horizon = session.records("horizon")  # (R,) effective horizon, in steps
        max_gradient = session.records("max_gradient")  # (R,) the largest step gradient ‖S_j‖
        loss = session.loss_per_char[-100:].mean()  # nats per character, the last 100 batches
    table = folder / "over_training.csv"
    with table.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["batch", "horizon", "max_gradient"])
        writer.writerows(zip(batch.tolist(), horizon.tolist(), max_gradient.tolist()))

    overview = render_session(session_path, folder / "overview.png", view="overview", force=True)
    print(f"{len(batch):,} records; loss {loss:.3f} nats/char over the last 100 batches; "
          f"median horizon {float(sorted(horizon)[len(horizon) // 2]):g} steps")
    return {"session": session_path, "table": table, "overview": overview}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, help="where to write (default: a new temporary folder)")
    args = parser.parse_args(argv)
    folder = args.folder or Path(tempfile.mkdtemp(prefix="rnnbow-first-look-"))
    for what, path in first_look(folder).items():
        print(f"{what:9} {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
