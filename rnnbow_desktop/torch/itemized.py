"""Itemized gradients of every layer of a PyTorch nn.RNN / nn.LSTM / nn.GRU, from inside a user's training loop.

`itemize_module` is called after the user's forward pass and before their backward pass. It takes
∂L_t/∂(top-layer output at t) for every t from ONE `torch.autograd.grad` call on the per-step losses
(the head is per-step, so the gradient of Σ L at output step t is that of L_t alone), recomputes every
layer's states and gate activations with the module's own weights, and carries the deltas of all sources
t ≥ j backward together, through time and down the layers, as `core.itemized.sweep` does for one
sequence: a loss at t reaches layer k at step j through h^k_{j+1} and through layer k+1's input at j.

With a batch, G[t, j] = Σ_b δ_{b,t}^(j) h_{b,j-1}ᵀ is no longer rank one, but
‖G[t, j]‖_F² = Σ_{b,b'} (δ_b·δ_b')(h_b·h_b') needs only the B × B Gram matrix of the h_{b,j-1}
(or, when B > H, the H × G·H product h_{j-1}ᵀ δ, which is cheaper then). The recorded quantities are
those of `core.itemized.Measures`, defined identically; "mean" reduction divides every G[t, j] by B, as
the user's `step_losses.sum(1).mean()` does.

Peak memory of one call, in floats of the module's dtype (n steps, B batch, H hidden, G gates, L layers):
  forward caches            L · (G + 3) · n · B · H   (one layer's forward briefly needs (G + 4) · n · B · H more)
  carried state deltas      L · n · B · H             (twice for LSTM: h and c), plus n · B · H for ∂L_t/∂h_t
  work buffers              2 · n · B · G·H, shared by the layers
  Gram matrices, results    L · n · (B² + n · (G + 2))
  truncation-error sums     L · n · G·H · H           <- the largest term at usual sizes
For a 2-layer LSTM with H = 256, n = 64, B = 32 in float32 that is 134 MB for the sums and about 75 MB for the
rest; the process's resident size grew by 265 MB on a first call (allocator slack and short-lived temporaries).
The last is P_d = Σ_j G[j + d, j] for every offset d: e(k) = ‖Σ_{d≥k} P_d‖ / ‖Σ_d P_d‖ for every k
needs them. Without a batch the numpy core gets e(k) from the n × n Gram of the h_{j-1}; with a batch
that Gram is nB × nB and needs every delta of every step at once (n² · B · G·H floats), so the per-offset
sums, n · G·H · H, are the smaller exact choice. Nothing is ever O(n² · H²).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..core.errors import ConfigError
from ..core.itemized import Measures
from ..core.records import frozen_array

REDUCTIONS = ("mean", "sum")


@dataclass(frozen=True)
class LayerItemized(Measures):
    """One layer's measures for `weight_hh_l{layer}`, as numpy float64 arrays indexed [t, j]."""

    layer: int
    weight_hh_grad: np.ndarray  # (G*H, H)  Σ_{t,j} G[t, j]: the module's weight_hh_l{layer} gradient


def check_module(module: nn.Module) -> None:
    """Raise ConfigError unless `module` is an nn.RNN / nn.LSTM / nn.GRU whose itemized gradients are defined."""
    if not isinstance(module, (nn.RNN, nn.LSTM, nn.GRU)):
        raise ConfigError(
            f"itemized gradients need a torch.nn.RNN, nn.LSTM or nn.GRU, not {type(module).__name__}"
        )
    kind = type(module).__name__
    if module.bidirectional:
        raise ConfigError(f"a bidirectional {kind} is not supported (only forward-in-time recurrences are)")
    if getattr(module, "proj_size", 0):
        raise ConfigError(f"an {kind} with proj_size={module.proj_size} is not supported (use proj_size=0)")
    if module.training and module.num_layers > 1 and module.dropout > 0:
        # The masks are drawn inside the fused kernel and never exposed, so the layers' inputs cannot be
        # recomputed; drawing them again would change the user's random state.
        raise ConfigError(
            f"dropout={module.dropout} between the layers of a {kind} in training mode cannot be itemized "
            "(its masks are not recoverable); use dropout=0 and apply dropout to the module's input or output"
        )
    params = list(module.parameters())
    dtypes = {p.dtype for p in params}
    if not dtypes <= {torch.float32, torch.float64} or len(dtypes) != 1:
        names = ", ".join(sorted(str(d).removeprefix("torch.") for d in dtypes))
        raise ConfigError(f"itemized gradients need float32 or float64 weights, not {names}")
    if len({p.device for p in params}) != 1:
        raise ConfigError(f"the {kind}'s parameters are on more than one device")


