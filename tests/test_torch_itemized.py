"""rnnbow_desktop.torch.itemize_module against an independent autograd computation with per-step weight copies.

The reference unrolls the module with PyTorch's own cells (nn.RNNCell / nn.LSTMCell / nn.GRUCell through
torch.func.functional_call), giving every layer a separate copy of weight_hh at every step; autograd's
gradient of L_t with respect to layer k's copy j is G[t, j] of that layer, built here as a full matrix.
"""

from __future__ import annotations


import numpy as np
import pytest

from processes import python

torch = pytest.importorskip("torch")

import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from rnnbow_desktop.core.errors import ConfigError
from rnnbow_desktop.torch import check_module, itemize_module

V = 5  # classes of the per-step head
KINDS = ("rnn_tanh", "rnn_relu", "lstm", "gru")
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA here")


def make_module(kind: str, I: int, H: int, layers: int, batch_first: bool, dtype, bias: bool = True):
    if kind.startswith("rnn"):
        return nn.RNN(I, H, layers, nonlinearity=kind[4:], bias=bias, batch_first=batch_first).to(dtype)
    cls = nn.LSTM if kind == "lstm" else nn.GRU
    return cls(I, H, layers, bias=bias, batch_first=batch_first).to(dtype)


def make_cell(module, k: int):
    I = module.input_size if k == 0 else module.hidden_size
    H, bias = module.hidden_size, module.bias
    if isinstance(module, nn.LSTM):
        return nn.LSTMCell(I, H, bias)
    if isinstance(module, nn.GRU):
        return nn.GRUCell(I, H, bias)
    return nn.RNNCell(I, H, bias, nonlinearity=module.nonlinearity)


def step_losses_of(head, out, targets, batch_first: bool):
    """(B, n) cross-entropy of the per-step head, whatever the module's layout."""
    logits = head(out)  # (B, n, V) or (n, B, V)
    if not batch_first:
        logits = logits.transpose(0, 1)
    return F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")


def reference(module, head, x, targets, state0, reduction: str):
    """G[k][t, j] as a (L, n, n, G*H, H) float64 tensor, by per-step copies of weight_hh and n backward passes."""
    batch_first = module.batch_first
    xs = x.transpose(0, 1) if batch_first else x  # (n, B, I)
    n = xs.shape[0]
    L = module.num_layers
    copies = [[getattr(module, f"weight_hh_l{k}").detach().clone().requires_grad_() for _ in range(n)]
              for k in range(L)]
    layer_in = xs
    for k in range(L):
        cell = make_cell(module, k).to(x.dtype)
        params = {"weight_ih": getattr(module, f"weight_ih_l{k}").detach()}
        if module.bias:
            params["bias_ih"] = getattr(module, f"bias_ih_l{k}").detach()
            params["bias_hh"] = getattr(module, f"bias_hh_l{k}").detach()
        state = tuple(s[k] for s in state0)
        outs = []
        for j in range(n):
            hx = state if len(state) == 2 else state[0]
            result = functional_call(cell, {**params, "weight_hh": copies[k][j]}, (layer_in[j], hx))
            state = result if isinstance(result, tuple) else (result,)
            outs.append(state[0])
        layer_in = torch.stack(outs)
    out = layer_in.transpose(0, 1) if batch_first else layer_in
    losses = step_losses_of(head, out, targets, batch_first)  # (B, n)
    per_step = losses.mean(0) if reduction == "mean" else losses.sum(0)  # (n,)
    GH, H = copies[0][0].shape
    G = torch.zeros((L, n, n, GH, H), dtype=torch.float64)
    for t in range(n):
        wanted = [copies[k][j] for k in range(L) for j in range(t + 1)]
        grads = torch.autograd.grad(per_step[t], wanted, retain_graph=True)
        for k in range(L):
            G[k, t, : t + 1] = torch.stack(grads[k * (t + 1) : (k + 1) * (t + 1)]).double()
    return G, out.detach()


