"""LSTM and GRU cells: gradients and itemized gradients checked against independent computations."""

import numpy as np
import pytest

from textbook import explicit_items, local_dh, numeric_gradient, random_model, step_losses
from rnnbow_desktop.core import itemized
from rnnbow_desktop.core.cells import CELLS, GRUCell, LSTMCell, make_cell
from rnnbow_desktop.core.corpus import Corpus
from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.core.training import Trainer, batch_gradients

H, V, N = 5, 7, 6
GATED = ["lstm", "gru"]


@pytest.fixture(params=GATED)
def problem(request):
    """Random parameters of scale ~0.5 and a nonzero initial state, so no gradient is tiny."""
    cell = make_cell(request.param)
    return (cell, *random_model(cell, H, V, N, seed=7))


def sweep_deltas(cell, params, inputs, targets, state0):
    fwd = cell.forward(params, inputs, state0)
    gates, deltas = itemized.sweep(cell, params, fwd, local_dh(params, fwd, targets), itemize=True)
    return fwd, gates, deltas.copy()


# --- 0. the cells' declared contract ---------------------------------------------------------


def test_registered_with_plain_gate_names():
    assert CELLS["lstm"] is LSTMCell and CELLS["gru"] is GRUCell
    lstm, gru = make_cell("lstm"), make_cell("gru")
    assert (lstm.name, lstm.n_gates, lstm.n_state) == ("lstm", 4, 2)
    assert lstm.gate_names == ("input", "forget", "cell candidate", "output")
    assert (gru.name, gru.n_gates, gru.n_state) == ("gru", 3, 1)
    assert gru.gate_names == ("reset", "update", "new")
    assert lstm.frozen_params == () and gru.frozen_params == ()


@pytest.mark.parametrize("name", GATED)
def test_init_params_drawn_like_the_vanilla_cell(name):
    cell = make_cell(name)
    G = cell.n_gates
    params = cell.init_params(np.random.default_rng(3), H, V)
    rng = np.random.default_rng(3)
    expected = {
        "weight_ih": rng.standard_normal((G * H, V)) * 0.01,
        "weight_hh": rng.standard_normal((G * H, H)) * 0.01,
        "decoder_weight": rng.standard_normal((V, H)) * 0.01,
    }
    for key, value in expected.items():
        np.testing.assert_array_equal(params[key], value)
    for key, size in (("bias_ih", G * H), ("bias_hh", G * H), ("decoder_bias", V)):
        np.testing.assert_array_equal(params[key], np.zeros(size))
    state = cell.zero_state(H)
    assert len(state) == cell.n_state and all(np.array_equal(s, np.zeros(H)) for s in state)


def test_forward_matches_the_textbook_equations(problem):
    cell, params, inputs, targets, state0 = problem
    result = batch_gradients(cell, params, inputs, targets, state0, itemize=True)
    independent = step_losses(cell.name, params, [params["weight_hh"]] * N, inputs, targets, state0)
    np.testing.assert_allclose(result.loss, independent, rtol=1e-12)
    assert len(result.fwd.state_out) == cell.n_state


# --- 1. every parameter against central finite differences ----------------------------------


def test_gradients_match_finite_differences(problem):
    cell, params, inputs, targets, state0 = problem
    grads = batch_gradients(cell, params, inputs, targets, state0, itemize=True).grads
    assert set(grads) == set(params)

    def total_loss():
        return batch_gradients(cell, params, inputs, targets, state0, itemize=False).loss.sum()

    for name, value in params.items():
        numeric = numeric_gradient(total_loss, value)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-5, atol=1e-8, err_msg=name)


