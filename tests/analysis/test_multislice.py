"""M-PHATE's building blocks on cases worked by hand, and the whole embedding on traces of known structure."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.spatial import procrustes

from rnnbow_desktop.analysis.dynamics import communities
from rnnbow_desktop.analysis.multislice import (
    classical_mds,
    diffusion_operator,
    diffusion_potential,
    interslice_kernel,
    intraslice_kernel,
    knee_point,
    landmark_operator,
    metric_mds,
    multislice_embedding,
    multislice_kernel,
    multislice_phate,
    pairwise_distances,
    potential_distances,
    stress,
    von_neumann_entropy,
)
from rnnbow_desktop.core.errors import Cancelled, ConfigError

e = np.exp


# --- kernels -----------------------------------------------------------------------------------


def test_intraslice_kernel_by_hand():
    # Points 0, 1, 3 on a line; knn = 1: bandwidths σ = 1, 1, 2 (distance to the nearest other point).
    # K(i, j) = exp(-(d / σᵢ)²) with decay α = 2.
    K = intraslice_kernel(np.array([[0.0], [1.0], [3.0]]), knn=1, decay=2)
    expected = np.array(
        [
            [1, e(-1), e(-9)],  # σ = 1: d = 1, 3
            [e(-1), 1, e(-4)],  # σ = 1: d = 1, 2
            [e(-(3 / 2) ** 2), e(-1), 1],  # σ = 2: d = 3, 2
        ]
    )
    np.testing.assert_allclose(K, expected, rtol=1e-12)


def test_intraslice_kernel_decay_and_threshold():
    # knn = 2 on 0, 1, 4: σ₀ = 4, σ₁ = 3, σ₂ = 4; α = 5. exp(-(4/3)^5) ≈ 0.0146; exp(-(1/4)^5) ≈ 0.99902.
    K = intraslice_kernel(np.array([[0.0], [1.0], [4.0]]), knn=2, decay=5)
    assert K[0, 1] == pytest.approx(e(-(1 / 4) ** 5))
    assert K[1, 2] == pytest.approx(e(-((3 / 3) ** 5)))
    assert K[2, 1] == pytest.approx(e(-((3 / 4) ** 5)))
    # With knn = 1, point 0's bandwidth is 1 and exp(-4^5) is far below the 1e-4 threshold: dropped.
    assert intraslice_kernel(np.array([[0.0], [1.0], [4.0]]), knn=1, decay=5)[0, 2] == 0.0


def test_interslice_kernel_by_hand():
    # One point whose copies in three slices sit at 0, 1, 3. Nearest linked copy: 1, 1, 2 away,
    # so the one fixed bandwidth is ε = (1 + 1 + 2) / 3 = 4/3 and K = exp(-d² / ε²).
    trajectory = np.array([[[0.0]], [[1.0]], [[3.0]]])  # (T=3, n=1, f=1)
    K = interslice_kernel(trajectory, knn=1)[0]
    eps = 4 / 3
    expected = np.array(
        [
            [1, e(-((1 / eps) ** 2)), e(-((3 / eps) ** 2))],
            [e(-((1 / eps) ** 2)), 1, e(-((2 / eps) ** 2))],
            [e(-((3 / eps) ** 2)), e(-((2 / eps) ** 2)), 1],
        ]
    )
    np.testing.assert_allclose(K, expected, rtol=1e-12)
    # knn beyond the trajectory clips to the farthest copy: 3, 2, 3 → ε = 8/3.
    far = interslice_kernel(trajectory, knn=25)[0]
    assert far[0, 1] == pytest.approx(e(-((1 / (8 / 3)) ** 2)))
    # reach = 1 links neighbouring slices only; the nearest linked copies are still 1, 1, 2 away.
    near = interslice_kernel(trajectory, knn=1, reach=1)[0]
    assert near[0, 2] == 0.0
    assert near[1, 2] == pytest.approx(expected[1, 2])


def test_interslice_kernel_of_an_unchanged_point_is_one():
    # Every copy at distance 0: the bandwidth is 0 and the limit of exp(-(d/ε)²) is 1 at d = 0.
    trajectory = np.repeat(np.array([[[0.3, -1.2], [2.0, 0.5]]]), 4, axis=0)  # (T=4, n=2, f=2)
    np.testing.assert_array_equal(interslice_kernel(trajectory, knn=2), np.ones((2, 4, 4)))


def test_multislice_kernel_by_hand():
    # Two slices of two units: slice 0 at 0, 1; slice 1 at 0, 2. intraslice knn = 1, α = 2:
    # both slices give exp(-1) between their units (σ equals the distance). Interslice: unit 0 does
    # not move (d = 0), unit 1 moves by 1; ε = mean(0, 0, 1, 1) = 0.5, so unit 1's link is exp(-4).
    trace = np.array([[[0.0], [1.0]], [[0.0], [2.0]]])
    K = multislice_kernel(trace, intraslice_knn=1, interslice_knn=25, decay=2).toarray()
    # rows: (slice 0, unit 0), (0, 1), (1, 0), (1, 1)
    expected = np.array(
        [
            [1, e(-1), 1, 0],
            [e(-1), 1, 0, e(-4)],
            [1, 0, 1, e(-1)],
            [0, e(-4), e(-1), 1],
        ]
    )
    np.testing.assert_allclose(K, expected, rtol=1e-12)
    P = diffusion_operator(sp.csr_matrix(K)).toarray()
    np.testing.assert_allclose(P[0], [1 / (2 + e(-1)), e(-1) / (2 + e(-1)), 1 / (2 + e(-1)), 0])


def test_multislice_kernel_is_symmetric_and_sparse():
    rng = np.random.default_rng(0)
    K = multislice_kernel(rng.standard_normal((6, 30, 8)))
    assert sp.issparse(K)
    assert abs(K - K.T).max() == 0.0
    np.testing.assert_array_equal(K.diagonal(), 1.0)
    assert K.nnz < 0.5 * K.shape[0] ** 2


def test_multiway_kernel_links():
    # (C=2 checkpoints, S=4 steps, n=3 units, 5 samples); row (c·S + s)·n + i.
    rng = np.random.default_rng(1)
    C, S, n = 2, 4, 3
    trace = np.cumsum(0.1 * rng.standard_normal((C, S, n, 5)), axis=1) + rng.standard_normal((1, 1, n, 5))
    K = multislice_kernel(trace).tocoo()
    c, s, i = np.unravel_index(K.row, (C, S, n))
    c2, s2, i2 = np.unravel_index(K.col, (C, S, n))
    same_slice = (c == c2) & (s == s2)
    across_checkpoints = (i == i2) & (s == s2)
    across_steps = (i == i2) & (c == c2) & (np.abs(s - s2) == 1)
    assert np.all(same_slice | across_checkpoints | across_steps)  # nothing else is linked
    assert across_checkpoints[~same_slice].sum() == C * (C - 1) * S * n  # every copy, every checkpoint
    assert across_steps.sum() == 2 * C * (S - 1) * n  # both directions, neighbouring steps only
    # A step link carries the building block's value for that unit's time trajectory (symmetrised).
    steps = interslice_kernel(np.swapaxes(trace, 0, 1).reshape(S, C * n, 5), knn=25, reach=1)
    dense = K.toarray()
    unit, checkpoint = 2, 1
    row = lambda step: (checkpoint * S + step) * n + unit
    assert dense[row(1), row(2)] == pytest.approx(steps[checkpoint * n + unit, 1, 2])


def test_pairwise_distances():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((7, 4)) * 100 + 1e4  # far from the origin, where the Gram route loses digits
    x[3] = x[5]
    D = pairwise_distances(x)
    np.testing.assert_allclose(D, np.linalg.norm(x[:, None] - x[None, :], axis=2), rtol=1e-9)
    assert D[3, 5] == 0.0 and np.all(np.diag(D) == 0.0)


# --- operator, landmarks, entropy, potential ---------------------------------------------------


def test_diffusion_operator_rows_sum_to_one():
    rng = np.random.default_rng(3)
    K = multislice_kernel(rng.standard_normal((4, 25, 6)))
    P = diffusion_operator(K)
    np.testing.assert_allclose(np.asarray(P.sum(axis=1)).ravel(), 1.0, rtol=1e-12)
    dense = diffusion_operator(K.toarray())
    np.testing.assert_allclose(dense, P.toarray(), rtol=1e-12)
    np.testing.assert_allclose(dense * np.asarray(K.sum(axis=1)), K.toarray(), rtol=1e-12)  # D P = K


def test_landmark_operator_is_a_two_step_diffusion_between_clusters():
    rng = np.random.default_rng(4)
    A = rng.uniform(size=(12, 12))
    K = sp.csr_matrix(A + A.T)
    labels = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 0])
    W, transitions = landmark_operator(K, labels)
    C = np.eye(4)[labels]  # (N, L) cluster indicator
    P = diffusion_operator(K.toarray())
    np.testing.assert_allclose(transitions.toarray(), P @ C, rtol=1e-12)  # P_nm: one step, pooled
    pmn = (C.T @ K.toarray()) / (C.T @ K.toarray()).sum(axis=1, keepdims=True)  # P_mn: a step out of a cluster
    np.testing.assert_allclose(diffusion_operator(W), pmn @ (P @ C), rtol=1e-12)
    np.testing.assert_allclose(W, W.T, rtol=1e-12)
    np.testing.assert_allclose(diffusion_operator(W).sum(axis=1), 1.0, rtol=1e-12)


def test_von_neumann_entropy_by_hand():
    # Eigenvalues 1 and ±0.5. t = 1: η = (2/3, 1/3); t = 2: η = (0.8, 0.2).
    H = von_neumann_entropy(np.array([1.0, -0.5]), t_max=2)
    assert H[0] == pytest.approx(-(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3)))  # 0.636514
    assert H[1] == pytest.approx(-(0.8 * np.log(0.8) + 0.2 * np.log(0.2)))  # 0.500402
    np.testing.assert_allclose(von_neumann_entropy(np.ones(5), t_max=3), np.log(5))  # flat spectrum


def test_knee_of_a_known_curve():
    x = np.arange(30)
    curve = np.where(x <= 8, 50 - 5 * x, 10 - 0.2 * (x - 8))  # steep, then shallow, joined at x = 8
    assert knee_point(curve) == 8
    assert knee_point(curve + np.random.default_rng(5).normal(0, 0.05, 30)) == 8


def test_potential_for_each_gamma():
    p = np.array([[0.25, 0.75], [0.5, 0.5]])
    np.testing.assert_allclose(diffusion_potential(p, 0), [[1.0, 1.7320508], [1.4142136, 1.4142136]], rtol=1e-7)  # 2√p
    np.testing.assert_allclose(diffusion_potential(p, 1), [[1.3862940, 0.2876819], [0.6931470, 0.6931470]], rtol=1e-6)  # -log p
    np.testing.assert_allclose(diffusion_potential(p, -1), p)
    np.testing.assert_allclose(diffusion_potential(p, 0.5)[0, 0], 4 * 0.25**0.25)  # p^¼ / ¼
    np.testing.assert_allclose(potential_distances(np.array([[0.0, 0.0], [3.0, 4.0]])), [[0, 5], [5, 0]])


# --- MDS ---------------------------------------------------------------------------------------


def test_mds_recovers_a_known_configuration():
    rng = np.random.default_rng(6)
    config = rng.uniform(-3, 3, size=(25, 2))
    D = pairwise_distances(config)
    assert procrustes(config, classical_mds(D, 2))[2] < 1e-20  # exact up to rotation, reflection, scale
    start = config + rng.normal(0, 0.5, config.shape)
    X = metric_mds(D, 2, init=start, max_iter=3000, tol=1e-12)
    assert stress(D, X) < 1e-4
    disparity = procrustes(config, X)[2]
    assert disparity < 1e-6


def test_smacof_never_raises_stress():
    rng = np.random.default_rng(7)
    D = pairwise_distances(rng.standard_normal((30, 6)))  # not embeddable in 2-D without error
    start = rng.standard_normal((30, 2))
    stresses = [stress(D, metric_mds(D, 2, init=start, max_iter=k, tol=0)) for k in range(6)]
    assert np.all(np.diff(stresses) <= 1e-12)
    assert stresses[-1] < stresses[0]


# --- the whole embedding -----------------------------------------------------------------------


def separation(points: np.ndarray, group: np.ndarray) -> float:
    """Distance between the two groups' centroids over their mean distance to their own centroid."""
    a, b = points[group], points[~group]
    within = (np.linalg.norm(a - a.mean(0), axis=1).mean() + np.linalg.norm(b - b.mean(0), axis=1).mean()) / 2
    return float(np.linalg.norm(a.mean(0) - b.mean(0)) / within)


