"""Multislice PHATE (M-PHATE, Gigante et al. 2019) and its multiway form (MM-PHATE, Xie et al. 2024):
one embedding of every (checkpoint, [time step,] unit), written from the papers' mathematics.

The pipeline, one public function per step:

1. `multislice_kernel`: an α-decay kernel with adaptive bandwidth among the units of each slice
   (`intraslice_kernel`), a Gaussian kernel linking each unit to its own copies in the other slices
   (`interslice_kernel`) and, in the multiway form, to itself at the neighbouring time steps;
   symmetrised, thresholded, sparse.
2. `diffusion_operator`: P = D⁻¹K, row-stochastic.
3. Above `n_landmarks` points, PHATE's landmarks: spectral k-means of the graph into clusters
   (`landmark_clusters`), and `landmark_operator` between them.
4. `von_neumann_entropy` of Pᵗ for t = 1..100 and `knee_point` of that curve choose t.
5. `diffusion_potential` (PHATE's γ family) and `potential_distances` between its rows.
6. `classical_mds`, then `metric_mds` (SMACOF stress majorisation) from that start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from rnnbow_desktop.core.errors import ConfigError

Progress = Callable[[float, str], None]

KERNEL_THRESHOLD = 1e-4  # PHATE's `thresh`: affinities below it are dropped, which keeps the graph sparse
T_MAX = 100  # the entropy curve is evaluated for t = 1..T_MAX, as PHATE does
SPECTRAL_COMPONENTS = 100  # PHATE's `n_svd`: diffusion coordinates used to cluster points into landmarks
LOG_EPSILON = 1e-7  # keeps log(Pᵗ) finite where diffusion has not reached (PHATE's constant)


@dataclass(frozen=True)
class MultisliceResult:
    """An M-PHATE embedding with the choices that produced it."""

    embedding: np.ndarray  # (N, n_components), row = flat (slice[, step], point) index
    t: int  # diffusion time used
    entropy_curve: np.ndarray  # (T_MAX,) von Neumann entropy of Pᵗ for t = 1..T_MAX
    landmarks: int  # size of the operator that was embedded: N without landmarks
    stress: float  # Kruskal's stress-1 of the final metric MDS (0 = distances kept exactly)


# ---------------------------------------------------------------------------------------------
# 1. Kernels


def pairwise_distances(points: np.ndarray, exact_zeros: bool = True) -> np.ndarray:
    """Euclidean distances between the rows of `points` (..., n, f) → (..., n, n).

    Through the Gram matrix of the centred rows (one BLAS product per batch), in place. With
    `exact_zeros`, squared distances below 1e-10 of the rows' squared norms, the Gram route's
    rounding floor, are set to 0, so identical rows are at distance exactly 0: bandwidths can be 0,
    and an unchanged unit must not get random-looking affinities from rounding noise.
    """
    centred = points - points.mean(axis=-2, keepdims=True)  # (..., n, f) centring shrinks rounding
    d2 = centred @ np.swapaxes(centred, -1, -2)  # (..., n, n) the Gram matrix, overwritten below
    sq = np.diagonal(d2, axis1=-2, axis2=-1).copy()  # (..., n)
    d2 *= -2.0
    d2 += sq[..., :, None]
    d2 += sq[..., None, :]
    if exact_zeros:
        d2[d2 <= 1e-10 * (sq[..., :, None] + sq[..., None, :])] = 0.0
    else:
        np.maximum(d2, 0.0, out=d2)
    return np.sqrt(d2, out=d2)


def _decay(distances: np.ndarray, bandwidth: np.ndarray | float, exponent: float) -> np.ndarray:
    """exp(-(d/σ)^exponent), with the σ = 0 limit: 1 where d = 0, else 0."""
    bandwidth = np.asarray(bandwidth, dtype=float)
    safe = np.where(bandwidth > 0, bandwidth, 1.0)
    kernel = np.exp(-((distances / safe) ** exponent))
    kernel = np.where(bandwidth > 0, kernel, (distances == 0).astype(float))
    kernel[kernel < KERNEL_THRESHOLD] = 0.0
    return kernel


def intraslice_kernel(points: np.ndarray, knn: int, decay: float) -> np.ndarray:
    """M-PHATE's intraslice kernel among the points of one slice: (n, f) → (n, n), not symmetric.

    K(i, j) = exp(-(‖xᵢ - xⱼ‖ / σᵢ)^α) with α = `decay` and σᵢ the distance from xᵢ to its
    `knn`-th nearest neighbour in the slice, the point itself not counted (clipped to n - 1).
    Entries below KERNEL_THRESHOLD are zero. Symmetrisation happens once, on the whole kernel.
    """
    distances = pairwise_distances(points)  # (n, n)
    k = min(knn, points.shape[0] - 1)
    sigma = np.sort(distances, axis=1)[:, k]  # (n,) column 0 is the point itself
    return _decay(distances, sigma[:, None], decay)


def trajectory_distances(trajectories: np.ndarray) -> np.ndarray:
    """Distances between the copies of each point across slices: (T, n, f) → (n, T, T)."""
    return pairwise_distances(np.swapaxes(trajectories, 0, 1))


def interslice_kernel(trajectories: np.ndarray, knn: int, reach: int | None = None) -> np.ndarray:
    """M-PHATE's interslice kernel linking each point to its own copies: (T, n, f) → (n, T, T).

    K⁽ⁱ⁾(τ, υ) = exp(-‖xᵢ(τ) - xᵢ(υ)‖² / ε²) for the copies a point is linked to (every other slice,
    or with `reach` only |τ - υ| ≤ reach, as the multiway form links neighbouring time steps), else 0.
    ε is one fixed bandwidth, as in the paper: the mean over all (τ, i) of the distance from xᵢ(τ)
    to its `knn`-th nearest linked copy, found in the point's own trajectory (clipped to the
    number of linked copies). The diagonal is 1. Entries below KERNEL_THRESHOLD are zero.
    """
    distances = trajectory_distances(trajectories)  # (n, T, T)
    T = distances.shape[1]
    lag = np.abs(np.arange(T)[:, None] - np.arange(T)[None, :])  # (T, T)
    linked = lag > 0 if reach is None else (lag > 0) & (lag <= reach)  # (T, T)
    if not linked.any():
        return np.ones_like(distances)
    # Unlinked copies are pushed past every linked one so the sort finds the k-th linked neighbour.
    candidates = np.where(linked, distances, np.inf)  # (n, T, T)
    counts = linked.sum(axis=1)  # (T,) linked copies per slice
    k = np.minimum(knn, counts) - 1  # (T,)
    kth = np.take_along_axis(np.sort(candidates, axis=2), k[None, :, None], axis=2)[..., 0]  # (n, T)
    epsilon = float(kth.mean())
    kernel = _decay(distances, epsilon, 2.0)
    kernel[:, ~linked & (lag > 0)] = 0.0
    return kernel


def multislice_kernel(
    trace: np.ndarray, intraslice_knn: int = 2, interslice_knn: int = 25, decay: float = 5, progress: Progress | None = None
) -> sp.csr_matrix:
    """The symmetric multislice kernel (K + Kᵀ)/2 over every point, as a sparse (N, N) matrix.

    `trace` (T, n, f): row τ·n + i is point i in slice τ; intraslice blocks on the diagonal,
    interslice links between the copies of a point. Multiway `trace` (C, S, n, f): row
    (c·S + s)·n + i; intraslice blocks per (c, s); each point linked to its copies at the other
    checkpoints (same step) and at the neighbouring steps (same checkpoint).
    progress(fraction, text) is called as the slices are done.
    """
    if trace.ndim == 3:
        trace = trace[:, None]
    C, S, n, f = trace.shape
    N = C * S * n
    index = np.arange(N).reshape(C, S, n)
    rows, cols, vals = [], [], []

    slices = trace.reshape(C * S, n, f)
    for s, points in enumerate(slices):
        block = sp.coo_matrix(intraslice_kernel(points, intraslice_knn, decay))
        rows.append(block.row + s * n)
        cols.append(block.col + s * n)
        vals.append(block.data)
        if progress is not None and s % 50 == 49:
            progress(0.8 * (s + 1) / (C * S), "building the multislice kernel")

    def link(kernel: np.ndarray, copies: np.ndarray) -> None:
        # kernel (p, T, T) between the copies of point p; copies (p, T) their global rows
        p, a, b = np.nonzero(kernel * (1.0 - np.eye(kernel.shape[1])))  # the diagonal is intraslice's
        rows.append(copies[p, a])
        cols.append(copies[p, b])
        vals.append(kernel[p, a, b])

    if C > 1:  # across checkpoints, at the same step: points are the (step, unit) pairs
        link(interslice_kernel(trace.reshape(C, S * n, f), interslice_knn), index.reshape(C, S * n).T)
    if S > 1:  # across neighbouring steps, at the same checkpoint: points are (checkpoint, unit) pairs
        by_step = np.swapaxes(trace, 0, 1).reshape(S, C * n, f)
        link(interslice_kernel(by_step, interslice_knn, reach=1), np.swapaxes(index, 0, 1).reshape(S, C * n).T)

    kernel = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(N, N))
    return ((kernel + kernel.T) * 0.5).tocsr()


# ---------------------------------------------------------------------------------------------
# 2-3. Diffusion operator and landmarks


def diffusion_operator(kernel: np.ndarray | sp.spmatrix) -> np.ndarray | sp.csr_matrix:
    """P = D⁻¹K: the kernel normalised so that every row sums to 1 (a Markov transition matrix)."""
    degree = np.asarray(kernel.sum(axis=1)).ravel()  # (N,)
    if sp.issparse(kernel):
        return sp.diags(1.0 / degree) @ kernel
    return kernel / degree[:, None]


def _symmetric_conjugate(kernel: np.ndarray | sp.spmatrix) -> tuple[np.ndarray | sp.spmatrix, np.ndarray]:
    """A = D^(-1/2) K D^(-1/2), similar to P = D⁻¹K (same eigenvalues), and D^(-1/2) as a vector."""
    inv_sqrt = 1.0 / np.sqrt(np.asarray(kernel.sum(axis=1)).ravel())  # (N,)
    if sp.issparse(kernel):
        scale = sp.diags(inv_sqrt)
        return scale @ kernel @ scale, inv_sqrt
    return kernel * inv_sqrt[:, None] * inv_sqrt[None, :], inv_sqrt


def diffusion_coordinates(kernel: sp.spmatrix, n_components: int, rng: np.random.Generator) -> np.ndarray:
    """The leading right eigenvectors of P scaled by their eigenvalues (diffusion map at t = 1): (N, k).

    Randomised subspace iteration on the symmetric conjugate (Halko et al. 2011), PHATE's route.
    """
    A, inv_sqrt = _symmetric_conjugate(kernel)
    N = A.shape[0]
    Q = np.linalg.qr(A @ rng.standard_normal((N, min(N, n_components + 10))))[0]  # (N, k + 10)
    for _ in range(2):  # approximate coordinates are enough to group points into landmarks
        Q = np.linalg.qr(A @ Q)[0]
    eigenvalues, vectors = np.linalg.eigh(Q.T @ (A @ Q))
    top = np.argsort(-np.abs(eigenvalues))[:n_components]
    return (Q @ vectors[:, top]) * inv_sqrt[:, None] * eigenvalues[top][None, :]


def kmeans(points: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 20, progress: Progress | None = None) -> np.ndarray:
    """Lloyd's k-means from k distinct random points: (N, f) → labels (N,) in 0..k'-1, k' ≤ k.

    Stops when fewer than 0.1 % of the labels change. Empty clusters are dropped rather than
    re-seeded, hence k' ≤ k. Distances in float32: they only decide the nearest centre.
    """
    N = points.shape[0]
    data = points.astype(np.float32)
    centres = data[rng.choice(N, size=min(k, N), replace=False)]  # (k, f)
    labels = np.full(N, -1)
    for iteration in range(iterations):
        new = np.empty(N, dtype=np.intp)
        centre_sq = (centres**2).sum(axis=1)  # (k,)
        for start in range(0, N, 8192):  # chunks bound the (chunk, k) distance table
            chunk = data[start : start + 8192]
            new[start : start + 8192] = np.argmin(centre_sq[None, :] - 2.0 * chunk @ centres.T, axis=1)
        changed = int((new != labels).sum())
        labels = new
        members = sp.csr_matrix((np.ones(N, dtype=np.float32), (labels, np.arange(N))), shape=(len(centres), N))
        counts = np.asarray(members.sum(axis=1)).ravel()  # (k,)
        filled = counts > 0
        centres[filled] = (members @ data)[filled] / counts[filled, None]
        if progress is not None:
            progress((iteration + 1) / iterations, "clustering landmarks")
        if changed < 1e-3 * N:
            break
    return np.unique(labels, return_inverse=True)[1]


def landmark_clusters(kernel: sp.spmatrix, n_landmarks: int, rng: np.random.Generator, progress: Progress | None = None) -> np.ndarray:
    """PHATE's landmarks: k-means of the diffusion coordinates into ≤ n_landmarks clusters → labels (N,)."""
    coordinates = diffusion_coordinates(kernel, min(SPECTRAL_COMPONENTS, kernel.shape[0] - 1), rng)
    return kmeans(coordinates, n_landmarks, rng, progress=progress)


