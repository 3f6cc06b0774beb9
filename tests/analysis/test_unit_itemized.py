"""Per-unit itemized gradients: the sum-of-squares identity with the engine's itemized, a hand-worked case,
and finite differences through per-step copies of W_hh in a forward pass written independently here."""

import numpy as np
import pytest

from rnnbow_desktop.core.cells import make_cell
from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.core.corpus import Corpus
from rnnbow_desktop.core.training import Trainer, batch_gradients
from rnnbow_desktop.core.unit_itemized import unit_itemized, unit_itemized_from_deltas

CELLS = ["rnn", "lstm", "gru"]
H, V, N = 4, 6, 7


def random_model(cell_name, seed=5):
    cell = make_cell(cell_name)
    rng = np.random.default_rng(seed)
    GH = cell.n_gates * H
    params = {
        "weight_ih": rng.standard_normal((GH, V)) * 0.5,
        "weight_hh": rng.standard_normal((GH, H)) * 0.5,
        "bias_ih": rng.standard_normal(GH) * 0.5,
        "bias_hh": rng.standard_normal(GH) * 0.5,
        "decoder_weight": rng.standard_normal((V, H)) * 0.5,
        "decoder_bias": rng.standard_normal(V) * 0.5,
    }
    inputs, targets = rng.integers(0, V, N), rng.integers(0, V, N)
    state0 = tuple(rng.standard_normal(H) * 0.5 for _ in range(cell.n_state))
    return cell, params, inputs, targets, state0


@pytest.mark.parametrize("cell_name", CELLS)
def test_sum_of_squares_over_units_is_the_engines_itemized(cell_name):
    cell, params, inputs, targets, state0 = random_model(cell_name)
    per_unit = unit_itemized(cell, params, inputs, targets, state0)
    engine = batch_gradients(cell, params, inputs, targets, state0, itemize=True).measured.itemized
    assert per_unit.shape == (N, N, H)
    assert np.abs(engine).min(initial=1.0, where=np.tri(N, dtype=bool)) > 1e-6  # nothing trivially zero
    np.testing.assert_allclose((per_unit**2).sum(axis=2), engine**2, rtol=1e-12, atol=0)
    assert not per_unit[np.triu_indices(N, 1)].any()  # t < j: a loss cannot reach back to a later step


@pytest.mark.parametrize("cell_name", CELLS)
def test_agrees_with_the_trainers_records(cell_name):
    text = "while (p) { q[i] = *p++; }\n" * 8
    config = TrainConfig(cell=cell_name, hidden_size=5, seq_length=6, record_every=1, checkpoint_every=1,
                         sample_every=0, seed=4)
    trainer = Trainer(Corpus("t", text), config)
    cell = make_cell(cell_name)
    for _ in range(3):
        step = trainer.step()
        rec, cp = step.record, step.checkpoint
        per_unit = unit_itemized(cell, cp.params, rec.inputs, rec.targets, cp.state)
        np.testing.assert_allclose(np.sqrt((per_unit**2).sum(axis=2)), rec.itemized, rtol=1e-12, atol=1e-300)


def test_hand_worked_deltas():
    """n = 2, two gates, H = 2: unit u owns rows u and 2 + u of the (4,) deltas."""
    deltas = np.zeros((2, 2, 4))  # [j, d = t − j]
    deltas[0, 0] = [1, 2, 3, 4]  # t = 0, j = 0
    deltas[0, 1] = [0, 0, 0, 1]  # t = 1, j = 0
    deltas[1, 0] = [3, 0, 4, 0]  # t = 1, j = 1
    h_prev = np.array([[3.0, 4.0], [0.0, 2.0]])  # ‖h_{-1}‖ = 5, ‖h_0‖ = 2
    out = unit_itemized_from_deltas(deltas, h_prev, n_gates=2)
    expected = np.zeros((2, 2, 2))
    expected[0, 0] = [5 * np.sqrt(1 + 9), 5 * np.sqrt(4 + 16)]
    expected[1, 0] = [0, 5 * 1]
    expected[1, 1] = [2 * 5, 0]
    np.testing.assert_allclose(out, expected, rtol=1e-15, atol=0)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def step_losses(cell_name, params, W_copies, inputs, targets, state0):
    """L_t (n,) with step j using its own copy W_copies[j] of W_hh: the textbook formulas, one step at a time."""
    W_ih, b_ih, b_hh = params["weight_ih"], params["bias_ih"], params["bias_hh"]
    h = state0[0].copy()
    c = state0[1].copy() if cell_name == "lstm" else None
    losses = []
    for j, (x, y) in enumerate(zip(inputs, targets)):
        gi, gh = W_ih[:, x] + b_ih, W_copies[j] @ h + b_hh
        if cell_name == "rnn":
            h = np.tanh(gi + gh)
        elif cell_name == "lstm":
            i, f, g, o = np.split(gi + gh, 4)
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h = sigmoid(o) * np.tanh(c)
        else:
            (ir, iz, i_n), (hr, hz, hn) = np.split(gi, 3), np.split(gh, 3)
            r, z = sigmoid(ir + hr), sigmoid(iz + hz)
            h = (1 - z) * np.tanh(i_n + r * hn) + z * h
        logits = params["decoder_weight"] @ h + params["decoder_bias"]
        top = logits.max()
        losses.append(top + np.log(np.exp(logits - top).sum()) - logits[y])
    return np.array(losses)


@pytest.mark.parametrize("cell_name", CELLS)
def test_entries_match_finite_differences_through_per_step_weight_copies(cell_name):
    """[t, j, u] is the norm of ∂L_t/∂(unit u's rows of the copy of W_hh used at step j)."""
    cell, params, inputs, targets, state0 = random_model(cell_name)
    per_unit = unit_itemized(cell, params, inputs, targets, state0)
    copies = np.repeat(params["weight_hh"][None], N, axis=0)  # (n, GH, H)
    np.testing.assert_allclose(step_losses(cell_name, params, copies, inputs, targets, state0),
                               batch_gradients(cell, params, inputs, targets, state0, False).loss, rtol=1e-12)
    eps = 1e-6
    for t, j, u in [(N - 1, 0, 1), (4, 2, 3), (3, 3, 0), (6, 5, 2)]:
        rows = np.arange(cell.n_gates) * H + u  # unit u's row in every gate block
        grad = np.zeros((len(rows), H))
        for a, row in enumerate(rows):
            for k in range(H):
                loss = []
                for sign in (1, -1):
                    shifted = copies.copy()
                    shifted[j, row, k] += sign * eps
                    loss.append(step_losses(cell_name, params, shifted, inputs, targets, state0)[t])
                grad[a, k] = (loss[0] - loss[1]) / (2 * eps)
        assert per_unit[t, j, u] == pytest.approx(np.linalg.norm(grad), rel=1e-6), (t, j, u)
