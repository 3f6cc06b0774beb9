"""Itemized gradients of the vanilla cell, checked against independent computations."""

import numpy as np
import pytest

from rnnbow_desktop.core import itemized
from rnnbow_desktop.core.cells import RNNCell
from rnnbow_desktop.core.training import batch_gradients

H, V, N = 6, 5, 7


@pytest.fixture
def problem():
    """Random parameters large enough that gradients do not vanish within a few steps."""
    rng = np.random.default_rng(42)
    cell = RNNCell()
    params = {
        "weight_ih": rng.standard_normal((H, V)) * 0.7,
        "weight_hh": rng.standard_normal((H, H)) * 0.7,
        "bias_ih": rng.standard_normal(H) * 0.3,
        "bias_hh": rng.standard_normal(H) * 0.3,
        "decoder_weight": rng.standard_normal((V, H)) * 0.7,
        "decoder_bias": rng.standard_normal(V) * 0.3,
    }
    inputs = rng.integers(0, V, N)
    targets = rng.integers(0, V, N)
    h0 = (np.tanh(rng.standard_normal(H)),)
    return cell, params, inputs, targets, h0


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


def explicit_items(cell, params, inputs, targets, h0):
    """All G[t, j] as explicit H × H matrices, from the engine's per-source deltas."""
    result = batch_gradients(cell, params, inputs, targets, h0, itemize=True)
    fwd = result.fwd
    n = len(inputs)
    _, deltas = itemized.sweep(cell, params, fwd, _dh_local(params, fwd, targets), itemize=True)
    G = np.zeros((n, n, H, H))
    for t in range(n):
        for j in range(t + 1):
            G[t, j] = np.outer(deltas[j, t - j], fwd.hs[j])
    return result, G


def test_every_parameter_gradient_matches_finite_differences(problem):
    cell, params, inputs, targets, h0 = problem
    grads = batch_gradients(cell, params, inputs, targets, h0, itemize=True).grads
    eps = 1e-6
    for name, value in params.items():
        numeric = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            old = value[idx]
            value[idx] = old + eps
            plus = total_loss(cell, params, inputs, targets, h0)
            value[idx] = old - eps
            minus = total_loss(cell, params, inputs, targets, h0)
            value[idx] = old
            numeric[idx] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-5, atol=1e-8, err_msg=name)


def test_itemized_and_summed_passes_give_the_same_gradient(problem):
    cell, params, inputs, targets, h0 = problem
    a = batch_gradients(cell, params, inputs, targets, h0, itemize=True).grads
    b = batch_gradients(cell, params, inputs, targets, h0, itemize=False).grads
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-12, atol=1e-14)


def test_sum_of_itemized_matrices_is_the_plain_bptt_gradient(problem):
    cell, params, inputs, targets, h0 = problem
    _, G = explicit_items(cell, params, inputs, targets, h0)
    np.testing.assert_allclose(G.sum(axis=(0, 1)), plain_bptt(params, inputs, targets, h0), rtol=1e-10, atol=1e-13)


def test_one_item_is_the_gradient_through_one_copy_of_w_hh(problem):
    """G[t, j] = ∂L_t/∂(the copy of W_hh used at step j), by finite differences on that copy alone."""
    cell, params, inputs, targets, h0 = problem
    _, G = explicit_items(cell, params, inputs, targets, h0)
    W_ih, W_hh, W_d = params["weight_ih"], params["weight_hh"], params["decoder_weight"]
    b = params["bias_ih"] + params["bias_hh"]

    def loss_t(t, j, W_j):
        h = h0[0]
        for step in range(t + 1):
            W = W_j if step == j else W_hh
            h = np.tanh(W_ih[:, inputs[step]] + W @ h + b)
        z = W_d @ h + params["decoder_bias"]
        return -(z[targets[t]] - z.max() - np.log(np.exp(z - z.max()).sum()))

    eps = 1e-6
    for t, j in [(5, 5), (5, 2), (6, 0), (3, 1)]:
        numeric = np.zeros((H, H))
        for idx in np.ndindex(H, H):
            Wp, Wm = W_hh.copy(), W_hh.copy()
            Wp[idx] += eps
            Wm[idx] -= eps
            numeric[idx] = (loss_t(t, j, Wp) - loss_t(t, j, Wm)) / (2 * eps)
        np.testing.assert_allclose(G[t, j], numeric, rtol=1e-5, atol=1e-9, err_msg=f"G[{t}, {j}]")


def test_recorded_quantities_match_their_definitions(problem):
    cell, params, inputs, targets, h0 = problem
    result, G = explicit_items(cell, params, inputs, targets, h0)
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
    _, deltas = itemized.sweep(cell, params, r.fwd, _dh_local(params, r.fwd, targets), itemize=True)
    loose = itemized.measure(deltas, r.fwd.hs[:-1], 0.9)
    strict = itemized.measure(deltas, r.fwd.hs[:-1], 1e-9)
    assert loose.horizon <= strict.horizon
    assert strict.horizon == N or strict.truncation_error[strict.horizon - 1] <= 1e-9


def _dh_local(params, fwd, targets):
    W_d = params["decoder_weight"]
    logits = fwd.hs[1:] @ W_d.T + params["decoder_bias"]
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(len(targets)), targets] -= 1
    return p @ W_d


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
