"""Exact replay: run a checkpointed model over any text and keep, per character, its states, gates and predictions.

Step k reads character ids[k] and predicts ids[k + 1], exactly as a training step does, so
`h[k]` is the state after reading character k and `loss[k]` is the surprise at character k + 1.
The last character has nothing to predict: `loss[T - 1]` is NaN (every array stays T long, so
per-character features line up with every state without shifting).

The hidden states come from the cell's own forward pass (`cells.py`), the very code the trainer
runs. The cells keep their gates only in a form shaped for the backward sweep, so the gate
activations are recomputed here from the same parameters, vectorized over time: one matrix product
for all pre-activations given the cell's h_{j-1}. Tests check that the h these gates imply equals
the cell's own h to rounding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from ..core.cells import make_cell
from ..core.errors import ConfigError
from ..core.records import frozen_array

# Steps per call of the cell's forward pass. The cell keeps several (steps, G*H) arrays for its
# backward step; chunking bounds them (10,000 characters at H = 512 would need ~0.5 GB at once).
# Each chunk starts from the exact state the previous one ended in, so the result is bit-identical
# to one long call.
CHUNK = 1024

# Characters listed in the error for text outside the vocabulary; the count of the rest follows.
_LISTED_CHARACTERS = 10


@dataclass(frozen=True)
class Replay:
    """A model run over T characters; every array is read-only and indexed by character (step) k."""

    cell: str
    ids: np.ndarray  # (T,) token ids; step k reads ids[k]
    h: np.ndarray  # (T, H) hidden state after reading ids[k]
    c: np.ndarray | None  # (T, H) LSTM cell state after reading ids[k]; None for rnn and gru
    gates: Mapping[str, np.ndarray]  # cell's gate name -> (T, H) activation at step k
    probs: np.ndarray  # (T, V) next-character distribution after reading ids[k]
    loss: np.ndarray  # (T,) −log probs[k, ids[k+1]] in nats; loss[T-1] is NaN (no next character)
    state_out: tuple  # the carried state after the last step, (h,) or (h, c), as the cell leaves it

    @property
    def mean_loss(self) -> float:
        """Nats per predicted character (the T − 1 predictions that have a target); NaN when T = 1."""
        return float(self.loss[:-1].mean()) if len(self.loss) > 1 else float("nan")


def encode(text: str, vocab: Sequence[str]) -> np.ndarray:
    """Token ids (len(text),) of `text` in `vocab` (a session's characters, ids = positions).

    Raises ConfigError naming every character (in order of first appearance) that is not in it.
    """
    lookup = {ch: i for i, ch in enumerate(vocab)}
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    unique, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    table = np.array([lookup.get(chr(u), -1) for u in unique], dtype=np.int32)
    missing = table < 0
    if missing.any():
        order = np.argsort(first[missing])  # report characters in the order the text has them
        chars = [chr(u) for u in unique[missing][order]]
        listed = ", ".join(repr(ch) for ch in chars[:_LISTED_CHARACTERS])
        more = f" and {len(chars) - _LISTED_CHARACTERS} more" if len(chars) > _LISTED_CHARACTERS else ""
        raise ConfigError(f"text has characters outside the session's vocabulary: {listed}{more}")
    return table[inverse.reshape(-1)]


def replay(cell_name: str, params: dict[str, np.ndarray], state0: tuple | None, ids: np.ndarray) -> Replay:
    """Run the model with PyTorch-named `params` over token ids (T,) from `state0` (None: zero state)."""
    cell = make_cell(cell_name)
    ids = np.asarray(ids)
    W_d, b_d = params["decoder_weight"], params["decoder_bias"]  # (V, H), (V,)
    V, H = W_d.shape
    T = len(ids)
    if T == 0:
        raise ConfigError("the text to replay is empty")
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0 or ids.max() >= V:
        raise ConfigError(f"token ids must be a sequence of whole numbers in 0 … {V - 1}")
    state = cell.zero_state(H) if state0 is None else tuple(np.asarray(s, dtype=float) for s in state0)

    h = np.empty((T, H))
    gates = {name: np.empty((T, H)) for name in cell.gate_names}
    c = np.empty((T, H)) if cell_name == "lstm" else None
    c_prev = state[-1]  # c entering the text (read only for the LSTM)
    for start in range(0, T, CHUNK):
        stop = min(start + CHUNK, T)
        fwd = cell.forward(params, ids[start:stop], state)
        h[start:stop] = fwd.hs[1:]
        chunk_gates = gate_activations(cell_name, params, ids[start:stop], fwd.hs[:-1])
        for name, values in zip(cell.gate_names, chunk_gates):
            gates[name][start:stop] = values
        if c is not None:
            i, f, g, _ = chunk_gates
            _cell_states(i, f, g, c_prev, out=c[start:stop])
            c_prev = c[stop - 1]
        state = fwd.state_out

    # The same softmax cross-entropy, in the same order of operations, as training.batch_gradients.
    logits = h @ W_d.T + b_d  # (T, V)
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    loss = np.full(T, np.nan)
    loss[:-1] = -np.log(probs[np.arange(T - 1), ids[1:]])
    # The arrays made here are marked read-only in place: copying them, as frozen_array does, would
    # double the peak memory of a long replay (~250 MB of states and gates at T = 10,000, H = 512).
    for owned in (h, probs, loss, *gates.values(), *([] if c is None else [c])):
        owned.flags.writeable = False
    return Replay(
        cell=cell_name,
        ids=frozen_array(ids),
        h=h,
        c=c,
        gates=MappingProxyType(gates),
        probs=probs,
        loss=loss,
        state_out=tuple(frozen_array(s) for s in state),
    )


def gate_activations(cell_name: str, params: dict[str, np.ndarray], ids: np.ndarray, h_prev: np.ndarray):
    """Every gate's activation (T, H), in the cell's gate order, from the inputs and the states h_{j-1} (T, H).

    rnn: the tanh output itself. lstm: σ(a_i), σ(a_f), tanh(a_g), σ(a_o). gru: r, z and n =
    tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), PyTorch's formulas.
    """
    W_hh = params["weight_hh"]
    H = W_hh.shape[1]
    x_part = params["weight_ih"].T[ids] + params["bias_ih"]  # (T, G*H): a column of W_ih is W_ih x
    h_part = h_prev @ W_hh.T + params["bias_hh"]  # (T, G*H)
    if cell_name == "rnn":
        return (np.tanh(x_part + h_part),)
    if cell_name == "lstm":
        a = (x_part + h_part).reshape(-1, 4, H)
        return _sigmoid(a[:, 0]), _sigmoid(a[:, 1]), np.tanh(a[:, 2]), _sigmoid(a[:, 3])
    r = _sigmoid(x_part[:, :H] + h_part[:, :H])
    z = _sigmoid(x_part[:, H : 2 * H] + h_part[:, H : 2 * H])
    new = np.tanh(x_part[:, 2 * H :] + r * h_part[:, 2 * H :])
    return r, z, new


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # σ(x) = (1 + tanh(x/2)) / 2 cannot overflow, unlike 1 / (1 + exp(−x)) for large negative x.
    return 0.5 + 0.5 * np.tanh(0.5 * x)


def _cell_states(i: np.ndarray, f: np.ndarray, g: np.ndarray, c_prev: np.ndarray, out: np.ndarray) -> None:
    """c_j = f_j ⊙ c_{j-1} + i_j ⊙ g_j for every step into `out` (T, H): a linear recurrence, so one
    element-wise step per character (the gates, the costly part, are already computed for all steps)."""
    ig = i * g  # (T, H)
    for j in range(len(out)):
        np.multiply(f[j], c_prev, out=out[j])
        out[j] += ig[j]
        c_prev = out[j]
