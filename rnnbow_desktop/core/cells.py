"""Recurrent cells: the cell-specific forward pass and one backward step, in PyTorch's parameterization.

A cell knows nothing about itemized gradients. The engine in `itemized.py` drives its
`backward_step` on a block of rows at once, one row per loss source (or a single row for the plain
summed gradient), so the same cell code serves both.

Conventions: `H` hidden size, `V` vocabulary size, `n` sequence length, `G` number of gates.
`gates` means the gradient with respect to `W_hh h_{j-1} + b_hh` at step `j` — shape (S, G*H) — so
the gradient of `weight_hh` from one source at one step is the rank-one `outer(gates, h_{j-1})`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np

from .errors import ConfigError


@dataclass
class Forward:
    """What a forward pass leaves for the backward sweep."""

    hs: np.ndarray  # (n+1, H): hs[0] is the state entering the batch, hs[j+1] the output of step j
    state_out: tuple  # the carried state after the last step (h,) or (h, c)
    cache: dict  # cell-specific intermediates


class Cell(Protocol):
    """What the trainer and the itemized engine need from a recurrent cell.

    Parameters are a dict of PyTorch-named arrays (weight_ih (G*H, V), weight_hh (G*H, H), bias_ih,
    bias_hh (G*H,), decoder_weight (V, H), decoder_bias (V,)); a state is a tuple of (H,) arrays:
    (h,) or (h, c).
    """

    name: ClassVar[str]
    gate_names: ClassVar[tuple[str, ...]]  # the row blocks of weight_hh, in PyTorch's order
    n_gates: ClassVar[int]
    n_state: ClassVar[int]  # 1: (h,), 2: (h, c)
    frozen_params: ClassVar[tuple[str, ...]]  # parameters that exist but are not trained

    def init_params(self, rng: np.random.Generator, H: int, V: int) -> dict[str, np.ndarray]: ...

    def zero_state(self, H: int) -> tuple[np.ndarray, ...]: ...

    def forward(self, params: dict[str, np.ndarray], inputs: np.ndarray, state0: tuple) -> Forward:
        """Run the n steps of `inputs` (n,) token ids from `state0`."""
        ...

    def backward_step(self, params: dict[str, np.ndarray], fwd: Forward, j: int, rows: list, out: np.ndarray) -> None:
        """One step back for S sources at once: `rows` holds the carried state gradients (S, H)
        at step j and is replaced by those at j-1; `out` (S, G*H) receives ∂L/∂(W_hh h_{j-1} + b_hh)."""
        ...

    def param_grads(self, params: dict[str, np.ndarray], fwd: Forward, inputs: np.ndarray, gates: np.ndarray) -> dict:
        """Gradients of the recurrent parameters from the summed step gradients `gates` (n, G*H)."""
        ...


class CellBase:
    """What the three cells share: PyTorch-named parameters drawn like min-char-rnn's, and a zero state."""

    name: ClassVar[str]
    gate_names: ClassVar[tuple[str, ...]]
    n_gates: ClassVar[int]
    n_state: ClassVar[int]
    frozen_params: ClassVar[tuple[str, ...]] = ()

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

    def zero_state(self, H: int) -> tuple[np.ndarray, ...]:
        return tuple(np.zeros(H) for _ in range(self.n_state))


class RNNCell(CellBase):
    """Vanilla tanh cell: h_j = tanh(W_ih x_j + b_ih + W_hh h_{j-1} + b_hh)."""

    name = "rnn"
    gate_names: ClassVar[tuple[str, ...]] = ("hidden",)
    n_gates = 1
    n_state = 1
    # min-char-rnn trains one hidden bias; bias_hh exists (PyTorch's names) but stays zero.
    frozen_params: ClassVar[tuple[str, ...]] = ("bias_hh",)

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