def itemize_module(
    module: nn.Module,
    inputs: torch.Tensor,
    step_losses: torch.Tensor,
    outputs: torch.Tensor | tuple,
    *,
    reduction: str = "mean",
    epsilon: float = 0.05,
    h0: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None = None,
) -> list[LayerItemized]:
    """The measures of every layer's `weight_hh`, from the user's forward pass; one per layer.

    `inputs`: what was passed to the module, (B, n, I) with batch_first else (n, B, I), or (n, I) unbatched.
    `outputs`: the module's output tensor (its first return value; the tuple itself is accepted too).
    `step_losses` (B, n), or (n,) unbatched: the per-step losses, one per sequence and step whatever the
    module's batch_first, each depending on the output at its own step only. `h0`: the initial state
    passed to the module (an (h0, c0) pair for an LSTM), or None for zeros. `reduction`: how the user's
    loss reduces the batch: "mean" (step_losses.sum(1).mean()) or "sum".
    Leaves every .grad, the user's graph and every random state unchanged.
    """
    check_module(module)
    if reduction not in REDUCTIONS:
        raise ConfigError(f"reduction must be one of {', '.join(REDUCTIONS)}, not {reduction!r}")
    if isinstance(outputs, tuple):
        outputs = outputs[0]
    x, out, unbatched = _time_major(module, inputs, outputs)
    n, B, _ = x.shape
    if not isinstance(step_losses, torch.Tensor) or tuple(step_losses.shape) != ((n,) if unbatched else (B, n)):
        got = tuple(step_losses.shape) if isinstance(step_losses, torch.Tensor) else type(step_losses).__name__
        want = f"({n},)" if unbatched else f"(B, n) = ({B}, {n})"
        raise ConfigError(f"step_losses must have shape {want}: one loss per sequence and step; got {got}")
    if not (step_losses.requires_grad and outputs.requires_grad):
        raise ConfigError("step_losses and outputs must be part of an autograd graph (call itemize before backward)")

    # One reverse pass through the head only: the module's output is the sole input asked for, so no
    # parameter's AccumulateGrad runs, and retain_graph keeps the graph for the user's own backward.
    (dh_local,) = torch.autograd.grad(
        step_losses, outputs, grad_outputs=torch.ones_like(step_losses), retain_graph=True, allow_unused=True
    )
    if dh_local is None:
        raise ConfigError("step_losses do not depend on the given outputs of the module")
    with torch.no_grad():
        dh_local = dh_local.unsqueeze(1) if unbatched else dh_local
        dh_local = dh_local.transpose(0, 1) if module.batch_first and not unbatched else dh_local
        if reduction == "mean":
            dh_local = dh_local / B
        layers = _forward_layers(module, x, h0, unbatched)
        _check_outputs(layers[-1].hs[1:], out)
        _sweep(layers, dh_local)
        return [layer.meter.result(k, epsilon) for k, layer in enumerate(layers)]


