"""Per-unit itemized gradients: the sum-of-squares identity with the engine's itemized, a hand-worked case,
and finite differences through per-step copies of W_hh in a forward pass written independently here."""

import numpy as np
import pytest

from textbook import numeric_gradient, random_model, step_losses
from rnnbow_desktop.core.cells import make_cell
from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.core.corpus import Corpus
from rnnbow_desktop.core.training import Trainer, batch_gradients
from rnnbow_desktop.core.unit_itemized import unit_itemized, unit_itemized_from_deltas

CELLS = ["rnn", "lstm", "gru"]
H, V, N = 4, 6, 7


def model(cell_name):
    cell = make_cell(cell_name)
    return (cell, *random_model(cell, H, V, N, seed=5))


@pytest.mark.parametrize("cell_name", CELLS)
def test_sum_of_squares_over_units_is_the_engines_itemized(cell_name):
    cell, params, inputs, targets, state0 = model(cell_name)
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


@pytest.mark.parametrize("cell_name", CELLS)
def test_entries_match_finite_differences_through_per_step_weight_copies(cell_name):
    """[t, j, u] is the norm of ∂L_t/∂(unit u's rows of the copy of W_hh used at step j)."""
    cell, params, inputs, targets, state0 = model(cell_name)
    per_unit = unit_itemized(cell, params, inputs, targets, state0)
    copies = np.repeat(params["weight_hh"][None], N, axis=0)  # (n, GH, H)
    np.testing.assert_allclose(step_losses(cell_name, params, copies, inputs, targets, state0),
                               batch_gradients(cell, params, inputs, targets, state0, False).loss, rtol=1e-12)
    for t, j, u in [(N - 1, 0, 1), (4, 2, 3), (3, 3, 0), (6, 5, 2)]:
        rows = np.arange(cell.n_gates) * H + u  # unit u's row in every gate block
        grad = numeric_gradient(lambda: step_losses(cell_name, params, copies, inputs, targets, state0)[t], copies[j])
        assert per_unit[t, j, u] == pytest.approx(np.linalg.norm(grad[rows]), rel=1e-6), (t, j, u)
