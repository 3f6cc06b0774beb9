"""The training thread on its own: frozen snapshots at a bounded rate, pause/resume/stop between batches, errors reported."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from rnnbow_desktop.core.corpus import load_corpus
from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.gui.worker import TrainingSnapshot, TrainingWorker, WorkerFailure
from rnnbow_desktop.storage.reader import Session
from rnnbow_desktop.storage.run import TrainingRun
from rnnbow_desktop.storage.training_process import TrainingProcess

TINY = TrainConfig(hidden_size=16, seq_length=12, checkpoint_every=0, sample_every=50, seed=1)


@pytest.fixture(scope="module")
def corpus():
    return load_corpus("c-like")


def make_run(corpus, tmp_path, config=TINY, name="run.h5") -> TrainingRun:
    return TrainingRun(corpus, config, tmp_path / name)


class Collector:
    """Keeps what the worker emitted (signals are delivered on the GUI thread)."""

    def __init__(self, worker: TrainingWorker):
        self.snapshots: list[TrainingSnapshot] = []
        self.failures: list[WorkerFailure] = []
        self.finished = False
        worker.snapshot.connect(self.snapshots.append)
        worker.failed.connect(self.failures.append)
        worker.finishedRun.connect(lambda _gen: setattr(self, "finished", True))

    @property
    def batch(self) -> int:
        return self.snapshots[-1].batch if self.snapshots else 0


@pytest.fixture
def started(qtbot, corpus, tmp_path):
    """A running worker and its collector; always stopped and joined afterwards."""
    workers = []

    def start(config=TINY, run=None):
        run = run or make_run(corpus, tmp_path, config)
        worker = TrainingWorker(run, generation=7)
        collector = Collector(worker)
        workers.append(worker)
        worker.start()
        return worker, collector, run

    yield start
    for worker in workers:
        worker.stop()
        assert worker.wait(5000)


def test_snapshots_are_frozen_batched_and_rate_limited(qtbot, started):
    worker, got, run = started()
    t0 = time.monotonic()
    qtbot.waitUntil(lambda: got.batch >= 300, timeout=10_000)
    elapsed = time.monotonic() - t0
    worker.stop()
    qtbot.waitUntil(lambda: got.finished, timeout=5000)

    snaps = got.snapshots
    assert all(s.generation == 7 for s in snaps)
    # Rate-limited (plus the final one), with many batches per signal rather than one signal per batch.
    assert len(snaps) <= elapsed / 0.03 + 5
    assert max(len(s.loss_batches) for s in snaps) > 1
    # Every batch's loss and record arrives exactly once, in order.
    batches = np.concatenate([s.loss_batches for s in snaps])
    assert np.array_equal(batches, np.arange(len(batches)))
    records = [r.batch for s in snaps for r in s.records]
    assert records == list(range(len(records)))
    assert snaps[-1].n_records == len(records) == run.records
    sample_batches = [sample.batch for s in snaps for sample in s.samples]
    assert sample_batches and sample_batches == list(range(0, 50 * len(sample_batches), 50))
    # Immutable: frozen dataclass, read-only arrays.
    snap = next(s for s in snaps if s.records)
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.batch = 0
    with pytest.raises(ValueError):
        snap.smooth_losses[0] = 0.0
    with pytest.raises(ValueError):
        snap.records[0].itemized[0, 0] = 1.0
    assert max(s.chars_per_second for s in snaps) > 0


def test_pause_holds_batches_resume_continues_stop_completes_file(qtbot, started, tmp_path):
    worker, got, run = started()
    qtbot.waitUntil(lambda: got.batch >= 20, timeout=10_000)
    worker.pause()
    qtbot.waitUntil(lambda: got.snapshots[-1].paused, timeout=5000)
    held = got.batch
    assert worker.paused
    qtbot.wait(300)
    assert got.batch == held
    assert run.batch == held  # the thread itself trained nothing while paused
    # A paused session is flushed: another reader sees every trained batch.
    with Session(run.path) as session:
        assert session.batches_trained == held

    worker.resume()
    qtbot.waitUntil(lambda: got.batch > held + 20, timeout=10_000)
    worker.stop()
    qtbot.waitUntil(lambda: got.finished, timeout=5000)
    assert worker.wait(2000)
    assert not got.failures
    with Session(run.path) as session:
        assert session.info.complete
        assert session.n_records == got.snapshots[-1].n_records > held


def test_stop_while_paused_finishes(qtbot, started):
    worker, got, run = started()
    qtbot.waitUntil(lambda: got.batch >= 5, timeout=10_000)
    worker.pause()
    qtbot.waitUntil(lambda: got.snapshots[-1].paused, timeout=5000)
    worker.stop()
    # A hang bound, not a speed test: a paused worker must wake up and finish (it takes milliseconds).
    assert worker.wait(10_000)
    with Session(run.path) as session:
        assert session.info.complete


def test_divergence_is_reported_and_the_session_kept(qtbot, started):
    # Real and deterministic: with this learning rate the first update saturates the softmax.
    worker, got, run = started(dataclasses.replace(TINY, learning_rate=1e30))
    qtbot.waitUntil(lambda: got.finished, timeout=10_000)
    assert len(got.failures) == 1
    failure = got.failures[0]
    assert failure.title == "Training diverged"
    assert "diverged at batch" in failure.message and "smaller learning rate" in failure.message
    assert failure.details == ""  # an expected error: no traceback for the user
    with Session(run.path) as session:
        assert session.info.complete
        assert session.n_records >= 1


def test_unexpected_error_reports_traceback(qtbot, started, corpus, tmp_path, monkeypatch):
    run = make_run(corpus, tmp_path)
    real_step = run.trainer.step

    def step():
        if run.trainer.batch == 10:
            raise ZeroDivisionError("simulated bug")
        return real_step()

    monkeypatch.setattr(run.trainer, "step", step)
    worker, got, _ = started(run=run)
    qtbot.waitUntil(lambda: got.finished, timeout=10_000)
    assert len(got.failures) == 1
    failure = got.failures[0]
    assert failure.title == "Unexpected error during training"
    assert "ZeroDivisionError: simulated bug" in failure.message
    assert "Traceback" in failure.details and "simulated bug" in failure.details
    with Session(run.path) as session:
        assert session.info.complete
        assert session.n_records == 10


def test_hold_waits_for_the_gui_and_never_for_long(qtbot, started):
    worker, got, run = started()
    qtbot.waitUntil(lambda: got.batch >= 5, timeout=10_000)
    worker.hold()
    qtbot.wait(50)  # the batch in progress finishes
    held = run.batch
    qtbot.wait(100)
    assert run.batch <= held + 1  # stepped aside while the window draws
    # A frame whose release never comes costs at most HOLD_TIMEOUT per batch, not a stalled run.
    qtbot.waitUntil(lambda: run.batch >= held + 3, timeout=3000)
    worker.release()
    qtbot.waitUntil(lambda: run.batch >= held + 50, timeout=10_000)


def test_a_run_in_a_child_process_reaches_the_gui_batch_by_batch(qtbot, started, corpus, tmp_path):
    run = TrainingProcess(corpus, TINY, tmp_path / "child.h5")
    worker, got, _ = started(run=run)
    qtbot.waitUntil(lambda: got.batch >= 50, timeout=20_000)
    # Nothing to step aside for: a held in-process loop would now take HOLD_TIMEOUT per batch.
    worker.hold()
    qtbot.waitUntil(lambda: got.batch >= 250, timeout=20_000)
    worker.pause()
    qtbot.waitUntil(lambda: got.snapshots[-1].paused, timeout=5000)
    held = got.batch
    # What the child trained ahead of the loop is in the paused snapshot, and flushed to the file.
    with Session(run.path) as session:
        assert session.batches_trained == held
    qtbot.wait(300)
    assert got.batch == held

    worker.resume()
    qtbot.waitUntil(lambda: got.batch > held + 20, timeout=10_000)
    worker.stop()
    qtbot.waitUntil(lambda: got.finished, timeout=10_000)
    assert not got.failures
    batches = np.concatenate([s.loss_batches for s in got.snapshots])
    assert np.array_equal(batches, np.arange(len(batches)))
    records = [r.batch for s in got.snapshots for r in s.records]
    assert records == list(range(len(records))) and got.snapshots[-1].n_records == len(records)
    with Session(run.path) as session:
        assert session.info.complete and session.n_records == session.batches_trained == len(records)