def _time_major(module, inputs, outputs):
    """(x (n, B, I), out (n, B, H), unbatched) as detached views, after checking shapes."""
    if not isinstance(inputs, torch.Tensor) or not isinstance(outputs, torch.Tensor):
        raise ConfigError("inputs and outputs must be tensors (packed sequences are not supported)")
    weight = module.weight_hh_l0
    if outputs.dtype != weight.dtype or inputs.dtype != weight.dtype:
        raise ConfigError(
            f"the module's inputs and outputs must have its weights' dtype {weight.dtype} "
            f"(got {inputs.dtype} and {outputs.dtype}; autocast is not supported)"
        )
    if inputs.device != weight.device or outputs.device != weight.device:
        raise ConfigError("inputs and outputs must be on the module's device")
    unbatched = inputs.dim() == 2
    if inputs.dim() not in (2, 3):
        raise ConfigError(f"inputs must be 2- or 3-dimensional, not {inputs.dim()}-dimensional")
    x, out = inputs.detach(), outputs.detach()
    if unbatched:
        x, out = x.unsqueeze(1), out.unsqueeze(1)
    elif module.batch_first:
        x, out = x.transpose(0, 1), out.transpose(0, 1)
    n, B, I = x.shape
    if I != module.input_size or tuple(out.shape) != (n, B, module.hidden_size):
        raise ConfigError(
            f"inputs {tuple(inputs.shape)} and outputs {tuple(outputs.shape)} do not fit the module "
            f"(input_size={module.input_size}, hidden_size={module.hidden_size}, batch_first={module.batch_first})"
        )
    return x, out, unbatched


def _check_outputs(recomputed: torch.Tensor, out: torch.Tensor) -> None:
    """The recomputed top layer must reproduce the module's output, or every itemized number would be wrong."""
    scale = 1.0 + float(out.abs().max()) if out.numel() else 1.0
    # float32 leaves room for cuDNN's TF32 and other kernels' summation orders over n steps.
    tolerance = 1e-2 if out.dtype == torch.float32 else 1e-6
    if out.numel() and float((recomputed - out).abs().max()) > tolerance * scale:
        raise ConfigError(
            "the module's outputs differ from a recomputation with its weights: pass the same inputs and h0 "
            "it was called with, and itemize before the weights change"
        )


@dataclass
class _Weights:
    ih: torch.Tensor  # (G*H, I)
    hh: torch.Tensor  # (G*H, H)
    b_ih: torch.Tensor | None  # (G*H,)
    b_hh: torch.Tensor | None


class _Layer:
    """One layer's working data for one call: weights, forward cache, carried deltas and its meter."""

    def __init__(self, cell, weights: _Weights, x: torch.Tensor, state0: tuple, work: dict):
        self.cell, self.w = cell, weights
        self.cache = cell.forward(weights, x, state0)
        self.hs = self.cache["hs"]  # (n+1, B, H)
        n, B, H = x.shape[0], x.shape[1], weights.hh.shape[1]
        # Row t holds ∂L_t/∂(state at the current step); rows t < j are never touched at step j.
        self.dh = x.new_zeros((n, B, H))
        self.dc = x.new_zeros((n, B, H)) if cell.n_state == 2 else None
        self.meter = _Meter(self.hs[:-1], cell.n_gates, work)


def _forward_layers(module, x, h0, unbatched: bool) -> list[_Layer]:
    """Every layer's states and gate activations, recomputed from the module's weights (no autograd)."""
    L, H = module.num_layers, module.hidden_size
    n, B, _ = x.shape
    cell = _make_cell(module)
    states = _initial_states(module, h0, B, unbatched, x)
    GH = cell.n_gates * H
    work = {name: x.new_empty((n, B, GH)) for name in ("delta", "gram_delta")}
    layers = []
    below = x
    for k in range(L):
        weights = _Weights(
            ih=getattr(module, f"weight_ih_l{k}").detach(),
            hh=getattr(module, f"weight_hh_l{k}").detach(),
            b_ih=_bias(module, f"bias_ih_l{k}"),
            b_hh=_bias(module, f"bias_hh_l{k}"),
        )
        layer = _Layer(cell, weights, below, tuple(s[k] for s in states), work)
        layers.append(layer)
        below = layer.hs[1:]
    return layers