class LSTMCell(CellBase):
    """LSTM in PyTorch's layout: the row blocks of W_ih, W_hh, b_ih, b_hh are the gates i, f, g, o.

    With a = W_ih x_j + b_ih + W_hh h_{j-1} + b_hh: i, f, o = σ(a_i), σ(a_f), σ(a_o), g = tanh(a_g),
    c_j = f ⊙ c_{j-1} + i ⊙ g, h_j = o ⊙ tanh(c_j). The forget-gate bias starts at 0 like every other
    bias, and both biases are trained, as in torch.nn.LSTM.
    """

    name = "lstm"
    gate_names: ClassVar[tuple[str, ...]] = ("input", "forget", "cell candidate", "output")
    n_gates = 4
    n_state = 2
    frozen_params: ClassVar[tuple[str, ...]] = ()

    def forward(self, params, inputs: np.ndarray, state0: tuple) -> Forward:
        W_hh = params["weight_hh"]
        n, H = len(inputs), W_hh.shape[1]
        # σ(x) = (1 + tanh(x/2)) / 2: halving the sigmoid gates' rows (exact in floating point) lets
        # one tanh call per step activate all four gates, and it cannot overflow as exp(-x) can.
        scale = np.array([0.5, 0.5, 1.0, 0.5]).repeat(H)  # (4H,)
        shift = np.array([0.5, 0.5, 0.0, 0.5]).repeat(H)
        W_scaled = W_hh * scale[:, None]  # (4H, H)
        pre_in = params["weight_ih"].T[inputs] + (params["bias_ih"] + params["bias_hh"])  # (n, 4H)
        pre_in *= scale
        acts = np.empty((n, 4 * H))  # i, f, g, o of every step
        hs = np.empty((n + 1, H))
        cs = np.empty((n + 1, H))  # cs[0] = c entering the batch, cs[j+1] = c_j
        tanh_c = np.empty((n, H))
        ig = np.empty(H)
        hs[0], cs[0] = state0
        for j in range(n):
            a = acts[j]
            np.dot(W_scaled, hs[j], out=a)
            a += pre_in[j]
            np.tanh(a, out=a)
            a *= scale
            a += shift
            i, f, g, o = a.reshape(4, H)
            np.multiply(f, cs[j], out=cs[j + 1])
            np.multiply(i, g, out=ig)
            cs[j + 1] += ig
            np.tanh(cs[j + 1], out=tanh_c[j])
            np.multiply(o, tanh_c[j], out=hs[j + 1])

        # Everything the backward step needs, per step, so that it is a few calls on (S, ·) blocks:
        # coeff[j, :3] turns ∂L/∂c_j (total) into the gradients of a_i, a_f, a_g; coeff[j, 3] turns
        # ∂L/∂h_j into that of a_o; h_to_c carries ∂L/∂h_j into ∂L/∂c_j.
        i, f, g, o = acts.reshape(n, 4, H).transpose(1, 0, 2)  # each (n, H)
        coeff = np.empty((n, 4, H))
        coeff[:, 0] = g * i * (1.0 - i)
        coeff[:, 1] = cs[:-1] * f * (1.0 - f)
        coeff[:, 2] = i * (1.0 - g * g)
        coeff[:, 3] = tanh_c * o * (1.0 - o)
        h_to_c = o * (1.0 - tanh_c * tanh_c)  # (n, H)
        cache = {"coeff": coeff, "h_to_c": h_to_c, "forget": np.ascontiguousarray(f)}
        return Forward(hs=hs, state_out=(hs[n].copy(), cs[n].copy()), cache=cache)

    def backward_step(self, params, fwd: Forward, j: int, rows: list, out: np.ndarray) -> None:
        """rows = [∂L/∂h_j, ∂L/∂c_j] (S, H) each, replaced by those of h_{j-1}, c_{j-1}; out (S, 4H)."""
        dh, dc = rows
        S, H = dh.shape
        cache = fwd.cache
        blocks = out.reshape(S, 4, H)  # a view: the engine passes a contiguous block
        # ∂L/∂c_j in total: carried from c_{j+1} plus through h_j = o ⊙ tanh(c_j). The o block of
        # `out` is free until the last line, so it holds the product meanwhile.
        np.multiply(dh, cache["h_to_c"][j], out=blocks[:, 3])
        dc += blocks[:, 3]
        np.multiply(dc[:, None, :], cache["coeff"][j, :3], out=blocks[:, :3])
        np.multiply(dh, cache["coeff"][j, 3], out=blocks[:, 3])
        if j > 0:
            dc *= cache["forget"][j]
            np.matmul(out, params["weight_hh"], out=dh)

    def param_grads(self, params, fwd: Forward, inputs: np.ndarray, gates: np.ndarray) -> dict:
        """Gradients of the recurrent parameters from the summed step gradients `gates` (n, 4H).

        Every gate's pre-activation is a plain sum of its input and hidden parts, so both sides
        share the same gradient.
        """
        bias = gates.sum(axis=0)
        return {
            "weight_ih": _scatter_columns(params["weight_ih"].shape, inputs, gates),
            "weight_hh": gates.T @ fwd.hs[:-1],
            "bias_ih": bias,
            "bias_hh": bias.copy(),
        }


