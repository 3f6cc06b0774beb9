"""Speed of rnnbow_desktop.torch.itemize_module, as ratios against baselines measured in the same run.

    python benchmarks/bench_torch_itemized.py            # both parts (about 4 minutes on 1 CPU thread)
    python benchmarks/bench_torch_itemized.py --quick    # smaller sizes, fewer batches
    python benchmarks/bench_torch_itemized.py --threads 2 --part loop

1. One recorded batch: itemize_module vs the naive autograd computation (per-step copies of every
   layer's weight_hh, one backward per loss L_t plus one for the real update, every quantity computed
   from the explicit G[t, j] matrices). Goal: ≤ 0.3 × the naive time.
2. A training loop (2-layer LSTM, H = 256, n = 64, batch 32, Adam) itemizing every 50 batches vs the
   same loop without: itemize_module called by hand, and rnnbow_desktop.torch.Recorder (hook, every
   batch's loss, the session file). Goal: ≤ 1.5 ×. Printed beside it: the arithmetic limit, i.e. the same
   ratio if every flop ran at one speed, from the flop counts of a plain and a recorded batch; and what
   Recorder.record costs on a batch it does not itemize.
On a machine with CUDA, both parts run on the GPU too.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from rnnbow_desktop.torch import Recorder, itemize_module

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


class Model(nn.Module):
    """A word-level language model: embedding, a recurrent module, a per-step linear head."""

    def __init__(self, cell: str, V: int, E: int, H: int, layers: int):
        super().__init__()
        self.embed = nn.Embedding(V, E)
        self.rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](E, H, layers, batch_first=True)
        self.head = nn.Linear(H, V)

    def step_losses(self, inputs, targets):
        """(embedded inputs, module output, step losses (B, n))."""
        x = self.embed(inputs)
        out, _ = self.rnn(x)
        losses = F.cross_entropy(self.head(out).transpose(1, 2), targets, reduction="none")
        return x, out, losses


def naive_itemize(model: Model, x, targets):
    """The textbook way: unroll with a weight_hh copy per step and layer, one backward per loss L_t.

    Returns each layer's (itemized, itemized_gate, contribution, step_gradient, truncation_error) so that
    it does the same work as itemize_module (mean over the batch, as the user's loss).
    """
    module = model.rnn
    n, L, H = x.shape[1], module.num_layers, module.hidden_size
    cell_cls = {"LSTM": nn.LSTMCell, "GRU": nn.GRUCell}.get(module.mode, nn.RNNCell)
    copies = [[getattr(module, f"weight_hh_l{k}").detach().clone().requires_grad_() for _ in range(n)]
              for k in range(L)]
    layer_in = x.detach().transpose(0, 1)
    for k in range(L):
        cell = cell_cls(layer_in.shape[-1], H).to(x.device, x.dtype)
        params = {f"{name}": getattr(module, f"{name}_l{k}").detach() for name in ("weight_ih", "bias_ih", "bias_hh")}
        state = None
        outs = []
        for j in range(n):
            state = functional_call(cell, {**params, "weight_hh": copies[k][j]}, (layer_in[j], state))
            outs.append(state[0] if isinstance(state, tuple) else state)
        layer_in = torch.stack(outs)
    losses = F.cross_entropy(model.head(layer_in.transpose(0, 1)).transpose(1, 2), targets, reduction="none")
    per_step = losses.mean(0)  # (n,)
    flat = [c for layer in copies for c in layer]
    updates = torch.autograd.grad(per_step.sum(), flat, retain_graph=True)
    S = [torch.stack(updates[k * n : (k + 1) * n]) for k in range(L)]  # (n, GH, H): S_j per layer
    G_count = GATES[{"LSTM": "lstm", "GRU": "gru"}.get(module.mode, "rnn")]
    out = []
    itemized = torch.zeros(L, n, n, G_count, device=x.device)
    along = torch.zeros(L, n, n, device=x.device)
    P = [torch.zeros_like(s) for s in S]  # per-offset sums for the truncation error
    for t in range(n):
        grads = torch.autograd.grad(per_step[t], [copies[k][j] for k in range(L) for j in range(t + 1)],
                                    retain_graph=True)
        for k in range(L):
            G = torch.stack(grads[k * (t + 1) : (k + 1) * (t + 1)])  # (t+1, GH, H)
            itemized[k, t, : t + 1] = G.view(t + 1, G_count, -1).pow(2).sum(-1).sqrt()
            along[k, t, : t + 1] = (G * S[k][: t + 1]).sum(dim=(1, 2))
            P[k][: t + 1] += G.flip(0)  # offset d = t - j
    for k in range(L):
        step = torch.linalg.matrix_norm(S[k])
        suffix = P[k].flip(0).cumsum(0).flip(0)
        error = torch.linalg.matrix_norm(suffix[1:]) / torch.linalg.matrix_norm(suffix[0])
        out.append((itemized[k], along[k] / step, step, error))
    return out


def flops(cell: str, V: int, E: int, H: int, n: int, B: int, L: int) -> tuple[float, float]:
    """(plain batch, extra for itemizing it): multiply-adds counted as 2 flops, matrix products only."""
    GH = GATES[cell] * H
    inputs = [E] + [H] * (L - 1)
    rows = n * B
    tri = n * (n + 1) / 2 * B  # Σ_j (sources t ≥ j) × batch
    forward = sum(2 * rows * GH * (I + H) for I in inputs)
    head = 2 * rows * H * V
    plain = 3 * (forward + head)  # forward, and two products per matrix in the backward pass
    carry = L * 2 * tri * GH * H  # all sources through W_hh
    down = sum(2 * tri * GH * I for I in inputs[1:])  # all sources into the layer below
    offsets = L * 2 * tri * GH * H  # the truncation error's per-offset sums
    gram = L * 2 * tri * min(B, H) * GH  # ‖G[t, j]‖ through the B × B Gram
    extra = forward + 2 * rows * H * V + carry + down + offsets + gram  # recompute, head grad, sweep
    return plain, extra


def seconds(device) -> float:
    """CPU time of this process on the CPU (other processes share this machine's cores, and wall time
    counts the time they take away); wall time on a GPU."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        return time.perf_counter()
    return time.process_time()


def best_time(fn, repeats: int, device) -> float:
    times = []
    for _ in range(repeats):
        start = seconds(device)
        fn()
        times.append(seconds(device) - start)
    return min(times)


def part_naive(device, sizes, repeats: int) -> None:
    print(f"\n1. One recorded batch vs the naive autograd computation ({device})")
    print(f"{'cell':>5} {'L':>2} {'H':>4} {'n':>3} {'B':>3} | {'naive s':>8} {'itemize s':>9} {'ratio':>6}  max rel diff")
    for cell, L, H, n, B in sizes:
        torch.manual_seed(0)
        V = 100
        model = Model(cell, V, H, H, L).to(device)
        inputs = torch.randint(0, V, (B, n), device=device)
        targets = torch.randint(0, V, (B, n), device=device)
        x, out, losses = model.step_losses(inputs, targets)
        mine = itemize_module(model.rnn, x, losses, out)  # warm-up, and the values compared below
        naive = naive_itemize(model, x, targets)
        # Agreement of the two, relative to the largest value: itemized norms and truncation errors.
        diff = max(
            max(np.abs(m.itemized - nv[0].pow(2).sum(-1).sqrt().cpu().numpy()).max() / m.itemized.max(),
                np.abs(m.truncation_error[:-1] - nv[3].cpu().numpy()).max())
            for m, nv in zip(mine, naive)
        )
        t_naive = best_time(lambda m=model, x=x, y=targets: naive_itemize(m, x, y), max(1, repeats // 2), device)
        t_mine = best_time(lambda m=model, x=x, l=losses, o=out: itemize_module(m.rnn, x, l, o), repeats, device)
        print(f"{cell:>5} {L:>2} {H:>4} {n:>3} {B:>3} | {t_naive:8.3f} {t_mine:9.3f} {t_mine / t_naive:6.3f}  {diff:.1e}")


def train_loop(model, batches, every: int, data, device) -> float:
    """Seconds for `len(batches)` Adam steps, itemizing every `every` batches (0: never)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    inputs, targets = data
    start = seconds(device)
    for b in batches:
        x, out, losses = model.step_losses(inputs[b], targets[b])
        if every and b % every == 0:
            itemize_module(model.rnn, x, losses, out)
        losses.sum(1).mean().backward()
        opt.step()
        opt.zero_grad()
    return seconds(device) - start


def recorded_loop(model, batches, every: int, data, device, path: Path) -> float:
    """Seconds for the same loop with a Recorder on the recurrent module, writing a session to `path`."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    inputs, targets = data
    start = seconds(device)
    with Recorder(model.rnn, path, every=every, force=True) as rec:
        for b in batches:
            _x, _out, losses = model.step_losses(inputs[b], targets[b])
            rec.record(losses, inputs=inputs[b], targets=targets[b])
            losses.sum(1).mean().backward()
            opt.step()
            opt.zero_grad()
    return seconds(device) - start


def idle_record_cost(model, data, device, path: Path, calls: int = 2000) -> float:
    """Seconds per Recorder.record call on a batch that is not itemized (the hook, one loss scalar kept)."""
    inputs, targets = data
    with Recorder(model.rnn, path, every=10**9, force=True, checkpoint_every=0) as rec:
        _x, _out, losses = model.step_losses(inputs[0], targets[0])
        rec.record(losses)  # batch 0 is itemized: the rest are not
        start = seconds(device)
        for _ in range(calls):
            rec.record(losses)
        return (seconds(device) - start) / calls


def part_loop(device, cell, L, H, n, B, V, n_batches: int, every: int, repeats: int) -> None:
    print(f"\n2. Training loop, {L}-layer {cell.upper()} H={H} n={n} batch {B} V={V}, itemizing every {every} ({device})")
    torch.manual_seed(0)
    data = (torch.randint(0, V, (n_batches, B, n), device=device), torch.randint(0, V, (n_batches, B, n), device=device))
    plain_model = Model(cell, V, H, H, L).to(device)
    recorded_model = Model(cell, V, H, H, L).to(device)
    recorded_model.load_state_dict(plain_model.state_dict())
    recorder_model = Model(cell, V, H, H, L).to(device)
    recorder_model.load_state_dict(plain_model.state_dict())
    batches = range(n_batches)
    folder = Path(tempfile.mkdtemp(prefix="rnnbow-bench-"))
    train_loop(plain_model, range(2), 0, data, device)  # warm-up
    train_loop(recorded_model, range(1), 1, data, device)
    recorded_loop(recorder_model, range(1), 1, data, device, folder / "warm-up.h5")
    t_plain, t_rec, t_recorder = [], [], []
    for _ in range(repeats):  # alternate, so that load from other processes hits all alike
        t_plain.append(train_loop(plain_model, batches, 0, data, device))
        t_rec.append(train_loop(recorded_model, batches, every, data, device))
        t_recorder.append(recorded_loop(recorder_model, batches, every, data, device, folder / "run.h5"))
    plain, rec, recorder = min(t_plain), min(t_rec), min(t_recorder)
    idle = idle_record_cost(recorder_model, data, device, folder / "idle.h5")
    size = (folder / "run.h5").stat().st_size
    recorded = len([b for b in batches if b % every == 0])
    f_plain, f_extra = flops(cell, V, H, H, n, B, L)
    limit = (n_batches * f_plain + recorded * f_extra) / (n_batches * f_plain)
    per_item = (rec - plain) / recorded
    print(f"   plain loop   {plain:7.2f} s for {n_batches} batches ({plain / n_batches * 1e3:.0f} ms per batch)")
    print(f"   recording    {rec:7.2f} s, {recorded} batches itemized ({per_item:.2f} s each over the plain batch)")
    print(f"   overhead     {rec / plain:.3f} x   (goal <= 1.5 x; arithmetic limit {limit:.3f} x)")
    print(f"   Recorder     {recorder:7.2f} s: overhead {recorder / plain:.3f} x   (arithmetic limit {limit:.3f} x), "
          f"with the session file ({size / 1e6:.1f} MB) and every batch's loss")
    print(f"   record() on a batch it does not itemize: {idle * 1e6:.0f} us "
          f"({idle / (plain / n_batches) * 100:.3f} % of a plain batch)")
    print(f"   flops: plain batch {f_plain / 1e9:.1f} G, itemizing one adds {f_extra / 1e9:.1f} G "
          f"({(f_plain + f_extra) / f_plain:.1f} x a plain batch's arithmetic)")
    print(f"   arithmetic limit {limit:.3f} x   (the overhead if itemizing ran at the plain loop's flop rate)")
    print(f"   flop rates: plain loop {f_plain * n_batches / plain / 1e9:.0f} GFLOP/s, "
          f"itemizing {f_extra / max(per_item, 1e-9) / 1e9:.0f} GFLOP/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: least noisy)")
    parser.add_argument("--part", choices=["naive", "loop", "both"], default="both")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {args.threads} CPU thread(s); "
          "times are CPU seconds of this process on the CPU, wall seconds on a GPU")
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    if len(devices) == 1:
        print("no CUDA here: CPU only")
    if args.quick:
        sizes = [("lstm", 2, 64, 32, 16), ("gru", 1, 64, 32, 16)]
        loop = {"cell": "lstm", "L": 2, "H": 128, "n": 32, "B": 16, "V": 100, "n_batches": 50, "every": 25, "repeats": 1}
    else:
        sizes = [("rnn", 1, 128, 32, 16), ("lstm", 2, 64, 32, 16), ("gru", 2, 128, 32, 16),
                 ("lstm", 2, 256, 64, 32)]
        loop = {"cell": "lstm", "L": 2, "H": 256, "n": 64, "B": 32, "V": 100, "n_batches": 100, "every": 50, "repeats": 2}
    for device in devices:
        if args.part in ("naive", "both"):
            part_naive(device, sizes, 3 if not args.quick else 2)
        if args.part in ("loop", "both"):
            part_loop(device, **loop)


if __name__ == "__main__":
    main()