def expected_quantities(G: torch.Tensor, n_gates: int):
    """What a record holds, computed from the full matrices G (n, n, GH, H) of one layer."""
    n, _, GH, H = G.shape
    itemized = torch.linalg.matrix_norm(G)  # (n, n)
    gates = G.reshape(n, n, n_gates, GH // n_gates, H).pow(2).sum(dim=(3, 4)).sqrt()
    S = G.sum(0)  # (n, GH, H)  the real update at each step
    step = torch.linalg.matrix_norm(S)
    along = (G * S).sum(dim=(2, 3))
    contribution = torch.where(step > 0, along / torch.where(step > 0, step, 1), 0.0)
    total = G.sum(dim=(0, 1))
    t, j = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    error = torch.zeros(n, dtype=torch.float64)
    for k in range(1, n):
        residual = (G * ((t - j) >= k)[..., None, None]).sum(dim=(0, 1))
        error[k - 1] = torch.linalg.matrix_norm(residual) / torch.linalg.matrix_norm(total)
    return {
        "itemized": itemized, "itemized_gate": gates, "step_gradient": step, "contribution": contribution,
        "truncation_error": error, "weight_hh_grad": total,
    }


def initial_state(kind: str, L: int, B: int, H: int, dtype, device="cpu", zero=False):
    make = torch.zeros if zero else torch.randn
    parts = 2 if kind == "lstm" else 1
    return tuple(0.5 * make(L, B, H, dtype=dtype, device=device) for _ in range(parts))


def run_case(kind, layers, batch_first, B, dtype, device="cpu", reduction="mean", n=6, I=3, H=4, bias=True,
             seed=0):
    """itemize_module on the user's path, the module's real grads, and the float64 reference."""
    torch.manual_seed(seed)
    module = make_module(kind, I, H, layers, batch_first, torch.float64, bias)
    head = nn.Linear(H, V).double()
    x = torch.randn((B, n, I) if batch_first else (n, B, I), dtype=torch.float64)
    targets = torch.randint(0, V, (B, n))
    state0 = initial_state(kind, layers, B, H, torch.float64)
    G, ref_out = reference(module, head, x, targets, state0, reduction)

    module, head, x = module.to(device, dtype), head.to(device, dtype), x.to(device, dtype)
    state = tuple(s.to(device, dtype) for s in state0)
    h0 = state if kind == "lstm" else state[0]
    out, _ = module(x, h0)
    np.testing.assert_allclose(out.detach().cpu().double().numpy(), ref_out.numpy(), rtol=0, atol=1e-5)
    losses = step_losses_of(head, out, targets.to(device), batch_first)
    records = itemize_module(module, x, losses, out, reduction=reduction, h0=h0)
    (losses.sum(1).mean() if reduction == "mean" else losses.sum()).backward()
    real = [getattr(module, f"weight_hh_l{k}").grad.detach().cpu().double().numpy() for k in range(layers)]
    return records, G, real


def check_against_reference(records, G, real, n_gates, tolerance):
    assert len(records) == len(G)
    for k, (record, G_k) in enumerate(zip(records, G)):
        want = expected_quantities(G_k, n_gates)
        assert record.layer == k
        for name, expected in want.items():
            got = getattr(record, name) if n_gates > 1 or name != "itemized_gate" else None
            if got is None:
                assert record.itemized_gate is None
                continue
            expected = expected.numpy()
            atol = tolerance * max(float(np.abs(expected).max()), 1e-300)
            if name == "truncation_error":
                atol = tolerance * 10
            np.testing.assert_allclose(got, expected, rtol=0, atol=atol, err_msg=f"layer {k} {name}")
        # Completeness: Σ_{t,j} G[t, j] is the gradient the user's backward produced.
        np.testing.assert_allclose(want["weight_hh_grad"].numpy(), real[k], rtol=0,
                                   atol=tolerance * np.abs(real[k]).max())
        np.testing.assert_allclose(record.contribution.sum(axis=0), record.step_gradient, rtol=0,
                                   atol=tolerance * record.step_gradient.max())
        assert np.all(np.triu(record.itemized, 1) == 0)


N_GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


@pytest.mark.parametrize("B", [1, 3, 6])  # 6 > H: the path through h_{j-1}ᵀ δ instead of the Gram
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("kind", KINDS)
def test_float64_matches_per_step_weight_copies(kind, layers, batch_first, B):
    records, G, real = run_case(kind, layers, batch_first, B, torch.float64)
    check_against_reference(records, G, real, N_GATES[kind], 1e-9)
    for record in records:
        error = record.truncation_error
        assert record.horizon == int(np.argmax(error <= 0.05)) + 1


@pytest.mark.parametrize("kind", KINDS)
def test_float32_matches_to_float32_rounding(kind):
    records, G, real = run_case(kind, 2, True, 3, torch.float32)
    check_against_reference(records, G, real, N_GATES[kind], 2e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_sum_reduction_without_biases(kind):
    records, G, real = run_case(kind, 2, False, 3, torch.float64, reduction="sum", bias=False)
    check_against_reference(records, G, real, N_GATES[kind], 1e-9)


def test_mean_is_sum_over_batch_size():
    mean, _, _ = run_case("lstm", 2, True, 3, torch.float64, reduction="mean")
    summed, _, _ = run_case("lstm", 2, True, 3, torch.float64, reduction="sum")
    for a, b in zip(mean, summed):
        np.testing.assert_allclose(a.itemized * 3, b.itemized, rtol=1e-12, atol=0)
        np.testing.assert_allclose(a.truncation_error, b.truncation_error, rtol=1e-9, atol=1e-15)


def test_hand_worked_single_step():
    """n = 1, one unit, tanh: G[0, 0] = (1 − h²) · dL/dh · h0, nothing else."""
    module = nn.RNN(1, 1, bias=False).double()
    with torch.no_grad():
        module.weight_ih_l0.fill_(0.5)
        module.weight_hh_l0.fill_(2.0)
    x = torch.tensor([[[1.0]]], dtype=torch.float64)
    h0 = torch.tensor([[[0.25]]], dtype=torch.float64)
    out, _ = module(x, h0)
    losses = (3.0 * out[..., 0]).T  # (B, n) = (1, 1); dL/dh = 3
    (record,) = itemize_module(module, x, losses, out, h0=h0)
    h = np.tanh(0.5 + 2.0 * 0.25)
    expected = (1 - h * h) * 3.0 * 0.25
    assert record.itemized[0, 0] == pytest.approx(abs(expected), rel=1e-14)
    assert record.contribution[0, 0] == pytest.approx(abs(expected), rel=1e-14)
    assert record.weight_hh_grad[0, 0] == pytest.approx(expected, rel=1e-14)
    assert record.horizon == 1 and record.truncation_error.tolist() == [0.0]


def test_unbatched_input():
    torch.manual_seed(3)
    module = nn.GRU(3, 4, 2).double()
    x = torch.randn(5, 3, dtype=torch.float64)
    out, _ = module(x)
    losses = out.pow(2).sum(-1)  # (n,)
    records = itemize_module(module, x, losses, out)
    out_b, _ = module(x[:, None])  # (n, 1, H)
    batched = itemize_module(module, x[:, None], out_b.pow(2).sum(-1).T, out_b)
    for a, b in zip(records, batched):
        np.testing.assert_allclose(a.itemized, b.itemized, rtol=1e-12, atol=0)


def user_step(itemize: bool, device="cpu"):
    """One training step of a small model with dropout in its head; returns grads and the RNG state after."""
    torch.manual_seed(7)
    module = nn.LSTM(3, 5, 2, batch_first=True).to(device)
    head = nn.Sequential(nn.Dropout(0.3), nn.Linear(5, V)).to(device)
    x = torch.randn(4, 7, 3, device=device)
    targets = torch.randint(0, V, (4, 7), device=device)
    out, _ = module(x)
    losses = F.cross_entropy(head(out).transpose(1, 2), targets, reduction="none")
    rng_before = torch.get_rng_state(), (torch.cuda.get_rng_state() if device == "cuda" else None)
    if itemize:
        itemize_module(module, x, losses, out)
        assert all(p.grad is None for p in [*module.parameters(), *head.parameters()])
    rng_after = torch.get_rng_state(), (torch.cuda.get_rng_state() if device == "cuda" else None)
    losses.sum(1).mean().backward()
    grads = [p.grad.clone() for p in [*module.parameters(), *head.parameters()]]
    return grads, rng_before, rng_after


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=CUDA)])
def test_user_gradients_and_random_state_unchanged(device):
    # Deterministic cuDNN kernels, so that two identical steps give identical bits without the recorder too.
    with torch.backends.cudnn.flags(enabled=True, deterministic=True):
        plain, _, _ = user_step(False, device)
        recorded, rng_before, rng_after = user_step(True, device)
    assert all(torch.equal(a, b) for a, b in zip(plain, recorded))
    assert torch.equal(rng_before[0], rng_after[0])
    if device == "cuda":
        assert torch.equal(rng_before[1], rng_after[1])


