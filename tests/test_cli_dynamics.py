"""`rnnbow dynamics` as a user runs it: curves as text and JSON, the npz and the picture, choices of checkpoints,
state, probe and form, one-line errors, and Ctrl+C."""

from __future__ import annotations

import argparse
import json
import signal

import numpy as np
import pytest

from pictures import png_size
from processes import one_line_error, rnnbow, rnnbow_started, stop
from tiny_sessions import train_session
from rnnbow_desktop.cli.dynamics import checkpoint_range
from rnnbow_desktop.storage.reader import Session
from rnnbow_desktop.storage.session_dynamics import select_checkpoints

TEXT = "if (x) { y = x->next; }\n\telse { y = 0; return buf[n]; }\n" * 60


def train(path, batches: int, **config) -> None:
    train_session(path, batches, TEXT, "loop", **(dict(record_every=5, checkpoint_every=5, seed=2) | config))


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    """lstm.h5 and rnn.h5 with 12 checkpoints (batches 0, 5, …, 55), and none.h5 without checkpoints."""
    folder = tmp_path_factory.mktemp("dynamics")
    paths = {}
    for name, config in (("lstm", dict(cell="lstm")), ("rnn", dict(cell="rnn")), ("none", dict(checkpoint_every=0))):
        paths[name] = folder / f"{name}.h5"
        train(paths[name], 60, **config)
    return paths


pytestmark = pytest.mark.usefixtures("offscreen_children")