def _bias(module, name: str):
    return getattr(module, name).detach() if module.bias else None


def _initial_states(module, h0, B: int, unbatched: bool, x) -> tuple:
    """(h0,) or (h0, c0), each (L, B, H), from what the user passed to the module (None: zeros)."""
    n_state = 2 if isinstance(module, nn.LSTM) else 1
    shape = (module.num_layers, B, module.hidden_size)
    if h0 is None:
        return tuple(x.new_zeros(shape) for _ in range(n_state))
    parts = tuple(h0) if isinstance(h0, (tuple, list)) else (h0,)
    if len(parts) != n_state or not all(isinstance(p, torch.Tensor) for p in parts):
        raise ConfigError(
            "h0 must be an (h0, c0) pair of tensors for an LSTM" if n_state == 2 else "h0 must be one tensor"
        )
    parts = tuple(p.detach().unsqueeze(1) if unbatched else p.detach() for p in parts)
    if any(tuple(p.shape) != shape for p in parts):
        raise ConfigError(f"h0 has shape {tuple(parts[0].shape)}; the module needs (num_layers, B, H) = {shape}")
    return tuple(p.to(x.dtype) for p in parts)


def _make_cell(module):
    mode = module.mode
    if mode == "LSTM":
        return LSTMSteps()
    if mode == "GRU":
        return GRUSteps()
    return RNNSteps(relu=mode == "RNN_RELU")


def _input_part(x: torch.Tensor, w_ih: torch.Tensor, bias) -> torch.Tensor:
    """x W_ihᵀ + bias for all n steps at once: (n, B, G*H)."""
    n, B, I = x.shape
    flat = x.reshape(n * B, I)
    part = flat @ w_ih.T if bias is None else torch.addmm(bias, flat, w_ih.T)
    return part.view(n, B, -1)


def _sum_bias(a, b):
    if a is None:
        return b
    return a if b is None else a + b


# The cells: PyTorch's equations (and gate order) forward, and one backward step for a block of sources.
# backward_step fills `delta` (S, B, G*H) with ∂L_t/∂(W_hh h_{j-1} + b_hh) for the S sources t ≥ j from
# the carried dh (and dc) rows; input_grad adds ∂L_t/∂x_j (the layer below's output) into `below`;
# carry replaces dh (and dc) by the gradients with respect to the state at j-1.


class RNNSteps:
    """h_j = act(W_ih x_j + b_ih + W_hh h_{j-1} + b_hh), act = tanh or relu."""

    n_state = 1
    n_gates = 1

    def __init__(self, relu: bool):
        self.relu = relu

    def forward(self, w: _Weights, x: torch.Tensor, state0: tuple) -> dict:
        n, B = x.shape[:2]
        pre_in = _input_part(x, w.ih, _sum_bias(w.b_ih, w.b_hh))  # (n, B, H)
        hs = x.new_empty((n + 1, B, w.hh.shape[1]))
        hs[0] = state0[0]
        for j in range(n):
            torch.addmm(pre_in[j], hs[j], w.hh.T, out=hs[j + 1])
            hs[j + 1].relu_() if self.relu else hs[j + 1].tanh_()
        h = hs[1:]
        # relu'(a) is 1 where a > 0, which is where h > 0; autograd takes 0 at a = 0 as well.
        dact = (h > 0).to(h.dtype) if self.relu else 1.0 - h * h  # (n, B, H)
        return {"hs": hs, "dact": dact}

    def backward_step(self, cache, j, dh, dc, delta):
        torch.mul(dh, cache["dact"][j], out=delta)

    def input_grad(self, cache, w, j, dh, delta, below):
        below.view(-1, below.shape[-1]).addmm_(delta.view(-1, delta.shape[-1]), w.ih)

    def carry(self, cache, w, j, dh, dc, delta):
        torch.matmul(delta.view(-1, delta.shape[-1]), w.hh, out=dh.view(-1, dh.shape[-1]))