class GRUCell(CellBase):
    """GRU in PyTorch's layout: the row blocks of W_ih, W_hh, b_ih, b_hh are the gates r, z, n.

    r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz),
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h_j = (1 − z) ⊙ n + z ⊙ h_{j-1}.
    Both biases are trained, as in torch.nn.GRU (they differ only in the n gate).
    """

    name = "gru"
    gate_names: ClassVar[tuple[str, ...]] = ("reset", "update", "new")
    n_gates = 3
    n_state = 1
    frozen_params: ClassVar[tuple[str, ...]] = ()

    def forward(self, params, inputs: np.ndarray, state0: tuple) -> Forward:
        W_hh, b_hh = params["weight_hh"], params["bias_hh"]
        n, H = len(inputs), W_hh.shape[1]
        # Halved r, z rows: σ(x) = (1 + tanh(x/2)) / 2, see LSTMCell.forward.
        scale = np.array([0.5, 0.5, 1.0]).repeat(H)  # (3H,)
        W_scaled = W_hh * scale[:, None]  # (3H, H)
        x_part = params["weight_ih"].T[inputs] + params["bias_ih"]  # (n, 3H)
        # What is added to W_hh h at each step: r and z take both input part and both biases
        # (halved); n's block takes only b_hn, since r multiplies W_hn h + b_hn as a whole.
        added = x_part * scale
        added[:, : 2 * H] += b_hh[: 2 * H] * 0.5
        added[:, 2 * H :] = b_hh[2 * H :]
        x_new = np.ascontiguousarray(x_part[:, 2 * H :])  # (n, H)  W_in x + b_in
        acts = np.empty((n, 3 * H))  # r, z and the hidden part W_hn h + b_hn of every step
        new = np.empty((n, H))  # n
        hs = np.empty((n + 1, H))
        hs[0] = state0[0]
        for j in range(n):
            a = acts[j]
            np.dot(W_scaled, hs[j], out=a)
            a += added[j]
            rz, hidden_new = a[: 2 * H], a[2 * H :]
            np.tanh(rz, out=rz)
            rz *= 0.5
            rz += 0.5
            np.multiply(rz[:H], hidden_new, out=new[j])
            new[j] += x_new[j]
            np.tanh(new[j], out=new[j])
            # h_j = n + z ⊙ (h_{j-1} − n)
            np.subtract(hs[j], new[j], out=hs[j + 1])
            hs[j + 1] *= rz[H:]
            hs[j + 1] += new[j]

        r, z, hidden_new = acts.reshape(n, 3, H).transpose(1, 0, 2)  # each (n, H)
        # ∂L/∂h_j times new_grad is the gradient of n's full pre-activation (its input side);
        # coeff[j] turns ∂L/∂h_j into the gradients of the hidden-side r, z, n pre-activations.
        new_grad = (1.0 - z) * (1.0 - new * new)
        coeff = np.empty((n, 3, H))
        coeff[:, 0] = new_grad * hidden_new * r * (1.0 - r)
        coeff[:, 1] = (hs[:-1] - new) * z * (1.0 - z)
        coeff[:, 2] = new_grad * r
        cache = {
            "coeff": coeff,
            "new_grad": new_grad,
            "update": np.ascontiguousarray(z),
            "carried": np.empty((n, H)),  # scratch for the hidden-side product
            # Σ over sources of ∂L/∂h_j, written by backward_step for param_grads: the input side
            # of n gets ∂L/∂a_n while the hidden side gets r ⊙ ∂L/∂a_n, and r may be 0.
            "dh_sum": np.zeros((n, H)),
        }
        return Forward(hs=hs, state_out=(hs[n].copy(),), cache=cache)

    def backward_step(self, params, fwd: Forward, j: int, rows: list, out: np.ndarray) -> None:
        """rows[0] (S, H): ∂L/∂h_j per source, replaced by ∂L/∂h_{j-1}; out (S, 3H)."""
        dh = rows[0]
        S, H = dh.shape
        cache = fwd.cache
        np.multiply(dh[:, None, :], cache["coeff"][j], out=out.reshape(S, 3, H))
        np.sum(dh, axis=0, out=cache["dh_sum"][j])
        if j > 0:
            carried = cache["carried"]
            if len(carried) < S:
                carried = cache["carried"] = np.empty((S, H))
            carried = carried[:S]
            np.matmul(out, params["weight_hh"], out=carried)
            dh *= cache["update"][j]  # the direct path h_j = … + z ⊙ h_{j-1}
            dh += carried

    def param_grads(self, params, fwd: Forward, inputs: np.ndarray, gates: np.ndarray) -> dict:
        """Gradients from the summed hidden-side step gradients `gates` (n, 3H).

        Needs the backward sweep over this `fwd` to have run (it leaves Σ_sources ∂L/∂h_j behind).
        """
        H = gates.shape[1] // 3
        input_side = gates.copy()
        input_side[:, 2 * H :] = fwd.cache["dh_sum"] * fwd.cache["new_grad"]
        return {
            "weight_ih": _scatter_columns(params["weight_ih"].shape, inputs, input_side),
            "weight_hh": gates.T @ fwd.hs[:-1],
            "bias_ih": input_side.sum(axis=0),
            "bias_hh": gates.sum(axis=0),
        }


def _scatter_columns(shape, inputs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Σ_j outer(rows[j], onehot(inputs[j])) without building one-hot vectors: (G*H, V)."""
    out_t = np.zeros((shape[1], shape[0]))
    np.add.at(out_t, inputs, rows)
    return out_t.T


CELLS: dict[str, Callable[[], Cell]] = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}


def make_cell(name: str) -> Cell:
    try:
        return CELLS[name]()
    except KeyError:
        raise ConfigError(f"unknown cell '{name}' (choose from: {', '.join(CELLS)})") from None