def test_gru_input_side_of_new_gate_survives_a_closed_reset_gate():
    """With r exactly 0 the hidden side of n gets no gradient but the input side still does."""
    cell = GRUCell()
    rng = np.random.default_rng(11)
    params = {k: rng.standard_normal(v.shape) * 0.5 for k, v in cell.init_params(rng, H, V).items()}
    params["bias_hh"][:H] = -2000.0  # σ underflows to exactly 0 in float64
    inputs, targets = rng.integers(0, V, N), rng.integers(0, V, N)
    state0 = (rng.standard_normal(H) * 0.5,)
    fwd = cell.forward(params, inputs, state0)
    assert np.all(fwd.cache["coeff"][:, 2] == 0.0)  # r ⊙ …: the hidden side of n is cut off
    grads = batch_gradients(cell, params, inputs, targets, state0, itemize=True).grads
    np.testing.assert_array_equal(grads["bias_hh"][2 * H :], 0.0)

    def total_loss():
        return batch_gradients(cell, params, inputs, targets, state0, itemize=False).loss.sum()

    numeric = numeric_gradient(total_loss, params["bias_ih"][2 * H :])  # the input side of n: a view, shifted in place
    assert np.abs(numeric).max() > 1e-3
    np.testing.assert_allclose(grads["bias_ih"][2 * H :], numeric, rtol=1e-5, atol=1e-8)


# --- 2. the parts G[t, j] add up to the training gradient -----------------------------------


def test_parts_sum_to_the_gradient(problem):
    cell, params, inputs, targets, state0 = problem
    grads = batch_gradients(cell, params, inputs, targets, state0, itemize=True).grads
    fwd, gates_itemized, deltas = sweep_deltas(cell, params, inputs, targets, state0)
    G = explicit_items(fwd, deltas)
    np.testing.assert_allclose(G.sum(axis=(0, 1)), grads["weight_hh"], rtol=1e-10, atol=1e-12)
    # Sources beyond the batch (t ≥ n) stay zero.
    for j in range(N):
        assert not deltas[j, N - j :].any()

    fwd_plain = cell.forward(params, inputs, state0)
    gates_plain, none = itemized.sweep(cell, params, fwd_plain, local_dh(params, fwd_plain, targets), itemize=False)
    assert none is None
    np.testing.assert_allclose(gates_itemized, gates_plain, rtol=1e-10, atol=1e-13)


def test_measured_norms_are_those_of_the_explicit_matrices(problem):
    cell, params, inputs, targets, state0 = problem
    result = batch_gradients(cell, params, inputs, targets, state0, itemize=True)
    fwd, _, deltas = sweep_deltas(cell, params, inputs, targets, state0)
    G = explicit_items(fwd, deltas)
    m = result.measured
    np.testing.assert_allclose(m.itemized, np.sqrt((G**2).sum(axis=(2, 3))), rtol=1e-10, atol=1e-14)
    blocks = G.reshape(N, N, cell.n_gates, H, H)
    np.testing.assert_allclose(m.itemized_gate, np.sqrt((blocks**2).sum(axis=(3, 4))), rtol=1e-10, atol=1e-14)


# --- 3. one G[t, j] against its own finite difference (and against PyTorch) -----------------


@pytest.mark.parametrize("t, j", [(N - 1, 0), (4, 2), (3, 3)])
def test_single_item_is_the_gradient_through_one_step_copy(problem, t, j):
    cell, params, inputs, targets, state0 = problem
    fwd, _, deltas = sweep_deltas(cell, params, inputs, targets, state0)
    expected = np.outer(deltas[j, t - j], fwd.hs[j])  # G[t, j]

    W_steps = [params["weight_hh"].copy() for _ in range(N)]
    numeric = numeric_gradient(lambda: step_losses(cell.name, params, W_steps, inputs, targets, state0)[t], W_steps[j])
    assert np.abs(numeric).max() > 1e-4
    np.testing.assert_allclose(expected, numeric, rtol=1e-5, atol=1e-9)


def _torch_modules(torch, cell, params):
    """torch.nn.LSTM/GRU and the matching single-step cell module, loaded from our parameters."""
    kind = {"lstm": (torch.nn.LSTM, torch.nn.LSTMCell), "gru": (torch.nn.GRU, torch.nn.GRUCell)}[cell.name]
    layer = kind[0](V, H).double()
    step = kind[1](V, H).double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(layer, f"{name}_l0").copy_(torch.from_numpy(params[name]))
            getattr(step, name).copy_(torch.from_numpy(params[name]))
    return layer, step