@CUDA
@pytest.mark.parametrize("kind", KINDS)
def test_cuda_matches_per_step_weight_copies(kind):
    records, G, real = run_case(kind, 2, True, 3, torch.float64, device="cuda")
    check_against_reference(records, G, real, N_GATES[kind], 1e-9)
    # cuDNN may run float32 recurrences in TF32 (10-bit mantissa) by default; the comparison is with float32.
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        records, G, real = run_case(kind, 2, False, 3, torch.float32, device="cuda")
    check_against_reference(records, G, real, N_GATES[kind], 2e-5)


@pytest.mark.parametrize(
    "module, message",
    [
        (nn.LSTM(3, 4, bidirectional=True), "bidirectional"),
        (nn.LSTM(3, 4, proj_size=2), "proj_size"),
        (nn.Linear(3, 4), "not Linear"),
        (nn.GRU(3, 4, 2, dropout=0.2), "dropout=0.2 between the layers"),
        (nn.RNN(3, 4).half(), "float32 or float64"),
    ],
)
def test_unsupported_modules_are_clear_errors(module, message):
    with pytest.raises(ConfigError, match=message):
        check_module(module)


def test_dropout_is_fine_in_eval_mode_or_with_one_layer():
    check_module(nn.GRU(3, 4, 2, dropout=0.2).eval())
    with pytest.warns(UserWarning, match="dropout"):  # PyTorch's own warning for one layer
        one_layer = nn.GRU(3, 4, 1, dropout=0.2)
    check_module(one_layer)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"h0": None}, "differ from a recomputation"),
        ({"step_losses": "transposed"}, r"shape \(B, n\) = \(2, 5\)"),
        ({"step_losses": "detached"}, "autograd graph"),
        ({"step_losses": "unrelated"}, "do not depend"),
        ({"reduction": "max"}, "reduction"),
        ({"inputs": "packed"}, "packed sequences"),
        ({"h0": "single"}, r"\(h0, c0\) pair"),
    ],
)
def test_bad_calls_are_clear_errors(changes, message):
    torch.manual_seed(1)
    module = nn.LSTM(3, 4, batch_first=True)
    x = torch.randn(2, 5, 3)
    h0 = (torch.randn(1, 2, 4), torch.randn(1, 2, 4))
    out, _ = module(x, h0)
    losses = out.sum(-1)
    special = {
        "transposed": losses.T,
        "detached": losses.detach(),
        "unrelated": torch.randn(2, 5, requires_grad=True) * 2,
        "packed": nn.utils.rnn.pack_padded_sequence(x, [5, 4], batch_first=True),
        "single": h0[0],
    }
    kwargs = {"inputs": x, "step_losses": losses, "outputs": out, "h0": h0}
    kwargs.update({k: special.get(v, v) if isinstance(v, str) else v for k, v in changes.items()})
    with pytest.raises(ConfigError, match=message):
        itemize_module(module, **kwargs)


def test_import_without_torch_says_how_to_install():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import rnnbow_desktop.torch as rt\n"
        "try:\n    rt.itemize_module\nexcept ImportError as e:\n    print(type(e).__name__, e)\n"
    )
    done = python(code)
    assert "TorchNotInstalled" in done.stdout and "pip install rnnbow-desktop[torch]" in done.stdout, done.stderr
