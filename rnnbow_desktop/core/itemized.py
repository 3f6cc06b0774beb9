"""Itemized backpropagation through time: the paper's per-loss, per-step gradients, vectorized over sources.

`G[t, j]` is the part of ∂L/∂W_hh that flows through the copy of W_hh used at step j, caused by the
loss L_t at step t ≥ j. It is the rank-one `outer(δ_t^(j), h_{j-1})`, where δ_t^(j) is the gradient of
L_t with respect to step j's recurrent pre-activation (`gates` in `cells.py`). One backward sweep
j = n-1 … 0 carries one row per source t ≥ j through the cell, so every step costs one small
matrix-matrix product instead of a Python-level loop over sources.

Long sequences. All deltas of a batch are n·n·GH floats: 537 MB for a vanilla RNN at n = 512,
H = 256, four times that for an LSTM. The recorded measures never need them all at once: the sweep
hands them over a block of steps at a time (`sweep_blocks`), each block is reduced to its norms and
projections at once, and what the truncation error needs from it (the suffix sums a_j(k) below) is
kept packed, without the zeros of j + k ≥ n, in float64 while that fits `Workspace.max_float64_bytes`
and in float32 beyond. The update never comes from here (see `training.batch_gradients`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

BLOCK_BYTES = 32 << 20  # deltas of one block of steps: (b, n, GH) float64
MAX_FLOAT64_BYTES = 512 << 20  # packed suffix sums kept in float64 up to this size, in float32 beyond


class Workspace:
    """Scratch buffers reused from batch to batch, and how large they may grow.

    The per-source deltas are n·n·GH floats (500 kB at the defaults); allocating that afresh every
    batch is served by mmap and page faults and cost more than the arithmetic on it.
    """

    def __init__(self, block_bytes: int = BLOCK_BYTES, max_float64_bytes: int = MAX_FLOAT64_BYTES):
        self._buffers: dict = {}
        self.block_bytes = block_bytes
        self.max_float64_bytes = max_float64_bytes

    def get(self, name: str, shape: tuple, dtype=np.float64) -> np.ndarray:
        """A buffer of `shape`, zero-filled when first made; entries never written stay zero."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            self._buffers.pop(name, None)  # freed before the new one is made: the peak is one buffer
            buf = self._buffers[name] = np.zeros(shape, dtype=dtype)
        return buf

    def block_steps(self, n: int, GH: int) -> int:
        """Steps per block of deltas: all n while that fits `block_bytes`."""
        return max(1, min(n, self.block_bytes // (n * GH * 8)))

    def suffix_dtype(self, n: int, GH: int):
        return np.float64 if n * (n + 1) // 2 * GH * 8 <= self.max_float64_bytes else np.float32


@dataclass(frozen=True)
class Measures:
    """What one recorded batch holds, measured by itemized BPTT: all indexed [t, j] (loss step t, update step j).
    `itemized` is ‖G[t, j]‖, the word's one meaning in this code; the rest is derived from the same G[t, j]."""

    itemized: np.ndarray  # (n, n)  ‖G[t, j]‖_F, zero above the diagonal (j > t)
    contribution: np.ndarray  # (n, n)  ⟨G[t, j], S_j⟩ / ‖S_j‖_F; sums over t to step_gradient[j]
    step_gradient: np.ndarray  # (n,)  ‖S_j‖_F with S_j = Σ_t G[t, j]
    truncation_error: np.ndarray  # (n,)  [k-1] = ‖G_total − Σ_{t−j<k} G[t, j]‖_F / ‖G_total‖_F
    horizon: int  # smallest k with truncation_error[k-1] ≤ ε
    itemized_gate: np.ndarray | None  # (n, n, G) Frobenius norm of each gate's row block, or None

    @property
    def max_gradient(self) -> float:
        return float(self.step_gradient.max())


def sweep_blocks(cell, params, fwd, dh_local: np.ndarray, work: Workspace, block: int) -> Iterator[tuple[int, np.ndarray]]:
    """The itemized backward sweep, handed over `block` steps at a time, last steps first.

    Yields (j0, D) with D (b, n, GH): D[i, d] = δ_{j0+i+d}^(j0+i), zero where j0 + i + d ≥ n. D is a
    workspace buffer, overwritten by the next block: use it before asking for the next.
    """
    n, H = dh_local.shape
    GH = params["weight_hh"].shape[0]
    rows = [np.zeros((n, H)) for _ in range(cell.n_state)]  # row t: state gradient of source t
    D = work.get("deltas", (block, n, GH))
    for j0 in range(((n - 1) // block) * block, -1, -block):
        b = min(block, n - j0)
        for j in range(j0 + b - 1, j0 - 1, -1):
            i = j - j0
            if block < n:
                D[i, n - j :] = 0.0  # left over from a later step of the previous batch
            # With one block, D[j, n - j:] (sources beyond the batch) is never written and stays zero.
            rows[0][j] = dh_local[j]  # the new source t = j enters at its own step
            cell.backward_step(params, fwd, j, [r[j:] for r in rows], D[i, : n - j])
        yield j0, D[:b]


def sweep(cell, params, fwd, dh_local: np.ndarray, itemize: bool, work: Workspace | None = None):
    """Backward sweep; returns (gates_total (n, GH), deltas (n, n, GH) or None).

    `dh_local` (n, H): ∂L_t/∂h_t of each step's own loss. With `itemize`, deltas[j, d] is
    δ_{j+d}^(j) (zero where j + d ≥ n), all n·n·GH of them at once (use `itemize` for the recorded
    measures of long sequences); without it a single summed row is carried (plain BPTT).
    """
    n, H = dh_local.shape
    GH = params["weight_hh"].shape[0]
    if itemize:
        (_, deltas), = sweep_blocks(cell, params, fwd, dh_local, work or Workspace(), n)
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


def _suffix_starts(n: int) -> np.ndarray:
    """Row of the packed suffix sums where offset k begins: offset k has the n − k rows j < n − k."""
    k = np.arange(n + 1)
    return k * n - k * (k - 1) // 2


class _Reduction:
    """What the measures keep of the deltas, filled a block of steps at a time.

    Per [j, d]: the squared norm of δ_{j+d}^(j) (per gate block too) and its projection on the
    step's summed delta; per offset k: the suffix sums a_j(k) = Σ_{d ≥ k} δ_{j+d}^(j), packed.
    """

    def __init__(self, n: int, GH: int, n_gates: int, work: Workspace):
        self.n, self.GH, self.n_gates = n, GH, n_gates
        self.gate_sq = np.zeros((n, n, n_gates)) if n_gates > 1 else None  # [j, d, g]
        self.delta_sq = np.zeros((n, n))  # [j, d]
        self.along = np.zeros((n, n))  # [j, d]  δ_{j+d}^(j) · dhraw_j
        self.gates_norm = np.zeros(n)  # ‖dhraw_j‖
        self.starts = _suffix_starts(n)
        self.suffix = work.get("suffix", (int(self.starts[n]), GH), work.suffix_dtype(n, GH))
        self.work = work

    def add_norms(self, j0: int, D: np.ndarray) -> None:
        b, n, GH = D.shape
        rows = slice(j0, j0 + b)
        gates = D.sum(axis=1)  # (b, GH)  dhraw_j: the summed step gradient
        self.gates_norm[rows] = np.sqrt(np.einsum("jg,jg->j", gates, gates))
        if self.gate_sq is not None:
            blocks = D.reshape(b, n, self.n_gates, GH // self.n_gates)
            self.gate_sq[rows] = np.einsum("jdgh,jdgh->jdg", blocks, blocks)
            self.delta_sq[rows] = self.gate_sq[rows].sum(axis=2)
        else:
            self.delta_sq[rows] = np.einsum("jdg,jdg->jd", D, D)
        np.matmul(D, gates[:, :, None], out=self.along[rows, :, None])

    def add_suffixes(self, j0: int, D: np.ndarray) -> None:
        """a_j(k) for the block's rows j, summed in float64 from the far offsets in, stored packed."""
        b, n, GH = D.shape
        total = self.work.get("suffix_block", (n, GH))[:b]  # n rows: one buffer for blocks of any size
        total[:] = 0.0
        for k in range(n - 1, -1, -1):
            m = min(b, n - k - j0)  # rows j of the block with j + k < n
            if m <= 0:
                continue
            total[:m] += D[:m, k]
            start = self.starts[k] + j0
            self.suffix[start : start + m] = total[:m]

    def truncation_error(self, h_prev: np.ndarray) -> np.ndarray:
        """e(k) for k = 1 … n without forming any GH × H matrix per [t, j].

        The residual after keeping offsets t − j < k is R_k = Σ_j a_j(k) h_{j-1}ᵀ, over the m = n − k
        rows j < n − k. Its squared norm is Σ_{j,j'} (a_j · a_j')(h_{j-1} · h_{j'-1}) (m² GH flops)
        or, when m exceeds H, more cheaply that of the (GH, H) product itself (m GH H flops).
        """
        n, H = h_prev.shape
        b = h_prev.astype(self.suffix.dtype)  # (n, H)
        gram = h_prev @ h_prev.T  # (n, n)
        squared = np.empty(n)
        for k in range(n):
            m = n - k
            a = self.suffix[self.starts[k] : self.starts[k] + m]  # (m, GH)
            # Far offsets carry tiny sums (gradients decay exponentially); their products would be
            # subnormal floats, which the CPU handles dozens of times more slowly. Scaled to ~1 first.
            scale = max(float(a.max(initial=0.0)), -float(a.min(initial=0.0)))
            if scale > 0 and not 1e-4 <= scale <= 1e4:
                a = a / scale  # not a * (1 / scale): the reciprocal of a subnormal scale overflows
            else:
                scale = 1.0
            if m > H:
                r = a.T @ b[:m]  # (GH, H)
                squared[k] = float(np.vdot(r, r)) * scale**2  # as a Python float: scale² may be below float32's range
            else:
                squared[k] = float(np.vdot(gram[:m, :m], a @ a.T)) * scale**2
        total = squared[0]
        error = np.zeros(n)
        if total > 0:
            error[: n - 1] = np.sqrt(np.clip(squared[1:], 0.0, None) / total)
        return error

    def result(self, h_prev: np.ndarray, epsilon: float) -> Measures:
        n = self.n
        t_idx, j_idx, d_idx = _lower_triangle(n)
        h_norm = np.sqrt(np.einsum("jh,jh->j", h_prev, h_prev))  # (n,)  ‖h_{j-1}‖
        # ‖G[t, j]‖ = ‖δ_t^(j)‖ ‖h_{j-1}‖: the outer product never has to exist.
        safe = np.where(self.gates_norm > 0, self.gates_norm, 1.0)
        contribution_jd = self.along * (h_norm / safe)[:, None]
        contribution_jd[self.gates_norm == 0] = 0.0

        itemized = np.zeros((n, n))
        contribution = np.zeros((n, n))
        itemized[t_idx, j_idx] = (np.sqrt(self.delta_sq) * h_norm[:, None])[j_idx, d_idx]
        contribution[t_idx, j_idx] = contribution_jd[j_idx, d_idx]
        itemized_gate = None
        if self.gate_sq is not None:
            itemized_gate = np.zeros((n, n, self.n_gates))
            itemized_gate[t_idx, j_idx] = (np.sqrt(self.gate_sq) * h_norm[:, None, None])[j_idx, d_idx]

        error = self.truncation_error(h_prev)
        return Measures(
            itemized=itemized,
            contribution=contribution,
            step_gradient=self.gates_norm * h_norm,
            truncation_error=error,
            horizon=int(np.argmax(error <= epsilon)) + 1,
            itemized_gate=itemized_gate,
        )


def itemize(cell, params, fwd, dh_local: np.ndarray, epsilon: float, work: Workspace | None = None) -> Measures:
    """The itemized sweep and every recorded quantity of one batch, in memory bounded by the workspace.

    Peak memory beyond the (n, n) results: one block of deltas (≤ `work.block_bytes`) and the packed
    suffix sums (n(n+1)/2 · GH floats: 269 MB for a vanilla RNN at n = 512, H = 256 in float64).
    """
    work = work or Workspace()
    n = len(dh_local)
    GH = params["weight_hh"].shape[0]
    reduction = _Reduction(n, GH, cell.n_gates, work)
    for j0, D in sweep_blocks(cell, params, fwd, dh_local, work, work.block_steps(n, GH)):
        reduction.add_norms(j0, D)
        reduction.add_suffixes(j0, D)
    return reduction.result(fwd.hs[:-1], epsilon)


def measure(deltas, h_prev, epsilon: float, n_gates: int = 1, work: Workspace | None = None) -> Measures:
    """All recorded quantities from the per-source deltas (n, n, GH) and the inputs h_{j-1} (n, H)."""
    n, _, GH = deltas.shape
    reduction = _Reduction(n, GH, n_gates, work or Workspace())
    reduction.add_norms(0, deltas)
    reduction.add_suffixes(0, deltas)
    return reduction.result(h_prev, epsilon)


def truncation_error(deltas: np.ndarray, h_prev: np.ndarray, work: Workspace | None = None) -> np.ndarray:
    """e(k) for k = 1 … n from the per-source deltas (n, n, GH); see `_Reduction.truncation_error`."""
    n, _, GH = deltas.shape
    reduction = _Reduction(n, GH, 1, work or Workspace())
    reduction.add_suffixes(0, deltas)
    return reduction.truncation_error(h_prev)