class LSTMSteps:
    """PyTorch's LSTM: gates i, f, g, o; c_j = f ⊙ c_{j-1} + i ⊙ g, h_j = o ⊙ tanh(c_j)."""

    n_state = 2
    n_gates = 4

    def forward(self, w: _Weights, x: torch.Tensor, state0: tuple) -> dict:
        n, B = x.shape[:2]
        H = w.hh.shape[1]
        pre_in = _input_part(x, w.ih, _sum_bias(w.b_ih, w.b_hh))  # (n, B, 4H)
        acts = x.new_empty((n, B, 4 * H))  # i, f, g, o of every step
        hs, cs = x.new_empty((n + 1, B, H)), x.new_empty((n + 1, B, H))
        tanh_c = x.new_empty((n, B, H))
        hs[0], cs[0] = state0
        for j in range(n):
            a = torch.addmm(pre_in[j], hs[j], w.hh.T, out=acts[j])
            a[:, : 2 * H].sigmoid_()
            a[:, 2 * H : 3 * H].tanh_()
            a[:, 3 * H :].sigmoid_()
            i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
            torch.mul(f, cs[j], out=cs[j + 1]).addcmul_(i, g)
            torch.tanh(cs[j + 1], out=tanh_c[j])
            torch.mul(o, tanh_c[j], out=hs[j + 1])
        i, f, g, o = acts.view(n, B, 4, H).unbind(2)
        # coeff[j, :, :3] turns the total ∂L/∂c_j into the gradients of a_i, a_f, a_g; coeff[j, :, 3] turns
        # ∂L/∂h_j into that of a_o; h_to_c carries ∂L/∂h_j into ∂L/∂c_j (as cells.LSTMCell does).
        coeff = torch.stack(
            (g * i * (1 - i), cs[:-1] * f * (1 - f), i * (1 - g * g), tanh_c * o * (1 - o)), dim=2
        )  # (n, B, 4, H)
        return {"hs": hs, "coeff": coeff, "h_to_c": o * (1 - tanh_c * tanh_c), "forget": f.contiguous()}

    def backward_step(self, cache, j, dh, dc, delta):
        S, B, H = dh.shape
        blocks = delta.view(S, B, 4, H)
        dc.addcmul_(dh, cache["h_to_c"][j])  # the total ∂L/∂c_j: carried plus through h_j = o ⊙ tanh(c_j)
        coeff = cache["coeff"][j]  # (B, 4, H)
        torch.mul(dc.unsqueeze(2), coeff[:, :3], out=blocks[:, :, :3])
        torch.mul(dh, coeff[:, 3], out=blocks[:, :, 3])

    def input_grad(self, cache, w, j, dh, delta, below):
        below.view(-1, below.shape[-1]).addmm_(delta.view(-1, delta.shape[-1]), w.ih)

    def carry(self, cache, w, j, dh, dc, delta):
        torch.matmul(delta.view(-1, delta.shape[-1]), w.hh, out=dh.view(-1, dh.shape[-1]))
        dc.mul_(cache["forget"][j])


