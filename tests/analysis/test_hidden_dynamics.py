"""From a trace to the embedding per checkpoint and its curves: the front ends' interslice_knn, shapes, and a split that must show."""

import numpy as np
import pytest

from rnnbow_desktop.analysis.hidden_dynamics import default_interslice_knn, embed_dynamics
from rnnbow_desktop.analysis.hidden_trace import HiddenTrace
from rnnbow_desktop.core.errors import Cancelled, ConfigError


def as_trace(values: np.ndarray, starts=None) -> HiddenTrace:
    C = values.shape[0]
    return HiddenTrace(values, np.arange(C) * 1000, "h", np.zeros(values.shape[-1] if starts is None else 40, int), starts)


def splitting(C=20, n=20, f=20, seed=0):
    """Units in one cloud that, from the middle checkpoint on, gather into two groups moving apart."""
    rng = np.random.default_rng(seed)
    direction = rng.standard_normal(f)
    direction /= np.linalg.norm(direction)
    group = np.arange(n) < n // 2
    w = np.maximum(0.0, (np.arange(C) - C / 2) / (C / 2))[:, None, None]
    values = rng.standard_normal((n, f)) * (1 - 0.7 * w) + np.where(group, 1.0, -1.0)[None, :, None] * 10 * w * direction
    return values + 0.05 * rng.standard_normal(values.shape)


@pytest.mark.parametrize("checkpoints, knn", [(2, 2), (7, 2), (8, 2), (12, 3), (20, 5), (100, 25), (400, 100)])
def test_default_interslice_knn_is_a_quarter_of_the_checkpoints(checkpoints, knn):
    assert default_interslice_knn(checkpoints) == knn


def test_a_split_at_mid_training_shows_with_the_default_knn_and_not_with_m_phates():
    trace = as_trace(splitting())
    split = embed_dynamics(trace)
    assert split.interslice_knn == 5
    assert split.embedding.shape == (20, 20, 2) and split.point_step is None
    np.testing.assert_array_equal(split.point_unit, np.arange(20))
    np.testing.assert_array_equal(split.curves.checkpoints, np.arange(20) * 1000)
    assert np.all(split.curves.communities[:10] == 1) and split.curves.communities[-1] == 2
    # The curves are those of the embedding itself.
    centred = split.embedding - split.embedding.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(split.curves.spread, np.linalg.norm(centred, axis=2).mean(axis=1))
    np.testing.assert_array_equal(split.unit_trajectory(3), split.embedding[:, 3])
    # M-PHATE's own default glues every unit's trajectory into one place: no late split.
    assert split.curves.spread[-1] > 5 * split.curves.spread[0]  # the expansion shows in the spread
    glued = embed_dynamics(trace, interslice_knn=25)
    assert glued.interslice_knn == 25
    assert np.all(glued.curves.communities == 1)
    assert glued.curves.spread[-1] < 1.5 * glued.curves.spread[0]


def test_multiway_points_and_curves_of_the_last_step():
    rng = np.random.default_rng(1)
    C, S, H, K = 4, 3, 5, 6
    values = np.cumsum(0.3 * rng.standard_normal((C, S, H, K)), axis=1) + rng.standard_normal((1, 1, H, K))
    d = embed_dynamics(as_trace(values, starts=np.arange(K)))
    assert d.embedding.shape == (C, S * H, 2)
    np.testing.assert_array_equal(d.point_unit, np.tile(np.arange(H), S))
    np.testing.assert_array_equal(d.point_step, np.repeat(np.arange(S), H))
    np.testing.assert_array_equal(d.curve_points(), np.arange((S - 1) * H, S * H))
    last = d.embedding[:, (S - 1) * H:]
    centred = last - last.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(d.curves.spread, np.linalg.norm(centred, axis=2).mean(axis=1))
    np.testing.assert_array_equal(d.unit_trajectory(2), d.embedding[:, (S - 1) * H + 2])
    assert d.samples == K and d.units == H


def test_progress_and_cancel():
    seen = []
    embed_dynamics(as_trace(splitting(C=4, n=8, f=5)), progress=lambda f, t: seen.append(f))
    assert seen[-1] == 1.0 and seen == sorted(seen)
    with pytest.raises(Cancelled):
        embed_dynamics(as_trace(splitting(C=4, n=8, f=5)), progress=lambda f, t: (_ for _ in ()).throw(Cancelled()))


def test_one_checkpoint_is_not_dynamics():
    with pytest.raises(ConfigError, match="at least 2 checkpoints"):
        embed_dynamics(as_trace(np.zeros((1, 4, 5))))


def test_multislice_embedding_is_public_in_analysis():
    import rnnbow_desktop.analysis as analysis
    from rnnbow_desktop.analysis.multislice import multislice_embedding

    assert analysis.multislice_embedding is multislice_embedding
    assert "multislice_embedding" in analysis.__all__
    with pytest.raises(AttributeError):
        analysis.no_such_thing