def test_against_torch(problem):
    torch = pytest.importorskip("torch")
    cell, params, inputs, targets, state0 = problem
    result = batch_gradients(cell, params, inputs, targets, state0, itemize=True)
    fwd, _, deltas = sweep_deltas(cell, params, inputs, targets, state0)
    G = explicit_items(fwd, deltas)
    layer, step = _torch_modules(torch, cell, params)
    W_d = torch.tensor(params["decoder_weight"], requires_grad=True)
    b_d = torch.tensor(params["decoder_bias"], requires_grad=True)
    x = torch.nn.functional.one_hot(torch.from_numpy(inputs), V).double()  # (n, V)
    y = torch.from_numpy(targets)
    s0 = [torch.from_numpy(s).reshape(1, 1, H) for s in state0]

    # The whole layer: loss and every parameter's gradient, with PyTorch's names.
    out, _ = layer(x.unsqueeze(1), tuple(s0) if cell.name == "lstm" else s0[0])
    losses = torch.nn.functional.cross_entropy(out[:, 0] @ W_d.T + b_d, y, reduction="none")
    losses.sum().backward()
    np.testing.assert_allclose(result.loss, losses.detach().numpy(), rtol=1e-12)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        theirs = getattr(layer, f"{name}_l0").grad.numpy()
        np.testing.assert_allclose(result.grads[name], theirs, rtol=1e-9, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(result.grads["decoder_weight"], W_d.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(result.grads["decoder_bias"], b_d.grad.numpy(), rtol=1e-9, atol=1e-12)

    # One copy of weight_hh per step, stepped by torch's own cell: autograd of L_t with respect to
    # copy j is G[t, j], for every pair at once.
    copies = [torch.tensor(params["weight_hh"], requires_grad=True) for _ in range(N)]
    fixed = {k: getattr(step, k).detach() for k in ("weight_ih", "bias_ih", "bias_hh")}
    state = tuple(s.reshape(1, H) for s in s0) if cell.name == "lstm" else s0[0].reshape(1, H)
    step_losses = []
    for k in range(N):
        state = torch.func.functional_call(step, {**fixed, "weight_hh": copies[k]}, (x[k : k + 1], state))
        h = state[0] if cell.name == "lstm" else state
        step_losses.append(torch.nn.functional.cross_entropy(h @ W_d.T + b_d, y[k : k + 1], reduction="sum"))
    for t in range(N):
        # Copies after step t do not reach L_t: their item is zero (G[t, j] = 0 for j > t).
        items = torch.autograd.grad(step_losses[t], copies, retain_graph=True, allow_unused=True)
        for j in range(N):
            theirs = np.zeros((cell.n_gates * H, H)) if items[j] is None else items[j].numpy()
            np.testing.assert_allclose(G[t, j], theirs, rtol=1e-9, atol=1e-13, err_msg=f"G[{t}, {j}]")


# --- 4. gate norms and contributions --------------------------------------------------------


def test_gate_norms_and_contributions_add_up(problem):
    cell, params, inputs, targets, state0 = problem
    fwd, _, deltas = sweep_deltas(cell, params, inputs, targets, state0)
    m = itemized.measure(deltas, fwd.hs[:-1], 0.05, cell.n_gates)
    assert m.itemized_gate.shape == (N, N, cell.n_gates)
    np.testing.assert_allclose((m.itemized_gate**2).sum(axis=2), m.itemized**2, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(m.contribution.sum(axis=0), m.step_gradient, rtol=1e-10, atol=1e-14)
    assert not np.triu(m.itemized, 1).any() and not np.triu(m.itemized_gate.sum(axis=2), 1).any()


# --- 5. the trainer, end to end -------------------------------------------------------------


@pytest.mark.parametrize("name", GATED)
def test_trainer_learns_a_repetitive_corpus(name):
    corpus = Corpus(name="abc", text="abc" * 200)
    trainer = Trainer(corpus, TrainConfig(cell=name, hidden_size=16, seq_length=10))
    G = make_cell(name).n_gates
    results = [trainer.step() for _ in range(50)]
    for r in results:
        gate = r.record.itemized_gate
        assert gate.shape == (10, 10, G)
        assert np.isfinite(gate).all() and np.isfinite(r.record.itemized).all()
        assert np.isfinite(r.record.truncation_error).all()
    assert results[0].checkpoint is not None and len(results[0].checkpoint.state) == trainer.cell.n_state
    assert len(results[0].sample.text) == 200
    losses = np.array([r.loss for r in results])
    assert losses[-5:].mean() < 0.5 * losses[:5].mean()
