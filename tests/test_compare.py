"""Comparison quantities: the horizon profile and the horizon over training, from real sessions."""

import numpy as np
import pytest

from rnnbow_desktop.core.corpus import Corpus
from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.analysis.compare import horizon_over_training, horizon_profile
from rnnbow_desktop.analysis.smoothing import moving_average
from rnnbow_desktop.storage.reader import Session
from rnnbow_desktop.storage.run import TrainingRun

TEXT = "if (x) { y = x->next; } else { y = 0; }\n" * 40


@pytest.fixture
def session(tmp_path):
    path = tmp_path / "s.h5"
    with TrainingRun(Corpus("c", TEXT), TrainConfig(hidden_size=12, seq_length=9, record_every=2), path) as run:
        for _ in range(40):
            run.step()
    with Session(path) as s:
        yield s


def test_profile_is_mean_magnitude_by_distance_relative_to_local(session):
    profile = horizon_profile(session)
    records = [session.record(i) for i in range(session.n_records)]
    n = 9
    expected = np.array([np.mean([np.mean([r.itemized[j + d, j] for j in range(n - d)]) for r in records]) for d in range(n)])
    np.testing.assert_allclose(profile.relative, expected / expected[0], rtol=1e-5)
    assert profile.relative[0] == pytest.approx(1.0)
    assert profile.records_used == 20 and profile.batch_range == (0, 38)


def test_profile_of_a_batch_range_and_thinning(session):
    part = horizon_profile(session, first_batch=10, last_batch=20)
    assert part.batch_range == (10, 20) and part.records_used == 6
    thin = horizon_profile(session, max_records=5)
    assert thin.records_used == 5


def test_horizon_over_training(session):
    batches, horizon = horizon_over_training(session, max_points=7)
    assert len(batches) == len(horizon) <= 7
    assert horizon[0] == session.record(0).horizon


def test_moving_average_is_a_trailing_mean():
    np.testing.assert_allclose(moving_average(np.array([1.0, 3.0, 5.0, 7.0]), 2), [1.0, 2.0, 4.0, 6.0])


def test_median_profile_is_the_median_of_each_records_own_profile(session):
    profile = horizon_profile(session, statistic="median")
    own = []
    for i in range(session.n_records):
        g = session.record(i).itemized.astype(np.float64)
        by_d = np.array([np.diagonal(g, offset=-d).mean() for d in range(9)])
        own.append(by_d / by_d[0])
    np.testing.assert_allclose(profile.relative, np.median(own, axis=0), rtol=1e-6)
    assert profile.statistic == "median" and profile.relative[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown statistic"):
        horizon_profile(session, statistic="mode")