def landmark_operator(kernel: sp.spmatrix, labels: np.ndarray) -> tuple[np.ndarray, sp.csr_matrix]:
    """The landmark kernel W (L, L) and the point→landmark transitions P_nm (N, L).

    With C the (N, L) cluster indicator: P_nm = P C (one diffusion step, pooled into landmarks) and
    P_mn = diag(Cᵀd)⁻¹ CᵀK (a step out of a landmark, its points weighted by degree). The landmark
    operator P_mn P_nm = diag(W1)⁻¹ W with W = CᵀK D⁻¹ K C symmetric and W1 = Cᵀd, so it is itself
    the diffusion operator of a symmetric kernel and keeps P's spectral structure (real spectrum,
    rows summing to 1).
    """
    N = kernel.shape[0]
    L = int(labels.max()) + 1
    indicator = sp.csr_matrix((np.ones(N), (np.arange(N), labels)), shape=(N, L))  # C (N, L)
    transitions = sp.csr_matrix(diffusion_operator(kernel) @ indicator)  # P C (N, L)
    pooled = sp.csr_matrix(indicator.T @ kernel)  # Cᵀ K (L, N)
    W = (pooled @ transitions).toarray()  # Cᵀ K D⁻¹ K C (L, L)
    return (W + W.T) * 0.5, transitions  # the average only removes rounding asymmetry


