"""`rnnbow compare` and `rnnbow demo`, run as a user runs them: in a subprocess, checking files, exit codes and messages."""

from __future__ import annotations

import os
import signal

import pytest

from pictures import png_size
from processes import app_env, one_line_error, rnnbow, rnnbow_started, stop
from rnnbow_desktop.storage.reader import Session

CELLS = ("rnn", "lstm", "gru")

pytestmark = pytest.mark.usefixtures("offscreen_children")


@pytest.fixture
def sessions(cell_sessions):
    """The same small corpus trained with each cell by the real trainer (tests/conftest.py)."""
    return cell_sessions


# -- rnnbow compare ------------------------------------------------------------------------------------------


def test_compare_out_draws_the_comparison(sessions, tmp_path):
    out = tmp_path / "cmp.png"
    result = rnnbow("compare", *sessions, "--out", out, "--hover-step", 9)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote {out}"
    assert png_size(out) == (1600, 1000)
    assert out.stat().st_size > 50_000  # three columns of views and two plots, not a blank page

    # An existing picture is kept unless --force.
    before = out.read_bytes()
    again = rnnbow("compare", *sessions[:2], "--out", out, "--width", 1200, "--height", 800)
    one_line_error(again, str(out), "already exists", "--force")
    assert out.read_bytes() == before
    forced = rnnbow("compare", *sessions[:2], "--out", out, "--width", 1200, "--height", 800, "--force")
    assert forced.returncode == 0, forced.stderr
    assert png_size(out) == (1200, 800)


@pytest.mark.parametrize("problem", ["one session", "missing file", "random bytes", "bad hover step"])
def test_compare_errors_name_the_file_in_one_line(sessions, tmp_path, problem):
    out = tmp_path / "never.png"
    if problem == "one session":
        result, words = rnnbow("compare", sessions[0], "--out", out), ("at least two", str(sessions[0]))
    elif problem == "missing file":
        missing = tmp_path / "gone.h5"
        result, words = rnnbow("compare", sessions[0], missing, "--out", out), (str(missing), "no such file")
    elif problem == "random bytes":
        junk = tmp_path / "junk.h5"
        junk.write_bytes(os.urandom(4096))
        result, words = rnnbow("compare", junk, sessions[1], "--out", out), (str(junk), "not an RNNbow session")
    else:
        result, words = rnnbow("compare", *sessions, "--out", out, "--hover-step", 10), ("hover step 10", "0–9")
    one_line_error(result, *words)
    assert not out.exists()


def test_compare_opens_the_window(sessions, tmp_path, monkeypatch):
    # The app's own test hooks: close the window after it drew, keeping what it showed.
    shot = tmp_path / "window.png"
    monkeypatch.setenv("RNNBOW_QUIT_AFTER_MS", "300")
    monkeypatch.setenv("RNNBOW_SCREENSHOT", str(shot))
    monkeypatch.setenv("RNNBOW_SETTINGS_DIR", str(tmp_path))
    result = rnnbow("compare", *sessions, "--batch", 10, "--width", 1300, "--height", 900)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    width, height = png_size(shot)
    assert width >= 1000 and height >= 700 and shot.stat().st_size > 50_000


def test_compare_without_a_display_says_how_to_draw_it_instead(sessions):
    result = rnnbow("compare", *sessions, env=app_env(display=False))
    one_line_error(result, "no display found", "--out")


# -- rnnbow demo ---------------------------------------------------------------------------------------------


def test_demo_trains_three_cells_draws_them_and_prints_the_numbers(tmp_path):
    folder = tmp_path / "demo"  # created by the demo
    result = rnnbow("demo", "--batches", 60, "--hidden", 8, "--out-dir", folder, "--no-window")
    assert result.returncode == 0, result.stderr
    sessions = [folder / f"long-range-{cell}.h5" for cell in CELLS]
    for cell, path in zip(CELLS, sessions):
        with Session(path) as session:
            assert session.info.config.cell == cell and session.batches_trained == 60
    picture = folder / "long-range-compare.png"
    assert png_size(picture) == (1600, 1000)

    # What it is doing, as it does it (stderr) ...
    assert "Training long-range-rnn.h5, long-range-lstm.h5, long-range-gru.h5" in result.stderr
    for cell in CELLS:
        assert f"{cell} " in result.stderr and "60 batches in" in result.stderr
    # ... and at the end the picture, the sessions and the measured numbers (stdout).
    out = result.stdout
    assert f"wrote {picture}" in out and f"rnnbow compare {sessions[0]}" in out
    lines = out.splitlines()
    headers = [i for i, line in enumerate(lines) if line.strip().startswith("cell")]
    assert len(headers) == 2
    assert "horizon" in lines[headers[0]].split() and "typical 20" in lines[headers[1]]
    for h in headers:
        assert [line.split()[0] for line in lines[h + 1: h + 4]] == list(CELLS)
    horizons = [float(line.split()[2]) for line in lines[headers[0] + 1: headers[0] + 4]]
    assert all(1 <= h <= 50 for h in horizons)  # the median effective horizon, in steps of a 50-step batch

    # Running it again never replaces the sessions silently.
    stamps = [p.stat().st_mtime_ns for p in sessions]
    again = rnnbow("demo", "--batches", 60, "--hidden", 8, "--out-dir", folder, "--no-window")
    one_line_error(again, "already exists", "--force", "--reuse")
    assert [p.stat().st_mtime_ns for p in sessions] == stamps

    # --reuse compares what is there; without a display it draws the picture instead of failing.
    svg = tmp_path / "demo.svg"
    reused = rnnbow("demo", "--out-dir", folder, "--reuse", "--render", svg, env=app_env(display=False))
    assert reused.returncode == 0, reused.stderr
    assert "no display found" in reused.stderr and "already in" in reused.stderr
    assert "Training" not in reused.stderr
    assert [p.stat().st_mtime_ns for p in sessions] == stamps
    assert svg.read_text(encoding="utf-8").lstrip().startswith("<?xml")
    assert "typical 20" in reused.stdout


def test_ctrl_c_stops_the_demo_between_batches(tmp_path):
    folder = tmp_path / "demo"
    rnn = folder / "long-range-rnn.h5"
    with rnnbow_started("demo", "--batches", 1_000_000, "--hidden", 8, "--out-dir", folder, "--no-window",
                        writes=rnn, settle=1.0) as proc:
        stdout, stderr = stop(proc, signal.SIGINT)
    assert proc.returncode == 1 and "Traceback" not in stderr
    assert f"rnnbow: stopped: {rnn} keeps the batches trained so far" in stderr and "--force" in stderr
    assert stdout == ""  # no numbers for a demo that did not finish
    with Session(rnn) as session:  # a complete, shorter session
        assert session.info.complete and 0 < session.batches_trained < 1_000_000
    assert not (folder / "long-range-lstm.h5").exists()
