"""The smoothing rules: the vectorized smooth loss agrees with the trainer's own step, and the moving average by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnbow_desktop.analysis.smoothing import (
    final_smooth_loss,
    initial_smooth_loss,
    moving_average,
    smooth_loss_series,
    smooth_loss_step,
)
from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.core.corpus import Corpus
from rnnbow_desktop.core.training import Trainer


def test_one_step_by_hand():
    assert smooth_loss_step(10.0, 20.0) == pytest.approx(10.01, abs=1e-12)
    # min-char-rnn's expression, bit for bit
    assert smooth_loss_step(23.7, 41.3) == 23.7 * 0.999 + 41.3 * 0.001


def test_initial_value_is_uniform_guessing_over_the_sequence():
    assert initial_smooth_loss(4, 25) == pytest.approx(25 * math.log(4))
    assert initial_smooth_loss(1, 25) == 0.0


def test_series_equals_the_step_applied_in_a_loop_across_chunks():
    rng = np.random.default_rng(0)
    losses = rng.uniform(20, 80, size=10_000)  # more than two of the series' chunks
    expected, value = [], 110.0
    for loss in losses:
        value = smooth_loss_step(value, float(loss))
        expected.append(value)
    np.testing.assert_allclose(smooth_loss_series(losses, 110.0), expected, rtol=1e-12)
    assert final_smooth_loss(losses, 110.0) == pytest.approx(expected[-1], rel=1e-12)


def test_final_smooth_loss_of_no_batches_is_the_start():
    assert final_smooth_loss(np.array([]), 7.5) == 7.5
    assert len(smooth_loss_series(np.array([]), 7.5)) == 0


def test_the_trainer_follows_the_same_rule():
    text = "if (x) { y = x->next; } else { y = 0; }\n" * 20
    corpus = Corpus("c", text)
    config = TrainConfig(hidden_size=8, seq_length=10, record_every=1000, checkpoint_every=0, sample_every=0, seed=2)
    trainer = Trainer(corpus, config)
    assert trainer.smooth_loss == initial_smooth_loss(corpus.vocab_size, config.seq_length)
    results = [trainer.step() for _ in range(30)]
    losses = np.array([r.loss for r in results])
    series = smooth_loss_series(losses, initial_smooth_loss(corpus.vocab_size, config.seq_length))
    np.testing.assert_allclose([r.smooth_loss for r in results], series, rtol=1e-12)


def test_moving_average_by_hand():
    np.testing.assert_allclose(moving_average(np.array([1.0, 3.0, 5.0, 7.0]), 2), [1.0, 2.0, 4.0, 6.0])
    np.testing.assert_allclose(moving_average(np.array([1.0, 3.0, 5.0, 7.0]), 3), [1.0, 2.0, 3.0, 5.0])
    np.testing.assert_array_equal(moving_average(np.array([4.0, 8.0]), 1), [4.0, 8.0])
    assert len(moving_average(np.array([]), 5)) == 0
