"""Resuming training from a checkpoint: the wrap rule's position formula and bit-identical continuation."""

import numpy as np
import pytest

from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.core.corpus import Corpus
from rnnbow_desktop.core.errors import ConfigError
from rnnbow_desktop.core.records import Checkpoint
from rnnbow_desktop.core.training import Trainer, batch_position

TEXT = "if (x[i] > 0) { y = (a + b) * c; }\n" * 6  # 210 characters: passes end after a few batches


@pytest.mark.parametrize("length", [8, 9, 10, 11, 17, 18, 19, 40, 210])
@pytest.mark.parametrize("n", [3, 7, 8])
def test_batch_position_is_where_the_trainer_starts_each_batch(length, n):
    if length < n + 1:
        pytest.skip("the trainer needs n + 1 characters")
    text = ("abcdefghij" * 30)[:length]
    trainer = Trainer(Corpus("t", text), TrainConfig(hidden_size=3, seq_length=n, sample_every=0, checkpoint_every=0))
    for b in range(3 * length // n + 4):  # several passes, so several wraps
        assert trainer.step().position == batch_position(b, length, n), b


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_a_resumed_trainer_continues_bit_identically(cell):
    config = TrainConfig(cell=cell, hidden_size=6, seq_length=8, checkpoint_every=7, sample_every=0, record_every=2)
    corpus = Corpus("t", TEXT)
    original = Trainer(corpus, config)
    steps = [original.step() for _ in range(40)]  # 40 × 8 characters: past the end of the corpus
    for checkpoint in (s.checkpoint for s in steps if s.checkpoint is not None):
        assert checkpoint.memory is not None and set(checkpoint.memory) == set(original.trained)
        resumed = Trainer.resume(corpus, config, checkpoint)
        for expected in steps[checkpoint.batch:]:
            got = resumed.step()
            assert (got.batch, got.position, got.loss) == (expected.batch, expected.position, expected.loss)
            if expected.record is not None:
                np.testing.assert_array_equal(got.record.itemized, expected.record.itemized)
        for name, value in original.params.items():
            np.testing.assert_array_equal(resumed.params[name], value)
        for name, value in original.memory.items():
            np.testing.assert_array_equal(resumed.memory[name], value)


def test_resuming_needs_the_optimizer_memory_and_matching_shapes():
    config = TrainConfig(hidden_size=4, seq_length=5, sample_every=0)
    corpus = Corpus("t", TEXT)
    checkpoint = Trainer(corpus, config).step().checkpoint
    with pytest.raises(ConfigError, match="no optimizer memory"):
        Trainer.resume(corpus, config, Checkpoint(checkpoint.batch, checkpoint.params, checkpoint.state))
    with pytest.raises(ConfigError, match="shape"):
        Trainer.resume(corpus, TrainConfig(hidden_size=5, seq_length=5, sample_every=0), checkpoint)
