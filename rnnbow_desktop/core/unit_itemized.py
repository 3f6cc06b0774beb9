"""Per-unit itemized gradients: how much of each hidden unit's weight update at step j came from the loss at step t.

`G[t, j] = outer(δ_t^(j), h_{j-1})` is rank one, so the norm of any set of its rows is the norm of
those entries of δ_t^(j) times ‖h_{j-1}‖. Unit u owns the rows u, H + u, 2H + u, … of W_hh (one per
gate, PyTorch's layout), so `[t, j, u] = ‖δ_t^(j)[unit u's rows]‖ · ‖h_{j-1}‖`, and summing its
square over u gives back ‖G[t, j]‖_F², the recorded `itemized²`. The deltas are those the itemized
engine carries (`itemized.sweep`); no H × H matrix is formed.
"""

from __future__ import annotations

import numpy as np

from . import itemized


def unit_itemized(
    cell, params: dict[str, np.ndarray], inputs: np.ndarray, targets: np.ndarray, state0: tuple
) -> np.ndarray:
    """[t, j, u] = ‖rows of unit u in G[t, j]‖_F for one batch (n, n, H); zero where j > t."""
    fwd = cell.forward(params, inputs, state0)
    W_d = params["decoder_weight"]
    # ∂L_t/∂h_t of each step's own loss, as training.batch_gradients computes it.
    logits = fwd.hs[1:] @ W_d.T + params["decoder_bias"]  # (n, V)
    logits -= logits.max(axis=1, keepdims=True)
    dlogits = np.exp(logits)
    dlogits /= dlogits.sum(axis=1, keepdims=True)
    dlogits[np.arange(len(targets)), targets] -= 1.0  # softmax cross-entropy: p − onehot(target)
    dh_local = dlogits @ W_d  # (n, H)
    _, deltas = itemized.sweep(cell, params, fwd, dh_local, itemize=True)
    return unit_itemized_from_deltas(deltas, fwd.hs[:-1], cell.n_gates)


def unit_itemized_from_deltas(deltas: np.ndarray, h_prev: np.ndarray, n_gates: int) -> np.ndarray:
    """The per-unit norms (n, n, H) indexed [t, j, u] from the engine's deltas (n, n, G*H) indexed
    [j, d = t − j] and the states h_{j-1} (n, H)."""
    n, _, GH = deltas.shape
    H = GH // n_gates
    blocks = deltas.reshape(n, n, n_gates, H)
    h_norm = np.sqrt(np.einsum("jh,jh->j", h_prev, h_prev))  # (n,)  ‖h_{j-1}‖
    unit_norm = np.sqrt(np.einsum("jdgu,jdgu->jdu", blocks, blocks)) * h_norm[:, None, None]  # (n, n, H) [j, d, u]
    t, j = np.tril_indices(n)
    out = np.zeros((n, n, H))
    out[t, j] = unit_norm[j, t - j]
    return out
