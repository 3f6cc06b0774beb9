"""The scripts in examples/, run as a user runs them (a new process, no display), so CI keeps them working."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from pictures import png_size
from processes import app_env, run

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

pytestmark = pytest.mark.slow


def test_first_look_saves_horizon_and_max_gradient_as_csv_and_the_overview_as_png(tmp_path):
    folder = tmp_path / "look"  # created by the script
    done = run([sys.executable, EXAMPLES / "first_look.py", folder], env=app_env(tmp_path, display=False), timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr

    # The table holds every record of the session, as the file itself has them (read here with h5py alone).
    with (folder / "over_training.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["batch", "horizon", "max_gradient"]
    table = np.array(rows[1:], dtype=float)  # (R, 3)
    with h5py.File(folder / "first-look.h5", "r") as f:
        batch, horizon = f["records/batch"][:], f["records/horizon"][:]
        step_gradient = f["records/step_gradient"][:]  # (R, n): the max gradient is the largest of them
        seq_length = int(f.attrs["seq_length"])
    assert len(table) == len(batch) == 3000
    np.testing.assert_array_equal(table[:, 0], batch)
    np.testing.assert_array_equal(table[:, 1], horizon)
    np.testing.assert_allclose(table[:, 2], step_gradient.max(axis=1), rtol=1e-6)
    assert 1 <= table[:, 1].min() and table[:, 1].max() <= seq_length and (table[:, 2] > 0).all()

    # The overview as a PNG, at the size `rnnbow render --view overview` draws it.
    overview = folder / "overview.png"
    assert png_size(overview) == (1400, 420)
    assert overview.stat().st_size > 20_000  # curves and axes, not a blank picture
    for what in ("session", "table", "overview"):
        assert what in done.stdout
