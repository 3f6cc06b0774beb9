"""A training run in a child process (the GUI's): the same batches, file and errors as TrainingRun in this process."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.core.corpus import load_corpus
from rnnbow_desktop.core.errors import SessionWriteError, TrainingDiverged
from rnnbow_desktop.storage import training_process as process_module
from rnnbow_desktop.storage.reader import Session
from rnnbow_desktop.storage.run import TrainingRun
from rnnbow_desktop.storage.training_process import ChildError, TrainingProcess

TINY = TrainConfig(hidden_size=16, seq_length=12, checkpoint_every=20, sample_every=30, seed=2)


@pytest.fixture(scope="module")
def corpus():
    return load_corpus("c-like")


def train_in_child(corpus, path, steps: int) -> list:
    """`steps` batches through step(), then what settle() returns, then close()."""
    with TrainingProcess(corpus, TINY, path) as run:
        results = [run.step() for _ in range(steps)]
        results += run.settle()
        assert run.batch == len(results) and run.records == len(results)
    return results


def test_the_child_trains_and_writes_exactly_what_an_in_process_run_does(corpus, tmp_path):
    results = train_in_child(corpus, tmp_path / "child.h5", 70)
    assert [r.batch for r in results] == list(range(len(results)))
    with TrainingRun(corpus, TINY, tmp_path / "here.h5") as run:
        expected = [run.step() for _ in range(len(results))]
    for got, want in zip(results, expected):
        assert got.loss == want.loss and got.smooth_loss == want.smooth_loss
        assert np.array_equal(got.record.itemized, want.record.itemized)
        assert got.record.horizon == want.record.horizon
        assert (got.sample is None) == (want.sample is None) and (got.checkpoint is None) == (want.checkpoint is None)
    # Read-only arrays survive the trip, as the GUI's snapshots promise.
    with pytest.raises(ValueError):
        results[3].record.itemized[0, 0] = 1.0
    with Session(tmp_path / "child.h5") as child, Session(tmp_path / "here.h5") as here:
        assert child.info.complete
        assert child.n_records == here.n_records == child.batches_trained == len(results)
        assert np.array_equal(child.training_loss(), here.training_loss())
        assert np.array_equal(child.record(len(results) - 1).contribution, here.record(len(results) - 1).contribution)
        assert child.samples() == here.samples()


def test_settle_stops_the_child_and_accounts_for_every_batch_it_trained(corpus, tmp_path):
    path = tmp_path / "settle.h5"
    with TrainingProcess(corpus, TINY, path) as run:
        taken = [run.step() for _ in range(25)]
        ahead = run.settle()
        settled_at = run.batch
        assert [r.batch for r in taken + ahead] == list(range(settled_at))
        run.flush()
        with Session(path) as session:
            assert session.batches_trained == settled_at  # flushed: a reader sees every trained batch
        time.sleep(0.2)  # a settled child trains nothing more
        run.flush()
        with Session(path) as session:
            assert session.batches_trained == settled_at
        assert run.step().batch == settled_at  # and goes on where it stopped


def test_errors_come_back_with_their_type_and_message(corpus, tmp_path):
    path = tmp_path / "taken.h5"
    with TrainingRun(corpus, TINY, path):
        pass
    with pytest.raises(SessionWriteError) as here:
        TrainingRun(corpus, TINY, path)
    with pytest.raises(SessionWriteError) as child:
        TrainingProcess(corpus, TINY, path)
    assert str(child.value) == str(here.value)

    diverging = dataclasses.replace(TINY, learning_rate=1e30)
    out = tmp_path / "diverged.h5"
    run = TrainingProcess(corpus, diverging, out)
    with pytest.raises(TrainingDiverged) as raised:
        for _ in range(100):
            run.step()
    assert str(raised.value).startswith("training diverged at batch ") and raised.value.batch == run.batch
    with pytest.raises(TrainingDiverged):
        run.step()  # as TrainingRun: the same error again, no training on
    run.close()
    with Session(out) as session:
        assert session.info.complete and session.batches_trained == run.batch


def test_a_bug_in_the_child_is_reported_with_its_own_traceback(tmp_path):
    with pytest.raises(ChildError) as raised:
        TrainingProcess(None, TINY, tmp_path / "bug.h5")  # no corpus: the child's Trainer fails
    assert raised.value.name == "AttributeError"
    assert "Traceback" in raised.value.details and "Trainer" in raised.value.details


def test_the_child_of_a_frozen_app_serves_the_same_run(corpus, tmp_path, monkeypatch):
    # A frozen app starts its child through multiprocessing; the protocol is the same.
    monkeypatch.setattr(process_module, "_start_child", process_module.start_multiprocessing_child)
    results = train_in_child(corpus, tmp_path / "frozen.h5", 10)
    assert [r.batch for r in results] == list(range(len(results)))
    with Session(tmp_path / "frozen.h5") as session:
        assert session.info.complete and session.n_records == len(results)