class GRUSteps:
    """PyTorch's GRU: gates r, z, n with n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h_j = n + z ⊙ (h_{j-1} − n)."""

    n_state = 1
    n_gates = 3

    def forward(self, w: _Weights, x: torch.Tensor, state0: tuple) -> dict:
        n, B = x.shape[:2]
        H = w.hh.shape[1]
        x_part = _input_part(x, w.ih, w.b_ih)  # (n, B, 3H)
        rz = x.new_empty((n, B, 2 * H))
        hidden_new = x.new_empty((n, B, H))  # W_hn h_{j-1} + b_hn
        new = x.new_empty((n, B, H))
        hs = x.new_empty((n + 1, B, H))
        hs[0] = state0[0]
        for j in range(n):
            hh = hs[j] @ w.hh.T if w.b_hh is None else torch.addmm(w.b_hh, hs[j], w.hh.T)  # (B, 3H)
            torch.add(x_part[j, :, : 2 * H], hh[:, : 2 * H], out=rz[j]).sigmoid_()
            hidden_new[j] = hh[:, 2 * H :]
            torch.addcmul(x_part[j, :, 2 * H :], rz[j, :, :H], hidden_new[j], out=new[j]).tanh_()
            torch.sub(hs[j], new[j], out=hs[j + 1]).mul_(rz[j, :, H:]).add_(new[j])
        r, z = rz[..., :H], rz[..., H:]
        # ∂L/∂h_j ⊙ new_grad is the gradient of n's whole pre-activation (its input side); coeff turns
        # ∂L/∂h_j into the hidden-side gradients of r, z and W_hn h + b_hn (as cells.GRUCell does).
        new_grad = (1 - z) * (1 - new * new)
        coeff = torch.stack(
            (new_grad * hidden_new * r * (1 - r), (hs[:-1] - new) * z * (1 - z), new_grad * r), dim=2
        )  # (n, B, 3, H)
        return {"hs": hs, "coeff": coeff, "new_grad": new_grad, "update": z.contiguous()}

    def backward_step(self, cache, j, dh, dc, delta):
        S, B, H = dh.shape
        torch.mul(dh.unsqueeze(2), cache["coeff"][j], out=delta.view(S, B, 3, H))

    def input_grad(self, cache, w, j, dh, delta, below):
        # The input side of r and z equals the hidden side; n's input side lacks the factor r.
        H = dh.shape[-1]
        flat_below = below.view(-1, below.shape[-1])
        flat_below.addmm_(delta.view(-1, 3 * H)[:, : 2 * H], w.ih[: 2 * H])
        flat_below.addmm_((dh * cache["new_grad"][j]).view(-1, H), w.ih[2 * H :])

    def carry(self, cache, w, j, dh, dc, delta):
        H = dh.shape[-1]
        dh.mul_(cache["update"][j])  # the direct path h_j = … + z ⊙ h_{j-1}
        dh.view(-1, H).addmm_(delta.view(-1, 3 * H), w.hh)


def _sweep(layers: list[_Layer], dh_local: torch.Tensor) -> None:
    """Carry every source's deltas from step n-1 down to 0, through all layers at each step, measuring as it goes."""
    n = dh_local.shape[0]
    top = layers[-1]
    for j in range(n - 1, -1, -1):
        top.dh[j] += dh_local[j]  # the new source t = j enters at its own step
        for k in range(len(layers) - 1, -1, -1):
            layer = layers[k]
            dh = layer.dh[j:]  # (S, B, H): sources t = j … n-1
            dc = None if layer.dc is None else layer.dc[j:]
            delta = layer.meter.work["delta"][j:]  # the buffer's rows below j are free at this step
            layer.cell.backward_step(layer.cache, j, dh, dc, delta)
            layer.meter.add_step(j, delta)
            if k > 0:
                layer.cell.input_grad(layer.cache, layer.w, j, dh, delta, layers[k - 1].dh[j:])
            if j > 0:
                layer.cell.carry(layer.cache, layer.w, j, dh, dc, delta)