def splitting_trace(T=20, n=20, f=20, seed=0):
    """Units in one random cloud that, from the middle slice on, gather into two groups moving apart."""
    rng = np.random.default_rng(seed)
    direction = rng.standard_normal(f)
    direction /= np.linalg.norm(direction)
    group = np.arange(n) < n // 2
    base = rng.standard_normal((n, f))
    w = np.maximum(0.0, (np.arange(T) - T / 2) / (T / 2))[:, None, None]  # 0 up to the middle, then to 1
    side = np.where(group, 1.0, -1.0)[None, :, None]
    trace = base * (1 - 0.7 * w) + side * 10 * w * direction
    return trace + 0.05 * rng.standard_normal(trace.shape), group


def test_two_communities_separate_at_mid_training():
    # interslice_knn = 5, not M-PHATE's 25: with fewer slices than that, every copy of a unit is
    # linked to every other at near-full weight and each unit's trajectory is glued into one place.
    trace, group = splitting_trace()
    embedding = multislice_embedding(trace, interslice_knn=5, random_state=0).reshape(20, 20, 2)
    curve = communities(embedding)
    assert np.all(curve[:10] == 1)  # one cloud while the units have not moved apart
    assert np.all(curve[-5:] >= 2) and curve[-1] == 2  # while they gather, a straggler may count as a third
    early = max(separation(slice_, group) for slice_ in embedding[:10])
    late = min(separation(slice_, group) for slice_ in embedding[-5:])
    assert early < 3.0
    assert late > 10 * early


