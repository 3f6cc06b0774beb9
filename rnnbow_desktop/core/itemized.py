"""Itemized backpropagation through time: the paper's per-loss, per-step gradients, vectorized over sources.

`G[t, j]` is the part of ∂L/∂W_hh that flows through the copy of W_hh used at step j, caused by the
loss L_t at step t ≥ j. It is the rank-one `outer(δ_t^(j), h_{j-1})`, where δ_t^(j) is the gradient of
L_t with respect to step j's recurrent pre-activation (`gates` in `cells.py`). One backward sweep
j = n-1 … 0 carries one row per source t ≥ j through the cell, so every step costs one small
matrix-matrix product instead of a Python-level loop over sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


class Workspace:
    """Scratch buffers reused from batch to batch.

    The per-source deltas are n·n·GH floats (500 kB at the defaults); allocating that afresh every
    batch is served by mmap and page faults and cost more than the arithmetic on it.
    """

    def __init__(self):
        self._buffers: dict = {}

    def get(self, name: str, shape: tuple) -> np.ndarray:
        """A buffer of `shape`, zero-filled when first made; entries never written stay zero."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape:
            buf = self._buffers[name] = np.zeros(shape)
        return buf


@dataclass(frozen=True)
class Itemized:
    """The recorded quantities of one batch, all indexed [t, j] (loss step t, update step j)."""

    itemized: np.ndarray  # (n, n)  ‖G[t, j]‖_F, zero above the diagonal (j > t)
    contribution: np.ndarray  # (n, n)  ⟨G[t, j], S_j⟩ / ‖S_j‖_F; sums over t to step_gradient[j]
    step_gradient: np.ndarray  # (n,)  ‖S_j‖_F with S_j = Σ_t G[t, j]
    truncation_error: np.ndarray  # (n,)  [k-1] = ‖G_total − Σ_{t−j<k} G[t, j]‖_F / ‖G_total‖_F
    horizon: int  # smallest k with truncation_error[k-1] ≤ ε
    itemized_gate: np.ndarray | None  # (n, n, G) Frobenius norm of each gate's row block, or None

    @property
    def max_gradient(self) -> float:
        return float(self.step_gradient.max())


def sweep(cell, params, fwd, dh_local: np.ndarray, itemize: bool, work: Workspace | None = None):
    """Backward sweep; returns (gates_total (n, GH), deltas (n, n, GH) or None).

    `dh_local` (n, H): ∂L_t/∂h_t of each step's own loss. With `itemize`, deltas[j, d] is
    δ_{j+d}^(j) (zero where j + d ≥ n); without it a single summed row is carried (plain BPTT).
    """
    n, H = dh_local.shape
    GH = params["weight_hh"].shape[0]
    if itemize:
        work = work or Workspace()
        rows = [np.zeros((n, H)) for _ in range(cell.n_state)]  # row t: state gradient of source t
        deltas = work.get("deltas", (n, n, GH))
        for j in range(n - 1, -1, -1):
            rows[0][j] = dh_local[j]  # the new source t = j enters at its own step
            # deltas[j, n - j:] (sources beyond the batch) are never written and stay zero.
            cell.backward_step(params, fwd, j, [r[j:] for r in rows], deltas[j, : n - j])
        return deltas.sum(axis=1), deltas
    rows = [np.zeros((1, H)) for _ in range(cell.n_state)]
    gates = np.empty((n, GH))
    for j in range(n - 1, -1, -1):
        rows[0] += dh_local[j]
        cell.backward_step(params, fwd, j, rows, gates[j : j + 1])
    return gates, None


@lru_cache(maxsize=16)
def _lower_triangle(n: int):
    """Index arrays mapping [t, j] (t ≥ j) to [j, d = t − j], cached per sequence length."""
    t, j = np.tril_indices(n)
    return t, j, t - j