# ---------------------------------------------------------------------------------------------
# 4. Diffusion time


def von_neumann_entropy(eigenvalues: np.ndarray, t_max: int = T_MAX) -> np.ndarray:
    """H(t) = -Σ ηᵢ log ηᵢ with ηᵢ = |λᵢ|ᵗ / Σⱼ |λⱼ|ᵗ, for t = 1..t_max → (t_max,).

    λ are the eigenvalues of P; those of Pᵗ are λᵗ. H falls as diffusion removes the small
    eigenvalues (noise) and then flattens as it starts to remove structure.
    """
    magnitude = np.abs(np.asarray(eigenvalues, dtype=float))
    magnitude = magnitude[magnitude > 0]
    times = np.arange(1, t_max + 1)[:, None]  # (t_max, 1)
    # Normalise by the largest |λ| before the power, so nothing underflows to 0/0.
    weights = (magnitude / magnitude.max())[None, :] ** times  # (t_max, m)
    eta = weights / weights.sum(axis=1, keepdims=True)
    logs = np.log(eta, out=np.zeros_like(eta), where=eta > 0)
    return -(eta * logs).sum(axis=1)


def knee_point(curve: np.ndarray) -> int:
    """Index of the knee of a curve: the split where two least-squares lines, one through the points
    up to it and one from it on (each ≥ 2 points, sharing the knee), leave the least squared error.
    """
    y = np.asarray(curve, dtype=float)
    n = len(y)
    if n < 3:
        return 0
    x = np.arange(n, dtype=float)

    def prefix(v: np.ndarray) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum(v)])

    sums = [prefix(v) for v in (np.ones(n), x, y, x * x, x * y, y * y)]
    knees = np.arange(1, n - 1)

    def line_error(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        # residual sum of squares of the least-squares line through points lo..hi-1
        m, sx, sy, sxx, sxy, syy = (s[hi] - s[lo] for s in sums)
        cxx = sxx - sx * sx / m
        cxy = sxy - sx * sy / m
        cyy = syy - sy * sy / m
        return np.maximum(cyy - cxy * cxy / cxx, 0.0)

    error = line_error(np.zeros_like(knees), knees + 1) + line_error(knees, np.full_like(knees, n))
    return int(knees[np.argmin(error)])


# ---------------------------------------------------------------------------------------------
# 5. Potential


def diffusion_potential(diffused: np.ndarray, gamma: float) -> np.ndarray:
    """PHATE's potential of Pᵗ: -log(Pᵗ) for γ = 1, else Pᵗ^((1-γ)/2) / ((1-γ)/2), elementwise.

    γ = 0 is M-PHATE's square-root potential, γ = -1 is Pᵗ itself; γ ∈ [-1, 1].
    """
    diffused = np.maximum(diffused, 0.0)  # Pᵗ from a spectral power can be -1e-17 where it is 0
    if gamma == 1:
        return -np.log(diffused + LOG_EPSILON)
    c = (1.0 - gamma) / 2.0
    return diffused**c / c


def potential_distances(potential: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of the potential: (N, N) → (N, N)."""
    return pairwise_distances(potential)


# ---------------------------------------------------------------------------------------------
# 6. Metric MDS


def classical_mds(distances: np.ndarray, n_components: int) -> np.ndarray:
    """Torgerson's classical MDS: the top eigenvectors of -½ J D⁽²⁾ J scaled by √λ → (N, n_components).

    Each axis's sign is fixed so its largest coordinate is positive, making runs reproducible.
    """
    N = distances.shape[0]
    sq = distances**2
    B = -0.5 * (sq - sq.mean(axis=0)[None, :] - sq.mean(axis=1)[:, None] + sq.mean())
    k = min(n_components, N)
    eigenvalues, vectors = scipy.linalg.eigh(B, subset_by_index=[N - k, N - 1])
    order = np.argsort(eigenvalues)[::-1]
    coords = vectors[:, order] * np.sqrt(np.maximum(eigenvalues[order], 0.0))[None, :]
    signs = np.sign(coords[np.argmax(np.abs(coords), axis=0), np.arange(k)])
    coords *= np.where(signs == 0, 1.0, signs)[None, :]
    if k < n_components:
        coords = np.hstack([coords, np.zeros((N, n_components - k))])
    return coords


def stress(distances: np.ndarray, coordinates: np.ndarray) -> float:
    """Kruskal's stress-1: √(Σ (dᵢⱼ - δᵢⱼ)² / Σ δᵢⱼ²) between target δ and embedded distances d."""
    total = float((distances**2).sum())
    if total == 0:
        return 0.0
    return float(np.sqrt(((pairwise_distances(coordinates) - distances) ** 2).sum() / total))


def metric_mds(
    distances: np.ndarray,
    n_components: int = 2,
    init: np.ndarray | None = None,
    max_iter: int = 300,
    tol: float = 1e-4,
    progress: Progress | None = None,
) -> np.ndarray:
    """Metric MDS by SMACOF (de Leeuw 1977): Guttman transforms X ← B(X) X / N, each of which can
    only lower the raw stress Σᵢ<ⱼ (dᵢⱼ(X) - δᵢⱼ)², from `init` (default: classical MDS).

    Stops when the raw stress falls by less than `tol` of itself in one iteration.
    """
    N = distances.shape[0]
    X = classical_mds(distances, n_components) if init is None else np.array(init, dtype=float)
    target = float(np.vdot(distances, distances))  # Σᵢⱼ δᵢⱼ², both orders
    previous = np.inf
    for iteration in range(max_iter):
        current = pairwise_distances(X, exact_zeros=False)  # (N, N)
        # Σᵢⱼ (dᵢⱼ - δᵢⱼ)² expanded, so that no (N, N) residual is formed: Σ d² = 2N Σ‖xᵢ - x̄‖².
        spread = 2.0 * N * float(((X - X.mean(axis=0)) ** 2).sum())
        raw = max(spread - 2.0 * float(np.vdot(current, distances)) + target, 0.0) / 2.0
        if raw == 0.0 or previous - raw < tol * raw:
            break
        previous = raw
        ratio = np.divide(distances, current, out=current, where=current > 0)  # (N, N) 0 where d = 0
        # B(X) X with B = diag(Σⱼ ratioᵢⱼ) - ratio, without forming B
        X = (ratio.sum(axis=1)[:, None] * X - ratio @ X) / N
        if progress is not None and iteration % 10 == 0:
            progress(iteration / max_iter, "metric MDS")
    return X


# ---------------------------------------------------------------------------------------------
# The whole pipeline


def _validate(
    trace: object, n_components: int, intraslice_knn: int, interslice_knn: int, decay: float, t: int | str, gamma: float, n_landmarks: int | None
) -> np.ndarray:
    try:
        array = np.asarray(trace, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"the trace is not a numeric array: {exc}") from None
    if array.ndim not in (3, 4):
        raise ConfigError(f"the trace must have shape (slices, points, features) or (checkpoints, steps, units, samples), not {array.ndim}-D")
    if min(array.shape) < 1 or array.shape[-2] < 2:
        raise ConfigError(f"the trace needs at least 2 points per slice and 1 feature, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ConfigError("the trace holds NaN or infinite values")
    if n_components < 1 or intraslice_knn < 1 or interslice_knn < 1:
        raise ConfigError("n_components, intraslice_knn and interslice_knn must be at least 1")
    if not decay > 0:
        raise ConfigError(f"decay must be positive, got {decay}")
    if not -1 <= gamma <= 1:
        raise ConfigError(f"gamma must lie in [-1, 1], got {gamma}")
    if t != "auto" and not (isinstance(t, (int, np.integer)) and not isinstance(t, bool) and t >= 1):
        raise ConfigError(f"t must be 'auto' or a positive integer, got {t!r}")
    if n_landmarks is not None and n_landmarks < 2:
        raise ConfigError(f"n_landmarks must be at least 2 (or None for no landmarks), got {n_landmarks}")
    return array


def multislice_phate(
    trace: np.ndarray,
    n_components: int = 2,
    intraslice_knn: int = 2,
    interslice_knn: int = 25,
    decay: float = 5,
    t: int | Literal["auto"] = "auto",
    gamma: float = 0,
    random_state: int | np.random.Generator | None = None,
    n_landmarks: int | None = 1000,
    progress: Progress | None = None,
) -> MultisliceResult:
    """M-PHATE of `trace` (T, n, f), or MM-PHATE of `trace` (C, S, n, f); see `multislice_embedding`."""
    report: Progress = progress if progress is not None else (lambda fraction, text: None)

    def stage(lo: float, hi: float) -> Progress:
        return lambda fraction, text: report(lo + (hi - lo) * fraction, text)

    report(0.0, "checking the trace")
    array = _validate(trace, n_components, intraslice_knn, interslice_knn, decay, t, gamma, n_landmarks)
    rng = np.random.default_rng(random_state)

    report(0.02, "building the multislice kernel")
    kernel = multislice_kernel(array, intraslice_knn, interslice_knn, decay, stage(0.02, 0.15))
    N = kernel.shape[0]

    if n_landmarks is not None and N > n_landmarks:
        report(0.15, "finding landmarks")
        labels = landmark_clusters(kernel, n_landmarks, rng, stage(0.15, 0.4))
        W, transitions = landmark_operator(kernel, labels)
    else:
        W, transitions = kernel.toarray(), None

    report(0.45, "diffusion operator spectrum")
    A, _ = _symmetric_conjugate(W)
    entropy = von_neumann_entropy(np.linalg.eigvalsh(A))  # P = D⁻¹W shares the eigenvalues of A
    steps = knee_point(entropy) + 1 if t == "auto" else int(t)

    report(0.55, f"potential distances (t = {steps})")
    # Pᵗ by repeated squaring rather than from the eigenvectors: products of non-negative matrices
    # keep every entry accurate relative to its own size, which the square root and the log of
    # the potential need where Pᵗ is tiny.
    diffused = np.linalg.matrix_power(diffusion_operator(W), steps)
    distances = potential_distances(diffusion_potential(diffused, gamma))

    report(0.68, "metric MDS")
    coordinates = metric_mds(distances, n_components, progress=stage(0.7, 0.98))
    final_stress = stress(distances, coordinates)
    if transitions is not None:
        coordinates = transitions @ coordinates  # each point at the P_nm-weighted mean of its landmarks
    report(1.0, "done")
    return MultisliceResult(np.asarray(coordinates), steps, entropy, W.shape[0], final_stress)


def multislice_embedding(
    trace: np.ndarray,
    n_components: int = 2,
    intraslice_knn: int = 2,
    interslice_knn: int = 25,
    decay: float = 5,
    t: int | Literal["auto"] = "auto",
    gamma: float = 0,
    random_state: int | np.random.Generator | None = None,
    n_landmarks: int | None = 1000,
    progress: Progress | None = None,
) -> np.ndarray:
    """Embed every point of every slice of `trace` in one space (M-PHATE; MM-PHATE for 4-D traces).

    trace: (slices, points, features), e.g. (checkpoints, hidden units, activations over the probe
    text); or (checkpoints, steps, units, samples) for the multiway form, where each unit is also
    linked to itself at the neighbouring time steps.
    Returns (slices·points, n_components), row τ·n + i (multiway: (c·S + s)·n + i).
    Parameters and defaults are M-PHATE's. t="auto" picks t at the knee of the von Neumann
    entropy of Pᵗ; gamma=0 is the square-root potential, 1 the log potential.
    With fewer slices than interslice_knn + 1, the interslice bandwidth is the distance to a
    unit's farthest copy, every copy is linked to every other near weight 1 and each unit's
    trajectory collapses to one place: for short trainings pass a smaller interslice_knn
    (about a quarter of the number of slices shows a split at mid-training clearly).
    Above `n_landmarks` points (None: never) the operator is built between that many landmarks
    and the points are placed by their transitions to them, as PHATE does. The default is 1000,
    not PHATE's 2000: the MDS costs L² per iteration and the operator powers L³, and 1000 keeps
    the issue's 20 × 256-unit case at a few seconds with the same MDS stress to 1 %.
    progress(fraction, text) is called at each stage; raising `Cancelled` from it stops the work.
    Raises ConfigError for a trace of the wrong shape, with fewer than 2 points or non-finite values.
    """
    return multislice_phate(
        trace, n_components, intraslice_knn, interslice_knn, decay, t, gamma, random_state, n_landmarks, progress
    ).embedding