def test_curves_as_json_and_as_a_table(sessions):
    done = rnnbow("dynamics", sessions["lstm"], "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["checkpoints"] == list(range(0, 60, 5))
    assert len(result["spread"]) == len(result["communities"]) == 12
    assert all(s > 0 for s in result["spread"]) and all(1 <= c <= 8 for c in result["communities"])
    assert result["interslice_knn"] == 3  # max(2, 12 // 4), not M-PHATE's 25
    assert result["t"] >= 1 and result["units"] == 8 and result["state"] == "h" and not result["multiway"]
    with Session(sessions["lstm"]) as session:
        assert 1000 < result["characters"] <= 2000  # the default probe: the end of the corpus
    assert "dynamics" in done.stderr  # progress, on stderr

    table = rnnbow("dynamics", sessions["lstm"], "--interslice-knn", 25)
    assert table.returncode == 0, table.stderr
    assert "12 checkpoints, 8 units over" in table.stdout and "interslice_knn 25" in table.stdout
    rows = [line.split() for line in table.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert [int(r[0]) for r in rows] == list(range(0, 60, 5))


def test_npz_and_picture(sessions, tmp_path):
    npz, png = tmp_path / "d.npz", tmp_path / "d.png"
    done = rnnbow("dynamics", sessions["lstm"], "--npz", npz, "--out", png, "--width", 900, "--height", 500,
                  "--color-by", "unit", "--state", "c")
    assert done.returncode == 0, done.stderr
    assert f"wrote {npz}" in done.stdout and f"wrote {png}" in done.stdout
    with np.load(npz) as data:
        assert data["embedding"].shape == (12, 8, 2) and np.isfinite(data["embedding"]).all()
        np.testing.assert_array_equal(data["checkpoints"], np.arange(0, 60, 5))
        np.testing.assert_array_equal(data["units"], np.arange(8))
        assert data["spread"].shape == data["communities"].shape == (12,)
        centred = data["embedding"] - data["embedding"].mean(axis=1, keepdims=True)
        np.testing.assert_allclose(data["spread"], np.linalg.norm(centred, axis=2).mean(axis=1), rtol=1e-6)
        assert int(data["interslice_knn"]) == 3 and int(data["t"]) >= 1
    assert png_size(png) == (900, 500) and png.stat().st_size > 20_000

    # Existing files are kept unless --force; the check comes before the work.
    again = rnnbow("dynamics", sessions["lstm"], "--npz", npz)
    one_line_error(again, str(npz), "already exists", "--force")
    assert rnnbow("dynamics", sessions["lstm"], "--npz", npz, "--force").returncode == 0


def test_multiway(sessions, tmp_path):
    npz = tmp_path / "m.npz"
    done = rnnbow("dynamics", sessions["rnn"], "--multiway", "--steps", 4, "--checkpoints", "20:", "--npz", npz, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["multiway"] and result["checkpoints"] == list(range(20, 60, 5)) and result["samples"] == 64
    with np.load(npz) as data:
        assert data["embedding"].shape == (8, 4 * 8, 2)
        np.testing.assert_array_equal(data["units"], np.tile(np.arange(8), 4))
        np.testing.assert_array_equal(data["steps"], np.repeat(np.arange(4), 8))


def test_checkpoint_range_and_probe_text(sessions, tmp_path):
    probe = tmp_path / "probe.txt"
    probe.write_text("if (x) { y = 0; }\n" * 10)
    done = rnnbow("dynamics", sessions["rnn"], "--checkpoints", "10:30", "--text", probe, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["checkpoints"] == [10, 15, 20, 25, 30] and result["characters"] == 180
    assert result["interslice_knn"] == 2


@pytest.mark.parametrize(
    "problem, words",
    [
        ("no checkpoints", ("none.h5", "no checkpoints", "--checkpoint-every")),
        ("one checkpoint chosen", ("1 checkpoint(s) from batch 55 to the end", "at least 2")),
        ("cell state of an rnn", ("rnn has no cell state",)),
        ("probe outside the vocabulary", ("outside the session's vocabulary", "'Z'")),
        ("missing probe", ("nowhere.txt", "no such file")),
        ("npz name", ("d.txt", ".npz")),
        ("steps without multiway", ("--steps", "--multiway")),
        ("not a session", ("junk.h5", "not an RNNbow session")),
    ],
)
def test_mistakes_are_one_line(sessions, tmp_path, problem, words):
    args = {
        "no checkpoints": [sessions["none"]],
        "one checkpoint chosen": [sessions["rnn"], "--checkpoints", "55:"],
        "cell state of an rnn": [sessions["rnn"], "--state", "c"],
        "probe outside the vocabulary": [sessions["rnn"], "--text", tmp_path / "z.txt"],
        "missing probe": [sessions["rnn"], "--text", tmp_path / "nowhere.txt"],
        "npz name": [sessions["rnn"], "--npz", tmp_path / "d.txt"],
        "steps without multiway": [sessions["rnn"], "--steps", 3],
        "not a session": [tmp_path / "junk.h5"],
    }[problem]
    (tmp_path / "z.txt").write_text("x = Z;")
    (tmp_path / "junk.h5").write_bytes(b"nope" * 100)
    one_line_error(rnnbow("dynamics", *args), *words)


def test_bad_checkpoint_range_is_a_usage_error(sessions):
    done = rnnbow("dynamics", sessions["rnn"], "--checkpoints", "30:10")
    assert done.returncode == 2 and "A must not be after B" in done.stderr and len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    "text, expected",
    [("all", (None, None)), ("0:100", (0, 100)), ("2,000:", (2000, None)), (":8000", (None, 8000)), ("5:5", (5, 5))],
)
def test_checkpoint_range(text, expected):
    assert checkpoint_range(text) == expected


@pytest.mark.parametrize("text", ["", "5", "a:b", "1:2:3", "-1:4", "9:3"])
def test_checkpoint_range_refuses(text):
    with pytest.raises(argparse.ArgumentTypeError):
        checkpoint_range(text)


def test_select_checkpoints_by_batch():
    batches = np.array([0, 100, 200, 300])
    np.testing.assert_array_equal(select_checkpoints(batches), [0, 1, 2, 3])
    np.testing.assert_array_equal(select_checkpoints(batches, 100, 200), [1, 2])  # both ends included
    np.testing.assert_array_equal(select_checkpoints(batches, 150), [2, 3])
    np.testing.assert_array_equal(select_checkpoints(batches, None, 99), [0])
    # At most `limit`: every k-th and the last, k as small as fits; as the session grows they stay put.
    hundred = select_checkpoints(np.arange(100), limit=40)
    np.testing.assert_array_equal(hundred, [*range(0, 100, 3)])  # k = ⌈99 / 39⌉ = 3, and 99 is a multiple
    grown = select_checkpoints(np.arange(101), limit=40)
    np.testing.assert_array_equal(grown, [*range(0, 100, 3), 100])
    assert len(select_checkpoints(np.arange(612), limit=40)) <= 40
    np.testing.assert_array_equal(select_checkpoints(np.arange(30), limit=40), np.arange(30))


def test_ctrl_c_cancels_cleanly(tmp_path):
    big = tmp_path / "big.h5"
    train(big, 200, cell="gru", hidden_size=48, checkpoint_every=5)  # 40 checkpoints × 25 steps × 48 units
    npz = tmp_path / "never.npz"
    with rnnbow_started("dynamics", big, "--multiway", "--npz", npz) as proc:
        # Interrupted once its first progress line says it is replaying (a fixed wait of 4 s was once longer
        # than the whole run on an idle machine).
        first = proc.stderr.readline()
        assert "replayed checkpoint" in first, first
        stdout, stderr = stop(proc, signal.SIGINT)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "rnnbow: cancelled; nothing written"
    assert "Traceback" not in stderr and stdout == ""
    assert not npz.exists()


def test_read_trace_inputs_reads_only_what_a_reused_trace_lacks(sessions):
    from rnnbow_desktop.analysis.hidden_trace import build_trace
    from rnnbow_desktop.storage.session_dynamics import read_trace_inputs

    with Session(sessions["lstm"]) as session:
        first = read_trace_inputs(session, max_checkpoints=6)
        assert [c.batch for c in first.checkpoints] == [0, 15, 30, 45, 55]  # every 3rd of 12, and the last
        assert all(c.params for c in first.checkpoints) and first.checkpoint_count == 12
        earlier = build_trace(first.cell, first.checkpoints[:3], first.ids)  # batches 0, 15, 30
        again = read_trace_inputs(session, max_checkpoints=6, reuse=earlier)
        assert [bool(c.params) for c in again.checkpoints] == [False, False, False, True, True]
        trace = build_trace(again.cell, again.checkpoints, again.ids, reuse=earlier)
        np.testing.assert_array_equal(trace.trace[:3], earlier.trace)
        np.testing.assert_allclose(trace.trace, build_trace(first.cell, first.checkpoints, first.ids).trace)
        # A trace of another state is no use: everything is read.
        other = read_trace_inputs(session, state="c", max_checkpoints=6, reuse=earlier)
        assert all(c.params for c in other.checkpoints)