def test_landmarks_keep_the_picture():
    trace, group = splitting_trace()
    exact = multislice_embedding(trace, interslice_knn=5, random_state=0, n_landmarks=None)
    result = multislice_phate(trace, interslice_knn=5, random_state=0, n_landmarks=200)
    assert result.landmarks <= 200
    assert procrustes(exact, result.embedding)[2] < 0.1  # close to the exact embedding up to rotation and scale
    embedding = result.embedding.reshape(20, 20, 2)
    early = max(separation(slice_, group) for slice_ in embedding[:10])
    assert min(separation(slice_, group) for slice_ in embedding[-5:]) > 10 * early


def test_unchanged_trace_gives_the_same_positions_in_every_slice():
    base = np.random.default_rng(8).standard_normal((20, 10))
    embedding = multislice_embedding(np.repeat(base[None], 5, axis=0), random_state=0).reshape(5, 20, 2)
    # Not exactly equal: a copy's row of Pᵗ weighs its own slice a little more than the others
    # until diffusion has mixed the slices, so copies sit a tiny potential distance apart.
    scale = np.ptp(embedding[0], axis=0).max()
    assert scale > 0
    assert np.abs(embedding - embedding[0]).max() < 1e-4 * scale


def test_multiway_shape_and_rows():
    rng = np.random.default_rng(9)
    C, S, n = 3, 4, 6
    trace = np.cumsum(0.2 * rng.standard_normal((C, S, n, 5)), axis=1) + rng.standard_normal((1, 1, n, 5))
    embedding = multislice_embedding(trace, random_state=0)
    assert embedding.shape == (C * S * n, 2)
    assert np.isfinite(embedding).all()
    # An unchanging multiway trace: at each step, every checkpoint lands on the same positions.
    # (Steps may differ: linking neighbouring steps only makes the steps a path graph, whose ends
    # and middle are not alike to a random walk.)
    still = multislice_embedding(np.repeat(np.repeat(trace[:1, :1], C, axis=0), S, axis=1), random_state=0)
    by_slice = still.reshape(C, S, n, 2)
    assert np.abs(by_slice - by_slice[:1]).max() < 1e-4 * np.ptp(still, axis=0).max()


