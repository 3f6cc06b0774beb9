"""Recurrent cells: the cell-specific forward pass and one backward step, in PyTorch's parameterization.

A cell knows nothing about itemized gradients. The engine in `itemized.py` drives its
`backward_step` on a block of rows at once, one row per loss source (or a single row for the plain
summed gradient), so the same cell code serves both.

Conventions: `H` hidden size, `V` vocabulary size, `n` sequence length, `G` number of gates.
`gates` means the gradient with respect to `W_hh h_{j-1} + b_hh` at step `j` — shape (S, G*H) — so
the gradient of `weight_hh` from one source at one step is the rank-one `outer(gates, h_{j-1})`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError


@dataclass
class Forward:
    """What a forward pass leaves for the backward sweep."""

    hs: np.ndarray  # (n+1, H): hs[0] is the state entering the batch, hs[j+1] the output of step j
    state_out: tuple  # the carried state after the last step (h,) or (h, c)
    cache: dict  # cell-specific intermediates


class Cell:
    """What every cell shares: PyTorch-named parameters drawn like min-char-rnn's, and a zero state."""

    name: str
    gate_names: tuple
    n_gates: int
    n_state: int
    frozen_params: tuple = ()

    def init_params(self, rng: np.random.Generator, H: int, V: int) -> dict[str, np.ndarray]:
        G = self.n_gates
        # Drawn in min-char-rnn's order (Wxh, Whh, Why) so the same seed gives the same start.
        weight_ih = rng.standard_normal((G * H, V)) * 0.01
        weight_hh = rng.standard_normal((G * H, H)) * 0.01
        decoder_weight = rng.standard_normal((V, H)) * 0.01
        return {
            "weight_ih": weight_ih,
            "weight_hh": weight_hh,
            "bias_ih": np.zeros(G * H),
            "bias_hh": np.zeros(G * H),
            "decoder_weight": decoder_weight,
            "decoder_bias": np.zeros(V),
        }

    def zero_state(self, H: int) -> tuple:
        return tuple(np.zeros(H) for _ in range(self.n_state))


class RNNCell(Cell):
    """Vanilla tanh cell: h_j = tanh(W_ih x_j + b_ih + W_hh h_{j-1} + b_hh)."""

    name = "rnn"
    gate_names = ("hidden",)
    n_gates = 1
    n_state = 1
    # min-char-rnn trains one hidden bias; bias_hh exists (PyTorch's names) but stays zero.
    frozen_params = ("bias_hh",)

    def forward(self, params, inputs: np.ndarray, state0: tuple) -> Forward:
        W_hh = params["weight_hh"]
        n, H = len(inputs), W_hh.shape[1]
        # Indexing a column of W_ih is the product with a one-hot input.
        pre_in = params["weight_ih"].T[inputs] + (params["bias_ih"] + params["bias_hh"])  # (n, H)
        hs = np.empty((n + 1, H))
        hs[0] = state0[0]
        for j in range(n):
            np.dot(W_hh, hs[j], out=hs[j + 1])
            hs[j + 1] += pre_in[j]
            np.tanh(hs[j + 1], out=hs[j + 1])
        dtanh = 1.0 - hs[1:] ** 2  # (n, H)
        return Forward(hs=hs, state_out=(hs[n].copy(),), cache={"dtanh": dtanh})

    def backward_step(self, params, fwd: Forward, j: int, rows: list, out: np.ndarray) -> None:
        """rows[0] (S, H): ∂L/∂h_j per source, replaced by ∂L/∂h_{j-1}; out (S, H): ∂L/∂preact_j."""
        dh = rows[0]
        np.multiply(dh, fwd.cache["dtanh"][j], out=out)
        if j > 0:
            np.matmul(out, params["weight_hh"], out=dh)

    def param_grads(self, params, fwd: Forward, inputs: np.ndarray, gates: np.ndarray) -> dict:
        """Gradients of the recurrent parameters from the summed step gradients `gates` (n, H)."""
        grads = {
            "weight_hh": gates.T @ fwd.hs[:-1],
            "bias_ih": gates.sum(axis=0),
            "bias_hh": gates.sum(axis=0),  # its true gradient; the trainer leaves it frozen
        }
        grads["weight_ih"] = _scatter_columns(params["weight_ih"].shape, inputs, gates)
        return grads


def _scatter_columns(shape, inputs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Σ_j outer(rows[j], onehot(inputs[j])) without building one-hot vectors: (G*H, V)."""
    out_t = np.zeros((shape[1], shape[0]))
    np.add.at(out_t, inputs, rows)
    return out_t.T


CELLS = {"rnn": RNNCell}


def make_cell(name: str):
    try:
        return CELLS[name]()
    except KeyError:
        raise ConfigError(f"unknown cell '{name}' (choose from: {', '.join(CELLS)})") from None