def measure(deltas, h_prev, epsilon: float, n_gates: int = 1, work: Workspace | None = None) -> Itemized:
    """All recorded quantities from the per-source deltas (n, n, GH) and the inputs h_{j-1} (n, H)."""
    n, _, GH = deltas.shape
    t_idx, j_idx, d_idx = _lower_triangle(n)
    h_norm = np.sqrt(np.einsum("jh,jh->j", h_prev, h_prev))  # (n,)  ‖h_{j-1}‖
    gates = deltas.sum(axis=1)  # (n, GH)  dhraw_j: the summed step gradient
    gates_norm = np.sqrt(np.einsum("jg,jg->j", gates, gates))  # (n,)

    # ‖G[t, j]‖ = ‖δ_t^(j)‖ ‖h_{j-1}‖: the outer product never has to exist.
    delta_norm = np.sqrt(np.einsum("jdg,jdg->jd", deltas, deltas))  # (n, n) over [j, d]
    along = np.matmul(deltas, gates[:, :, None])[..., 0]  # (n, n)  δ_t^(j) · dhraw_j
    safe = np.where(gates_norm > 0, gates_norm, 1.0)
    contribution_jd = along * (h_norm / safe)[:, None]
    contribution_jd[gates_norm == 0] = 0.0

    itemized = np.zeros((n, n))
    contribution = np.zeros((n, n))
    itemized[t_idx, j_idx] = (delta_norm * h_norm[:, None])[j_idx, d_idx]
    contribution[t_idx, j_idx] = contribution_jd[j_idx, d_idx]

    itemized_gate = None
    if n_gates > 1:
        H = GH // n_gates
        blocks = deltas.reshape(n, n, n_gates, H)
        gate_norm = np.sqrt(np.einsum("jdgh,jdgh->jdg", blocks, blocks)) * h_norm[:, None, None]
        itemized_gate = np.zeros((n, n, n_gates))
        itemized_gate[t_idx, j_idx] = gate_norm[j_idx, d_idx]

    error = truncation_error(deltas, h_prev, work)
    horizon = int(np.argmax(error <= epsilon)) + 1
    return Itemized(
        itemized=itemized,
        contribution=contribution,
        step_gradient=gates_norm * h_norm,
        truncation_error=error,
        horizon=horizon,
        itemized_gate=itemized_gate,
    )


def truncation_error(deltas: np.ndarray, h_prev: np.ndarray, work: Workspace | None = None) -> np.ndarray:
    """e(k) for k = 1 … n without forming any GH × H matrix.

    The residual after keeping offsets t − j < k is Σ_j a_j h_{j-1}ᵀ with a_j = Σ_{d ≥ k} δ_{j+d}^(j),
    and ‖Σ_j a_j b_jᵀ‖_F² = Σ_{j,j'} (a_j · a_j')(b_j · b_j'): O(n³ GH) for all k together.
    """
    n, _, GH = deltas.shape
    gram = h_prev @ h_prev.T  # (n, n)  b_j · b_j'
    # suffix[j, k] = Σ_{d ≥ k} deltas[j, d]; k = 0 is the full step gradient. One add per offset:
    # numpy's cumsum along a middle axis is several times slower at these sizes.
    work = work or Workspace()
    suffix = work.get("suffix", deltas.shape)
    # Only rows j < n − k are non-zero at offset k; the rest of the buffer stays zero.
    suffix[0, n - 1] = deltas[0, n - 1]
    for k in range(n - 2, -1, -1):
        np.add(suffix[: n - k, k + 1], deltas[: n - k, k], out=suffix[: n - k, k])
    # ‖residual_k‖² = Σ_{j,j' < n−k} gram[j, j'] (a_j · a_j'): only the non-zero rows enter.
    squared = np.empty(n)
    for k in range(n):
        a = suffix[: n - k, k]
        squared[k] = np.vdot(gram[: n - k, : n - k], a @ a.T)
    total = squared[0]
    error = np.zeros(n)
    if total > 0:
        error[: n - 1] = np.sqrt(np.clip(squared[1:], 0.0, None) / total)
    return error
