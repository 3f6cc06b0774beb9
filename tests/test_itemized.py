"""Itemized gradients of the vanilla cell, checked against independent computations."""

import numpy as np
import pytest

from textbook import explicit_items, local_dh, numeric_gradient, random_model, step_losses
from rnnbow_desktop.core import itemized
from rnnbow_desktop.core.cells import RNNCell
from rnnbow_desktop.core.training import batch_gradients

H, V, N = 6, 5, 7


@pytest.fixture
def problem():
    """Random parameters large enough that gradients do not vanish within a few steps."""
    cell = RNNCell()
    return (cell, *random_model(cell, H, V, N, seed=42, weight_scale=0.7, bias_scale=0.3, state_scale=0.7))


def total_loss(cell, params, inputs, targets, h0):
    return batch_gradients(cell, params, inputs, targets, h0, itemize=False).loss.sum()


def plain_bptt(params, inputs, targets, h0):
    """Textbook per-step BPTT, written independently of the engine: returns ∂L/∂W_hh."""
    W_ih, W_hh, W_d = params["weight_ih"], params["weight_hh"], params["decoder_weight"]
    b = params["bias_ih"] + params["bias_hh"]
    hs = [h0[0]]
    ps = []
    for x in inputs:
        hs.append(np.tanh(W_ih[:, x] + W_hh @ hs[-1] + b))
        z = W_d @ hs[-1] + params["decoder_bias"]
        ps.append(np.exp(z - z.max()) / np.exp(z - z.max()).sum())
    dW_hh = np.zeros_like(W_hh)
    dh_next = np.zeros(H)
    for j in reversed(range(len(inputs))):
        dy = ps[j].copy()
        dy[targets[j]] -= 1
        dh = W_d.T @ dy + dh_next
        draw = (1 - hs[j + 1] ** 2) * dh
        dW_hh += np.outer(draw, hs[j])
        dh_next = W_hh.T @ draw
    return dW_hh


def engine_items(cell, params, inputs, targets, h0):
    """The engine's result, and all G[t, j] as explicit H × H matrices from its per-source deltas."""
    result = batch_gradients(cell, params, inputs, targets, h0, itemize=True)
    _, deltas = itemized.sweep(cell, params, result.fwd, local_dh(params, result.fwd, targets), itemize=True)
    return result, explicit_items(result.fwd, deltas)


def test_every_parameter_gradient_matches_finite_differences(problem):
    cell, params, inputs, targets, h0 = problem
    grads = batch_gradients(cell, params, inputs, targets, h0, itemize=True).grads
    for name, value in params.items():
        numeric = numeric_gradient(lambda: total_loss(cell, params, inputs, targets, h0), value)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-5, atol=1e-8, err_msg=name)


def test_itemized_and_summed_passes_give_the_same_gradient(problem):
    cell, params, inputs, targets, h0 = problem
    a = batch_gradients(cell, params, inputs, targets, h0, itemize=True).grads
    b = batch_gradients(cell, params, inputs, targets, h0, itemize=False).grads
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-12, atol=1e-14)


def test_sum_of_the_parts_is_the_plain_bptt_gradient(problem):
    cell, params, inputs, targets, h0 = problem
    _, G = engine_items(cell, params, inputs, targets, h0)
    np.testing.assert_allclose(G.sum(axis=(0, 1)), plain_bptt(params, inputs, targets, h0), rtol=1e-10, atol=1e-13)


def test_one_item_is_the_gradient_through_one_copy_of_w_hh(problem):
    """G[t, j] = ∂L_t/∂(the copy of W_hh used at step j), by finite differences on that copy alone."""
    cell, params, inputs, targets, h0 = problem
    _, G = engine_items(cell, params, inputs, targets, h0)
    for t, j in [(5, 5), (5, 2), (6, 0), (3, 1)]:
        W_steps = [params["weight_hh"].copy() for _ in range(N)]
        numeric = numeric_gradient(lambda: step_losses("rnn", params, W_steps, inputs, targets, h0)[t], W_steps[j])
        np.testing.assert_allclose(G[t, j], numeric, rtol=1e-5, atol=1e-9, err_msg=f"G[{t}, {j}]")


def test_recorded_quantities_match_their_definitions(problem):
    cell, params, inputs, targets, h0 = problem
    result, G = engine_items(cell, params, inputs, targets, h0)
    m = result.measured
    n = len(inputs)
    S = G.sum(axis=0)  # (n, H, H): the real update at each step j
    G_total = S.sum(axis=0)
    norms = np.sqrt((G**2).sum(axis=(2, 3)))
    np.testing.assert_allclose(m.itemized, norms, rtol=1e-10, atol=1e-14)
    assert np.all(np.triu(m.itemized, 1) == 0)
    S_norm = np.sqrt((S**2).sum(axis=(1, 2)))
    np.testing.assert_allclose(m.step_gradient, S_norm, rtol=1e-10)
    assert m.max_gradient == pytest.approx(S_norm.max())
    expected = np.einsum("tjab,jab->tj", G, S) / S_norm[None, :]
    np.testing.assert_allclose(m.contribution, expected, rtol=1e-9, atol=1e-13)
    # The exact additive split: contributions of every step sum to its real update.
    np.testing.assert_allclose(m.contribution.sum(axis=0), m.step_gradient, rtol=1e-10)
    assert (m.contribution < 0).any(), "this random problem has losses pulling against the update"
    # Truncation error, from explicit matrices.
    t_idx, j_idx = np.indices((n, n))
    for k in range(1, n + 1):
        kept = ((t_idx - j_idx < k) & (t_idx >= j_idx))[:, :, None, None]
        residual = G_total - (G * kept).sum(axis=(0, 1))
        assert m.truncation_error[k - 1] == pytest.approx(np.linalg.norm(residual) / np.linalg.norm(G_total), abs=1e-12)
    assert m.truncation_error[-1] == 0.0
    eps_ = 0.05
    first = next(k for k in range(1, n + 1) if m.truncation_error[k - 1] <= eps_)
    assert m.horizon == first


