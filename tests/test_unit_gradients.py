"""`OpenSession.replay` and `OpenSession.unit_gradients`: the model of a checkpoint over any text, and one batch's
per-unit itemized gradients recomputed from the checkpoints (with and without Adagrad's memory in the file)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import rnnbow_desktop as rb
from rnnbow_desktop.analysis.replay import encode, replay
from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.core.corpus import Corpus
from rnnbow_desktop.core.errors import Cancelled, ConfigError
from rnnbow_desktop.core.training import Trainer
from rnnbow_desktop.core.unit_itemized import unit_itemized
from rnnbow_desktop.storage.schema import OPTIONAL_CHECKPOINT_FIELDS

TEXT = "for (i = 0; i < n; i++) { s += a[i] * (b[i] - c); }\n" * 12
SETTINGS = dict(hidden_size=7, seq_length=9, record_every=1, checkpoint_every=10, sample_every=0)
BATCHES = 95  # 95 × 9 characters: the corpus (636) wraps once


def config(cell):
    return TrainConfig(cell=cell, **SETTINGS)


@pytest.fixture(scope="module", params=["rnn", "lstm", "gru"])
def session_file(request, tmp_path_factory):
    cell = request.param
    path = tmp_path_factory.mktemp(cell) / "s.h5"
    rb.train(Corpus("loop.c", TEXT), path, batches=BATCHES, cell=cell, **SETTINGS)
    return cell, path


def fresh_unit_gradients(cell, batch):
    """An independent reference: a new trainer run from batch 0, itemized per unit at `batch`."""
    trainer = Trainer(Corpus("loop.c", TEXT), config(cell))
    for _ in range(batch):
        trainer.step()
    _, inputs, targets, state0 = trainer.next_batch()
    return unit_itemized(trainer.cell, trainer.params, inputs, targets, state0)


@pytest.mark.parametrize("batch", [0, 37, 70, 94])  # at a checkpoint, between two, after the wrap, the last
def test_unit_gradients_square_sum_to_the_recorded_itemized(session_file, batch):
    cell, path = session_file
    with rb.open_session(path) as s:
        found = s.unit_gradients(batch)
        recorded = s.record(batch)
    n, H = SETTINGS["seq_length"], SETTINGS["hidden_size"]
    assert found.values.shape == (n, n, H) and not found.values.flags.writeable
    assert found.from_checkpoint == batch // 10 * 10 and found.batches_retrained == batch % 10
    assert found.seconds > 0
    np.testing.assert_array_equal(found.inputs, recorded.inputs)
    # The record holds float32: the identity holds to its rounding (relative 2⁻²⁴ ≈ 6e-8).
    np.testing.assert_allclose((found.values**2).sum(axis=2), recorded.itemized.astype(float) ** 2, rtol=3e-7, atol=1e-30)
    assert found.record_deviation < 3e-7
    np.testing.assert_array_equal(found.values, fresh_unit_gradients(cell, batch))


def test_old_files_without_optimizer_memory_retrain_from_batch_0(session_file, tmp_path):
    cell, path = session_file
    old = tmp_path / "old.h5"
    old.write_bytes(path.read_bytes())
    with h5py.File(old, "r+") as f:
        for name in OPTIONAL_CHECKPOINT_FIELDS:
            del f[f"checkpoints/{name}"]
    seen = []
    with rb.open_session(old) as s:
        assert s.checkpoint(30).memory is None
        found = s.unit_gradients(37, progress=lambda fraction, text: seen.append((fraction, text)))
        assert found.from_checkpoint is None and found.batches_retrained == 37
    assert [f for f, _ in seen] == [k / 37 for k in range(1, 38)]
    assert seen[-1][1] == "re-training batch 37 of 37 from the initial weights"
    np.testing.assert_array_equal(found.values, fresh_unit_gradients(cell, 37))


def test_unit_gradients_can_be_cancelled_and_refuse_untrained_batches(session_file):
    _, path = session_file

    def cancel(fraction, text):
        raise Cancelled()

    with rb.open_session(path) as s:
        with pytest.raises(Cancelled):
            s.unit_gradients(45, progress=cancel)
        with pytest.raises(ConfigError, match="batch 95 was not trained"):
            s.unit_gradients(BATCHES)


def test_checkpoints_keep_the_trainers_optimizer_memory(session_file):
    cell, path = session_file
    trainer = Trainer(Corpus("loop.c", TEXT), config(cell))
    for _ in range(20):
        trainer.step()
    with rb.open_session(path) as s:
        cp = s.checkpoint(20)
    assert set(cp.memory) == set(cp.params)  # every parameter; one the cell never trains stays 0
    for name, value in cp.memory.items():
        np.testing.assert_array_equal(value, trainer.memory.get(name, np.zeros_like(value)))


def test_replay_runs_a_checkpoint_over_any_text(session_file):
    cell, path = session_file
    probe = "{ s += (a[0] - b); }\n"
    with rb.open_session(path) as s:
        got = s.replay(probe, checkpoint=50)
        last = s.replay(probe)
        cp = s.checkpoint(50)
        vocab = s.vocab
        assert s.checkpoints[-1] == 90
        np.testing.assert_array_equal(last.h, replay(cell, s.checkpoint(90).params, None, encode(probe, vocab)).h)
        with pytest.raises(ConfigError, match=r"outside the session's vocabulary: '@', 'Z'"):
            s.replay("i@Z@")
        with pytest.raises(KeyError, match="no checkpoint at batch 55"):
            s.replay(probe, checkpoint=55)
    expected = replay(cell, cp.params, None, encode(probe, vocab))
    T, H, V = len(probe), SETTINGS["hidden_size"], len(vocab)
    assert got.h.shape == (T, H) and got.probs.shape == (T, V) and got.loss.shape == (T,)
    assert (got.c is not None) == (cell == "lstm")
    np.testing.assert_array_equal(got.h, expected.h)
    np.testing.assert_array_equal(got.loss[:-1], expected.loss[:-1])
    assert np.isnan(got.loss[-1])
