"""Spread and community curves: hand-worked spreads, Ward dispersions against explicit sums, and known cluster counts."""

import dataclasses

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage

from rnnbow_desktop.analysis.dynamics import (
    DynamicsCurves,
    communities,
    count_communities,
    dynamics_curves,
    gap_statistic,
    spread,
    within_dispersion,
)
from rnnbow_desktop.core.errors import ConfigError

rng = np.random.default_rng(0)


def blobs(centres, n=80, scale=1.0, seed=1):
    r = np.random.default_rng(seed)
    return np.concatenate([np.asarray(c) + scale * r.standard_normal((n, 2)) for c in centres])


def test_spread_by_hand():
    embedding = np.array(
        [
            [[0.0, 0.0], [2.0, 0.0], [1.0, 0.0], [1.0, 0.0]],  # centroid (1, 0): distances 1, 1, 0, 0
            [[0.0, 0.0], [0.0, 4.0], [3.0, 0.0], [3.0, 4.0]],  # centroid (1.5, 2): every distance 2.5
        ]
    )
    np.testing.assert_allclose(spread(embedding), [0.5, 2.5])


def test_within_dispersion_matches_explicit_cuts():
    points = rng.standard_normal((40, 3))
    tree = linkage(points, method="ward")
    explicit = []
    for k in range(1, 7):
        labels = fcluster(tree, k, criterion="maxclust")
        explicit.append(sum(((points[labels == c] - points[labels == c].mean(0)) ** 2).sum() for c in np.unique(labels)))
    np.testing.assert_allclose(within_dispersion(points, 6), explicit, rtol=1e-10)


def test_gap_rises_at_the_true_number_of_clusters():
    gap, error = gap_statistic(blobs([(0, 0), (12, 0)]), max_k=4)
    assert gap[1] > gap[0] + error[1]  # two clusters explain far more than one
    assert gap[1] >= gap[2] - error[2]  # a third does not


@pytest.mark.parametrize(
    "points, expected",
    [
        (rng.standard_normal((256, 2)), 1),  # one round cloud
        (rng.uniform(size=(256, 2)), 1),  # structureless square
        (rng.standard_normal((256, 2)) * [6.0, 1.0], 1),  # one elongated cloud
        (blobs([(0, 0), (0, 10)]), 2),
        (blobs([(0, 0), (10, 0), (5, 9)]), 3),
        (blobs([(0, 0), (10, 0), (0, 10), (10, 10)], n=40), 4),
        (np.ones((20, 2)), 1),  # every unit in the same place
        (np.array([[0.0, 0.0], [5.0, 5.0]]), 1),  # too few points to speak of communities
    ],
)
def test_count_communities(points, expected):
    assert count_communities(points) == expected


def test_communities_per_slice_of_an_embedding_or_a_trace():
    one, two = rng.standard_normal((60, 2)), blobs([(0, 0), (0, 10)], n=30)
    np.testing.assert_array_equal(communities(np.stack([one, two, one])), [1, 2, 1])
    # In 50 features: one cloud, then two groups 12 apart along one direction.
    direction = np.zeros(50)
    direction[7] = 1.0
    base = rng.standard_normal((40, 50))
    trace = np.stack([base, base + np.where(np.arange(40) < 20, 6.0, -6.0)[:, None] * direction])
    np.testing.assert_array_equal(communities(trace), [1, 2])


def test_dynamics_curves():
    embedding = np.stack([rng.standard_normal((30, 2)), 3 * rng.standard_normal((30, 2))])
    curves = dynamics_curves(embedding, checkpoints=np.array([100, 200]))
    assert isinstance(curves, DynamicsCurves)
    np.testing.assert_array_equal(curves.checkpoints, [100, 200])
    np.testing.assert_allclose(curves.spread, spread(embedding))
    assert curves.spread[1] > 2 * curves.spread[0]
    np.testing.assert_array_equal(curves.communities, communities(embedding))
    np.testing.assert_array_equal(dynamics_curves(embedding).checkpoints, [0, 1])
    with pytest.raises(dataclasses.FrozenInstanceError):
        curves.spread = None  # type: ignore[misc]


@pytest.mark.parametrize("bad", [np.zeros((4, 2)), np.full((2, 3, 2), np.nan), np.zeros((2, 0, 2))])
def test_bad_embedding_is_a_config_error(bad):
    with pytest.raises(ConfigError):
        spread(bad)
    with pytest.raises(ConfigError):
        communities(bad)


def test_checkpoints_must_match_slices():
    with pytest.raises(ConfigError):
        dynamics_curves(np.zeros((3, 4, 2)), checkpoints=np.arange(2))