class _Meter:
    """Accumulates one layer's measures step by step; `result` finishes them."""

    def __init__(self, h_prev: torch.Tensor, n_gates: int, work: dict):
        n, B, H = h_prev.shape
        GH = n_gates * H
        self.h_prev, self.n_gates, self.work = h_prev, n_gates, work
        zeros = h_prev.new_zeros
        self.itemized_sq = zeros((n, n))
        self.gate_sq = zeros((n, n, n_gates))
        self.along = zeros((n, n))  # ⟨G[t, j], S_j⟩
        self.step_sq = zeros(n)  # ‖S_j‖²
        # [d] = P_dᵀ = Σ_j G[j + d, j]ᵀ. Offset d is first reached at step j = n-1-d and written then, so
        # the largest buffer of the call needs no zero-filling pass.
        self.offset_sums = h_prev.new_empty((n, H, GH))
        # ⟨δ, K δ⟩ with the B × B Gram K costs B²·GH per source; ‖h_{j-1}ᵀ δ‖² costs B·H·GH.
        self.use_gram = B <= H
        self.gram = torch.bmm(h_prev, h_prev.transpose(1, 2)) if self.use_gram else None  # (n, B, B)

    def add_step(self, j: int, delta: torch.Tensor) -> None:
        """Record step j from the deltas of its S = n - j sources, delta (S, B, G*H)."""
        S, _, GH = delta.shape
        hp_t = self.h_prev[j].T  # (H, B)
        P = self.offset_sums
        if self.use_gram:
            # ‖G_t‖² = ⟨δ_t, K δ_t⟩ summed over the batch axis; per gate, over that gate's columns only.
            X = delta
            KX = torch.matmul(self.gram[j], delta, out=self.work["gram_delta"][j:])  # (S, B, GH)
            P[: S - 1].baddbmm_(hp_t.expand(S - 1, -1, -1), delta[: S - 1])
            torch.matmul(hp_t, delta[S - 1], out=P[S - 1])  # the offset n-1-j, new at this step
            total = delta.sum(dim=0)  # (B, GH)  Σ_t δ_t, whose outer product with h_{j-1} is S_j
            K_total = self.gram[j] @ total
        else:
            X = KX = torch.matmul(hp_t, delta)  # (S, H, GH): G[t, j]ᵀ itself, rank ≤ B
            P[: S - 1] += X[: S - 1]
            P[S - 1] = X[S - 1]
            total = K_total = X.sum(dim=0)  # (H, GH)  S_jᵀ
        self.step_sq[j] = torch.vdot(total.view(-1), K_total.view(-1))
        self.along[j:, j] = X.reshape(S, -1) @ K_total.view(-1)
        product = KX.mul_(X)  # KX is scratch in both forms and no longer needed
        gate_sq = product.view(S, -1, self.n_gates, GH // self.n_gates).sum(dim=(1, 3))  # (S, G)
        self.gate_sq[j:, j] = gate_sq
        self.itemized_sq[j:, j] = gate_sq.sum(dim=1)

    def result(self, layer: int, epsilon: float) -> LayerItemized:
        error, total = self.truncation_error()
        step_gradient = self.step_sq.clamp(min=0).sqrt()
        safe = torch.where(step_gradient > 0, step_gradient, torch.ones_like(step_gradient))
        contribution = torch.where(step_gradient > 0, self.along / safe, torch.zeros_like(self.along))
        itemized = self.itemized_sq.clamp(min=0).sqrt()
        gates = self.gate_sq.clamp(min=0).sqrt() if self.n_gates > 1 else None

        def host(t):
            return frozen_array(t.detach().to("cpu", torch.float64).numpy())

        error_np = host(error)
        return LayerItemized(
            itemized=host(itemized),
            contribution=host(contribution),
            step_gradient=host(step_gradient),
            truncation_error=error_np,
            horizon=int(np.argmax(error_np <= epsilon)) + 1,
            itemized_gate=None if gates is None else host(gates),
            layer=layer,
            weight_hh_grad=host(total.T),
        )

    def truncation_error(self):
        """e(k) for k = 1 … n (as core.itemized.truncation_error defines it) and G_total (H, G*H) transposed.

        In place, offset_sums[k] becomes Σ_{d ≥ k} P_d: the part of G_total from losses k or more steps
        after the update, whose norm relative to G_total's is e(k); offset_sums[0] is G_total itself.
        """
        P = self.offset_sums
        n = P.shape[0]
        squared = P.new_empty(n)
        for k in range(n - 1, -1, -1):
            if k < n - 1:
                P[k] += P[k + 1]
            flat = P[k].view(-1)
            squared[k] = torch.vdot(flat, flat)
        error = torch.zeros_like(squared)
        total = float(squared[0]) if n else 0.0
        if total > 0 and math.isfinite(total):
            error[: n - 1] = (squared[1:].clamp(min=0) / total).sqrt()
        return error, P[0]
