"""A session's checkpoints load into PyTorch's own layers, read with h5py alone (the public format).

Skipped where PyTorch is not installed (CI does not install it: it is large and optional). The check:
torch.nn.RNN/LSTM/GRU, given a checkpoint's parameters under their PyTorch names, the hidden state
entering that batch and the batch's characters from `corpus`, reproduce the per-step losses that
RNNbow recorded for that batch.
"""

from __future__ import annotations


import h5py
import numpy as np
import pytest

from processes import rnnbow

torch = pytest.importorskip("torch")

TEXT = "the quick brown fox jumps over the lazy dog; {[()]} 0123456789\n" * 40


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_checkpoint_reproduces_recorded_losses_in_torch(tmp_path, cell):
    corpus, out = tmp_path / "text.txt", tmp_path / f"{cell}.h5"
    corpus.write_text(TEXT, encoding="utf-8")
    done = rnnbow("train", corpus, "--cell", cell, "--hidden", 12, "--seq-len", 10, "--batches", 30, "--checkpoint-every", 7,
                  "--out", out, "--quiet")
    assert done.returncode == 0, done.stderr
    checked = 0
    with h5py.File(out, "r") as f:
        ids = f["corpus"][:].astype(np.int64)
        V, H, n = len(f["vocab"]), int(f.attrs["hidden_size"]), int(f.attrs["seq_length"])
        layer = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](V, H).double()
        record_batches = list(f["records/batch"][:])
        for c, batch in enumerate(f["checkpoints/batch"][:]):
            with torch.no_grad():
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(layer, f"{name}_l0").copy_(torch.from_numpy(f[f"checkpoints/{name}"][c]))
            W_d = torch.from_numpy(f["checkpoints/decoder_weight"][c])
            b_d = torch.from_numpy(f["checkpoints/decoder_bias"][c])
            h0 = torch.from_numpy(f["checkpoints/h0"][c]).reshape(1, 1, H)
            state = (h0, torch.from_numpy(f["checkpoints/c0"][c]).reshape(1, 1, H)) if cell == "lstm" else h0
            r = record_batches.index(batch)
            p = int(f["records/position"][r])
            x = torch.nn.functional.one_hot(torch.from_numpy(ids[p : p + n]), V).double().unsqueeze(1)
            y = torch.from_numpy(ids[p + 1 : p + n + 1])
            with torch.no_grad():
                out_seq, _ = layer(x, state)
                losses = torch.nn.functional.cross_entropy(out_seq[:, 0] @ W_d.T + b_d, y, reduction="none")
            np.testing.assert_allclose(losses.numpy(), f["records/loss"][r], rtol=2e-6, atol=1e-6,
                                       err_msg=f"{cell} batch {batch}")
            assert float(losses.sum()) == pytest.approx(float(f["training/loss"][batch]), rel=1e-5)
            checked += 1
    assert checked == 5  # batches 0, 7, 14, 21, 28