def test_horizon_follows_epsilon(problem):
    cell, params, inputs, targets, h0 = problem
    r = batch_gradients(cell, params, inputs, targets, h0, itemize=True)
    _, deltas = itemized.sweep(cell, params, r.fwd, local_dh(params, r.fwd, targets), itemize=True)
    loose = itemized.measure(deltas, r.fwd.hs[:-1], 0.9)
    strict = itemized.measure(deltas, r.fwd.hs[:-1], 1e-9)
    assert loose.horizon <= strict.horizon
    assert strict.horizon == N or strict.truncation_error[strict.horizon - 1] <= 1e-9


def test_workspace_reuse_does_not_leak_between_batches(problem):
    """A reused workspace must give the same results as a fresh one, also across sequence lengths."""
    cell, params, inputs, targets, h0 = problem
    work = itemized.Workspace()
    fresh = batch_gradients(cell, params, inputs, targets, h0, itemize=True).measured
    batch_gradients(cell, params, inputs[::-1].copy(), targets, h0, itemize=True, work=work)
    batch_gradients(cell, params, inputs[:4], targets[:4], h0, itemize=True, work=work)
    again = batch_gradients(cell, params, inputs, targets, h0, itemize=True, work=work).measured
    np.testing.assert_array_equal(fresh.itemized, again.itemized)
    np.testing.assert_array_equal(fresh.truncation_error, again.truncation_error)


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_long_sequence_layout_gives_the_same_measures(name):
    """Deltas handed over a few steps at a time, suffix sums kept in float32 (what n = 512 uses), against
    the whole sweep at once in float64 — also across batches and lengths sharing one workspace."""
    from rnnbow_desktop.core.cells import make_cell

    cell, rng, n, h = make_cell(name), np.random.default_rng(3), 23, 6
    GH = cell.n_gates * h
    params = {k: v + rng.standard_normal(v.shape) * 0.5 for k, v in cell.init_params(rng, h, V).items()}
    state0 = tuple(np.tanh(rng.standard_normal(h)) for _ in range(cell.n_state))
    # Blocks of 3 steps (23 is not a multiple of 3), float32 suffix sums.
    small = itemized.Workspace(block_bytes=3 * n * GH * 8, max_float64_bytes=0)
    assert small.block_steps(n, GH) == 3 and small.suffix_dtype(n, GH) == np.float32
    for length in (n, n, 11, n):  # earlier batches, also of other lengths, must leave nothing behind
        inputs, targets = rng.integers(0, V, length), rng.integers(0, V, length)
        whole = batch_gradients(cell, params, inputs, targets, state0, itemize=True).measured
        blocked = batch_gradients(cell, params, inputs, targets, state0, itemize=True, work=small).measured
        for field in ("itemized", "contribution", "step_gradient"):
            np.testing.assert_allclose(getattr(blocked, field), getattr(whole, field), rtol=1e-12, atol=1e-15, err_msg=field)
        if cell.n_gates > 1:
            np.testing.assert_allclose(blocked.itemized_gate, whole.itemized_gate, rtol=1e-12, atol=1e-15)
        assert whole.truncation_error[: length // 2].max() > 1e-3, "the far losses matter in this problem"
        np.testing.assert_allclose(blocked.truncation_error, whole.truncation_error, rtol=0, atol=1e-6)
        assert blocked.truncation_error[-1] == 0.0


def test_truncation_error_survives_tiny_gradients(problem):
    """e(k) is a ratio: deltas scaled by 1e-30 (far offsets of a long sequence get that small) give the same
    e(k), also when kept in float32, where their squares would underflow without rescaling."""
    cell, params, inputs, targets, h0 = problem
    r = batch_gradients(cell, params, inputs, targets, h0, itemize=True)
    _, deltas = itemized.sweep(cell, params, r.fwd, local_dh(params, r.fwd, targets), itemize=True)
    h_prev = r.fwd.hs[:-1]
    expected = itemized.truncation_error(deltas.copy(), h_prev)
    for work in (itemized.Workspace(), itemized.Workspace(max_float64_bytes=0)):
        tiny = itemized.truncation_error(deltas * 1e-30, h_prev, work)
        np.testing.assert_allclose(tiny, expected, rtol=0, atol=1e-6)
    # Gradients that vanish into subnormal numbers (an untrained network, far offsets of n = 512): e(k)
    # stays finite, and the offsets beyond carry nothing.
    vanishing = deltas * np.where(np.arange(N) < 3, 1.0, 1e-318)[None, :, None]  # [j, d]: offsets d ≥ 3 subnormal
    for work in (itemized.Workspace(), itemized.Workspace(max_float64_bytes=0)):
        error = itemized.truncation_error(vanishing, h_prev, work)
        assert np.isfinite(error).all() and np.all(error[3:] < 1e-6)
