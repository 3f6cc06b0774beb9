"""Curves over training from a multislice embedding: how far the units spread, and how many communities they form.

MM-PHATE reads phases of expansion and compression, and the splitting of units into communities,
off its embedding; these two curves make them visible as numbers per checkpoint.

Communities: Ward's agglomerative clustering of each slice, with the number of clusters k ∈ 1..8
chosen by the gap statistic (Tibshirani, Walther & Hastie 2001). Why this rule:
- One community is a real answer, often the right one early in training. The gap statistic scores
  k = 1 like any other k: it compares the within-cluster dispersion log W_k of the slice with its
  expectation for structureless data, and picks the smallest k whose gap is within one standard
  error of the next. Rules built on the silhouette cannot score k = 1 and need an arbitrary
  threshold for it; on embeddings they also call a few stragglers next to one cloud a community.
- The reference data are uniform over the box aligned with the slice's principal axes (the
  paper's second reference), so an elongated single cloud is not cut in two.
- Ward's linkage is deterministic, gives every k from one tree, and its merge heights give W_k
  directly; the reference draws use a fixed seed, so curves do not flicker between runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import linkage

from rnnbow_desktop.core.errors import ConfigError

MAX_COMMUNITIES = 8
REFERENCES = 20  # reference data sets per slice for the gap statistic's expectation and its error


@dataclass(frozen=True)
class DynamicsCurves:
    """Per-checkpoint summaries of a multislice embedding."""

    checkpoints: np.ndarray  # (slices,) the training step (or index) of each slice
    spread: np.ndarray  # (slices,) mean distance of the units to their slice's centroid
    communities: np.ndarray  # (slices,) number of unit communities, 1..MAX_COMMUNITIES


def _slices(embedding: np.ndarray) -> np.ndarray:
    array = np.asarray(embedding, dtype=float)
    if array.ndim != 3 or array.shape[1] < 1 or array.shape[2] < 1:
        raise ConfigError(f"expected an array of shape (slices, points, components), got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ConfigError("the embedding holds NaN or infinite values")
    return array


def spread(embedding: np.ndarray) -> np.ndarray:
    """Mean Euclidean distance of each slice's points to that slice's centroid: (T, n, c) → (T,)."""
    points = _slices(embedding)
    centred = points - points.mean(axis=1, keepdims=True)  # (T, n, c)
    return np.linalg.norm(centred, axis=2).mean(axis=1)


def within_dispersion(points: np.ndarray, max_k: int) -> np.ndarray:
    """W_k, the within-cluster sum of squares of Ward's clustering into k = 1..max_k clusters → (max_k,).

    Each Ward merge at height h adds h²/2 to the sum of squares, so W_k is the sum over the first
    n - k merges; no cut of the tree is needed.
    """
    n = points.shape[0]
    heights = linkage(points, method="ward")[:, 2]  # (n - 1,) non-decreasing
    added = np.concatenate([[0.0], np.cumsum(heights**2 / 2.0)])  # (n,) W after m merges
    k = np.arange(1, max_k + 1)
    return added[n - k]


def gap_statistic(points: np.ndarray, max_k: int = MAX_COMMUNITIES, references: int = REFERENCES, random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gap(k) = E*[log W_k] - log W_k and its standard error s_k, for k = 1..max_k → ((max_k,), (max_k,)).

    E* is the mean over `references` data sets drawn uniformly in the box spanned by the points
    along their principal axes; s_k = sd* · √(1 + 1/references).
    """
    centred = points - points.mean(axis=0)
    axes = np.linalg.svd(centred, full_matrices=False)[2]  # (c', f) principal axes
    rotated = centred @ axes.T  # (n, c')
    low, high = rotated.min(axis=0), rotated.max(axis=0)
    rng = np.random.default_rng(random_state)
    tiny = np.finfo(float).tiny  # W_k = 0 once every cluster is a single repeated point
    expected = np.array([np.log(within_dispersion(rng.uniform(low, high, rotated.shape), max_k) + tiny) for _ in range(references)])
    gap = expected.mean(axis=0) - np.log(within_dispersion(rotated, max_k) + tiny)
    return gap, expected.std(axis=0) * np.sqrt(1.0 + 1.0 / references)


def count_communities(points: np.ndarray, max_communities: int = MAX_COMMUNITIES, random_state: int = 0) -> int:
    """Number of communities among the rows of `points` (n, f): the smallest k with
    Gap(k) ≥ Gap(k+1) - s_(k+1) (Tibshirani et al.'s rule); 1 for fewer than 3 distinct points.
    """
    n = points.shape[0]
    if n < 3 or np.ptp(points, axis=0).max() == 0:
        return 1
    max_k = min(max_communities, n - 1)
    gap, error = gap_statistic(points, max_k, random_state=random_state)
    for k in range(1, max_k):
        if gap[k - 1] >= gap[k] - error[k]:
            return k
    return max_k


def communities(embedding: np.ndarray, max_communities: int = MAX_COMMUNITIES, random_state: int = 0) -> np.ndarray:
    """Number of unit communities in each slice: (T, n, c) → (T,) ints in 1..max_communities.

    Works on an embedding (T, n, n_components) or directly on a trace (T, n, features).
    """
    points = _slices(embedding)
    return np.array([count_communities(p, max_communities, random_state) for p in points], dtype=int)


def dynamics_curves(embedding: np.ndarray, checkpoints: np.ndarray | None = None) -> DynamicsCurves:
    """Spread and community curves of an embedding (T, n, c); checkpoints (T,) default to 0..T-1."""
    points = _slices(embedding)
    steps = np.arange(points.shape[0]) if checkpoints is None else np.asarray(checkpoints)
    if steps.shape != (points.shape[0],):
        raise ConfigError(f"{points.shape[0]} slices but {steps.size} checkpoints")
    return DynamicsCurves(steps.copy(), spread(points), communities(points))