def test_t_is_the_knee_of_the_entropy_curve():
    trace, _ = splitting_trace(T=6, n=12, f=8)
    auto = multislice_phate(trace, random_state=0)
    assert auto.t == knee_point(auto.entropy_curve) + 1
    assert np.all(np.diff(auto.entropy_curve) <= 1e-12)  # diffusion can only lower the entropy
    assert multislice_phate(trace, t=7, random_state=0).t == 7


def test_landmarks_only_above_n_landmarks():
    trace, _ = splitting_trace(T=10, n=30, f=8)
    assert multislice_phate(trace, n_landmarks=40, random_state=0).landmarks <= 40
    assert multislice_phate(trace, n_landmarks=None, random_state=0).landmarks == 300
    assert multislice_phate(trace, n_landmarks=300, random_state=0).landmarks == 300


def test_progress_reaches_one_and_cancel_propagates():
    trace, _ = splitting_trace(T=4, n=10, f=5)
    seen = []
    multislice_embedding(trace, progress=lambda fraction, text: seen.append((fraction, text)), random_state=0)
    fractions = [f for f, _ in seen]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions)
    assert len({text for _, text in seen}) >= 5

    def cancel(fraction, text):
        if text == "metric MDS":
            raise Cancelled()

    with pytest.raises(Cancelled):
        multislice_embedding(trace, progress=cancel)


@pytest.mark.parametrize(
    "trace, options",
    [
        (np.zeros((4, 5)), {}),  # 2-D
        (np.zeros((2, 1, 3)), {}),  # one point per slice
        (np.full((2, 3, 4), np.nan), {}),
        ([[[1.0, 2.0]], [[3.0]]], {}),  # ragged
        (np.zeros((2, 3, 4)), {"gamma": 2}),
        (np.zeros((2, 3, 4)), {"t": 0}),
        (np.zeros((2, 3, 4)), {"t": "soon"}),
        (np.zeros((2, 3, 4)), {"decay": 0}),
        (np.zeros((2, 3, 4)), {"n_landmarks": 1}),
    ],
)
def test_bad_input_is_a_config_error(trace, options):
    with pytest.raises(ConfigError) as caught:
        multislice_embedding(trace, **options)
    assert "\n" not in str(caught.value)
