"""The comparison demo's Qt-free part: training the three cells, and the numbers it prints about them."""

from __future__ import annotations


import numpy as np
import pytest

from processes import python

from rnnbow_desktop import cli
from rnnbow_desktop.cli import demo as compare_demo
from rnnbow_desktop.cli.demo import (
    CELLS, closing_markers, demo_paths, format_table, measure, recall_accuracy, showcase, smooth_loss, train_demo,
)
from rnnbow_desktop.core.corpus import load_corpus
from rnnbow_desktop.core.training import Trainer
from rnnbow_desktop.core.errors import RnnbowError
from rnnbow_desktop.analysis.compare import horizon_profile
from rnnbow_desktop.storage.reader import Session

TINY = dict(batches=30, hidden=8, seq_length=12, record_every=3)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    calls = []
    paths = train_demo(folder, progress=lambda *args: calls.append(args), **TINY)
    return folder, paths, calls


def test_trains_rnn_lstm_and_gru_alike_on_the_long_range_sample(demo):
    folder, paths, calls = demo
    assert [p.name for p in paths] == ["long-range-rnn.h5", "long-range-lstm.h5", "long-range-gru.h5"]
    assert paths == demo_paths(folder)
    for cell, path in zip(CELLS, paths):
        with Session(path) as session:
            cfg = session.info.config
            assert cfg.cell == cell
            assert (cfg.hidden_size, cfg.seq_length, cfg.record_every, cfg.seed) == (8, 12, 3, compare_demo.SEED)
            assert session.info.corpus_name == "long-range"
            assert session.batches_trained == 30 and session.n_records == 10
            assert (session.record(0).itemized_gate is None) == (cell == "rnn")
    # Progress: each cell reports its last batch with the running loss.
    assert [(c[0], c[1], c[2]) for c in calls if c[1] == 30] == [(cell, 30, 30) for cell in CELLS]
    assert all(np.isfinite(c[3]) for c in calls)


def test_refuses_to_overwrite_unless_forced_or_reused(demo):
    folder, paths, _ = demo
    before = [p.stat().st_mtime_ns for p in paths]
    with pytest.raises(RnnbowError, match="already exists"):
        train_demo(folder, **TINY)
    assert train_demo(folder, reuse=True, **TINY) == paths
    assert [p.stat().st_mtime_ns for p in paths] == before  # nothing retrained


def test_force_retrains_and_a_missing_folder_is_an_error(tmp_path):
    train_demo(tmp_path, **dict(TINY, batches=3))
    train_demo(tmp_path, force=True, **dict(TINY, batches=6))
    with Session(tmp_path / "long-range-gru.h5") as session:
        assert session.batches_trained == 6
    with pytest.raises(RnnbowError, match="does not exist"):
        train_demo(tmp_path / "nowhere", **TINY)


def test_smooth_loss_is_the_trainers_running_loss(demo):
    _, paths, _ = demo
    corpus = load_corpus("long-range", min_length=13)
    trainer = Trainer(corpus, compare_demo.demo_config("lstm", hidden=8, seq_length=12, record_every=3))
    for _ in range(30):
        last = trainer.step()
    with Session(paths[1]) as session:
        assert smooth_loss(session) == pytest.approx(last.smooth_loss, rel=1e-6)


def test_closing_markers_sit_d_characters_after_the_opening_one():
    text = "05:Ae..cA\n10:F.....e...F\n"
    closing = closing_markers(text)
    assert np.flatnonzero(closing).tolist() == [8, 23]
    assert text[8] == "A" and closing[8] == 5
    assert text[23] == "F" and closing[23] == 10


def test_measure_reports_the_end_of_training(demo):
    _, paths, _ = demo
    m = measure(paths[2])
    assert m.cell == "gru" and m.batches == 30 and m.seq_length == 12
    assert m.end_batches == (24, 27) and m.records == 2  # records from 80% of 30 batches on
    with Session(paths[2]) as session:
        for statistic, measured in (("median", m.profile_typical), ("mean", m.profile_pooled)):
            profile = horizon_profile(session, first_batch=24, statistic=statistic)
            assert measured == {5: pytest.approx(profile.relative[5]), 10: pytest.approx(profile.relative[10])}
        horizons = session.column("horizon")[session.batches() >= 24]
        assert m.median_horizon == np.median(horizons)
        assert m.smooth_loss == pytest.approx(smooth_loss(session))
        assert m.recall == recall_accuracy(session, 24)
    assert all(v is None or 0 <= v <= 1 for v in m.recall.values())


def test_recall_counts_the_predicted_closing_markers(demo):
    _, paths, _ = demo
    with Session(paths[0]) as session:
        closing = closing_markers(session.corpus().text)
        right = seen = 0
        for i in range(session.n_records):
            record = session.record(i)
            for step in range(len(record.targets)):
                if closing[record.position + 1 + step] == 10:
                    seen += 1
                    right += int(record.predictions[step] == record.targets[step])
        recall = recall_accuracy(session, 0)
    assert recall[10] == (right / seen if seen else None)


def test_tables_list_every_cell(demo):
    _, paths, _ = demo
    measures = [measure(p) for p in paths]
    rows = format_table(measures).splitlines()
    headers = [i for i, r in enumerate(rows) if r.strip().startswith("cell")]
    assert len(headers) == 2
    assert "horizon" in rows[headers[0]] and "recall 40" in rows[headers[0]]
    assert "typical 10" in rows[headers[1]] and "all 10" in rows[headers[1]] and "20" not in rows[headers[1]]  # n = 12
    for h in headers:
        assert [r.split()[0] for r in rows[h + 1 : h + 4]] == list(CELLS)
    lstm = rows[headers[0] + 2].split()
    assert lstm[1] == f"{measures[1].loss_per_char:.3f}" and lstm[2] == f"{measures[1].median_horizon:g}"


def test_showcase_finds_a_loss_that_must_recall_a_marker_d_back(tmp_path):
    paths = train_demo(tmp_path, batches=60, hidden=8, seq_length=24, record_every=1)
    assert showcase(paths[0], distance=40) is None  # never inside a batch of 24 steps
    found = showcase(paths[0], distance=10)
    assert found is not None
    batch, t = found
    with Session(paths[0]) as session:
        record = session.record(session.find_record(batch))
        closing = closing_markers(session.corpus().text)
    assert batch >= 48 and t >= 9  # at the end of training; the opening marker inside the batch
    assert closing[record.position + 1 + t] == 10
    assert record.inputs[t - 9] == record.targets[t]  # the marker to recall is the input 9 steps before t


def test_main_trains_and_prints_without_a_window(tmp_path, capsys):
    assert cli.main(["demo", "--batches", "5", "--hidden", "8", "--out-dir", str(tmp_path), "--no-window"]) == 0
    out = capsys.readouterr().out
    assert "rnn" in out and "lstm" in out and "gru" in out and "recall" in out
    assert cli.main(["demo", "--batches", "5", "--hidden", "8", "--out-dir", str(tmp_path), "--no-window"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert cli.main(["demo", "--out-dir", str(tmp_path), "--reuse", "--no-window"]) == 0


def test_importing_the_demo_loads_no_qt():
    code = "import sys, rnnbow_desktop.cli.demo; sys.exit('PySide6' in sys.modules)"
    assert python(code).returncode == 0
