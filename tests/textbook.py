"""Independent references the gradient tests check the engine against: small random models, the cells' forward pass
written from the textbook equations with its own copy of W_hh at every step, each step's loss gradient at h, the
explicit G[t, j] matrices, and central finite differences.

Written here once, apart from rnnbow_desktop.core, so that a test compares two formulations, not one with itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def random_model(cell, hidden: int, vocab: int, steps: int, seed: int, weight_scale: float = 0.5,
                 bias_scale: float = 0.5, state_scale: float = 0.5):
    """(params, inputs, targets, state0) of a random `cell` model: Gaussian weights and biases of the given scales
    (large enough that no gradient is tiny within a few steps), `steps` random inputs and targets, and a nonzero
    initial state."""
    rng = np.random.default_rng(seed)
    GH = cell.n_gates * hidden
    params = {
        "weight_ih": rng.standard_normal((GH, vocab)) * weight_scale,
        "weight_hh": rng.standard_normal((GH, hidden)) * weight_scale,
        "bias_ih": rng.standard_normal(GH) * bias_scale,
        "bias_hh": rng.standard_normal(GH) * bias_scale,
        "decoder_weight": rng.standard_normal((vocab, hidden)) * weight_scale,
        "decoder_bias": rng.standard_normal(vocab) * bias_scale,
    }
    inputs = rng.integers(0, vocab, steps)
    targets = rng.integers(0, vocab, steps)
    state0 = tuple(rng.standard_normal(hidden) * state_scale for _ in range(cell.n_state))
    return params, inputs, targets, state0


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def step_losses(cell_name: str, params: dict, W_steps: Sequence[np.ndarray], inputs, targets, state0) -> np.ndarray:
    """L_t for every t (n,), step j using its own recurrent matrix W_steps[j]: the textbook equations, one step at
    a time (PyTorch's gate order: LSTM i, f, g, o; GRU r, z, n)."""
    W_ih, b_ih, b_hh = params["weight_ih"], params["bias_ih"], params["bias_hh"]
    h = state0[0].copy()
    c = state0[1].copy() if cell_name == "lstm" else None
    losses = []
    for x, y, W_hh in zip(inputs, targets, W_steps):
        gx, gh = W_ih[:, x] + b_ih, W_hh @ h + b_hh
        if cell_name == "rnn":
            h = np.tanh(gx + gh)
        elif cell_name == "lstm":
            a_i, a_f, a_g, a_o = np.split(gx + gh, 4)
            c = _sigmoid(a_f) * c + _sigmoid(a_i) * np.tanh(a_g)
            h = _sigmoid(a_o) * np.tanh(c)
        else:
            (x_r, x_z, x_n), (h_r, h_z, h_n) = np.split(gx, 3), np.split(gh, 3)
            r, z = _sigmoid(x_r + h_r), _sigmoid(x_z + h_z)
            h = (1 - z) * np.tanh(x_n + r * h_n) + z * h
        logits = params["decoder_weight"] @ h + params["decoder_bias"]
        top = logits.max()
        losses.append(top + np.log(np.exp(logits - top).sum()) - logits[y])
    return np.array(losses)


def local_dh(params: dict, fwd, targets) -> np.ndarray:
    """∂L_t/∂h_t of each step's own loss (n, H), computed here rather than taken from the trainer."""
    logits = fwd.hs[1:] @ params["decoder_weight"].T + params["decoder_bias"]
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(targets)), targets] -= 1.0
    return p @ params["decoder_weight"]


def explicit_items(fwd, deltas: np.ndarray) -> np.ndarray:
    """G[t, j] as explicit (GH, H) matrices (n, n, GH, H) from the per-source deltas [j, t − j], zero for j > t."""
    n, _, GH = deltas.shape
    G = np.zeros((n, n, GH, fwd.hs.shape[1]))
    for t in range(n):
        for j in range(t + 1):
            G[t, j] = np.outer(deltas[j, t - j], fwd.hs[j])
    return G


def numeric_gradient(loss: Callable[[], float], value: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of `loss()` in every entry of `value`, which is shifted in place and restored."""
    numeric = np.zeros_like(value)
    for idx in np.ndindex(value.shape):
        old = value[idx]
        value[idx] = old + eps
        up = loss()
        value[idx] = old - eps
        down = loss()
        value[idx] = old
        numeric[idx] = (up - down) / (2 * eps)
    return numeric
