"""The command line on sessions recorded from PyTorch (format 2): info, find, render (with --layer), compare."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from pictures import png_size  # noqa: E402
from processes import app_env, one_line_error, rnnbow  # noqa: E402
from rnnbow_desktop.torch import Recorder  # noqa: E402

pytestmark = pytest.mark.slow
WORDS = ["int", "x", "=", "0", ";", "\n", "return", "buf_len"]


@pytest.fixture(scope="module")
def torch_sessions(tmp_path_factory):
    """Two small sessions: a 2-layer GRU with a vocabulary, a 1-layer tanh RNN without one."""
    folder = tmp_path_factory.mktemp("torch-cli")
    paths = []
    for name, rnn, vocab in (("gru.h5", nn.GRU(4, 6, 2, batch_first=True), WORDS), ("rnn.h5", nn.RNN(4, 6), None)):
        torch.manual_seed(0)
        embed, head = nn.Embedding(len(WORDS), 4), nn.Linear(6, len(WORDS))
        g = torch.Generator().manual_seed(0)
        with Recorder(rnn, folder / name, every=2, vocab=vocab, checkpoint_every=4) as rec:
            for _ in range(9):
                ids = torch.randint(0, len(WORDS), (3, 7), generator=g)
                x = embed(ids) if rnn.batch_first else embed(ids).transpose(0, 1)
                out, _ = rnn(x)
                logits = head(out if rnn.batch_first else out.transpose(0, 1))
                losses = F.cross_entropy(logits.transpose(1, 2), ids.roll(-1, 1), reduction="none")
                rec.record(losses, inputs=ids, targets=ids.roll(-1, 1))
                losses.sum(1).mean().backward()
        paths.append(folder / name)
    return paths


def test_info_describes_the_module(torch_sessions):
    gru, rnn = torch_sessions
    done = rnnbow("info", gru)
    assert done.returncode == 0, done.stderr
    assert "GRU(4, 6, num_layers=2, batch_first=True)" in done.stdout
    assert "a vocabulary of 8 tokens" in done.stdout and "5 (every 2 batches)" in done.stdout
    assert "median layer 0:" in done.stdout and "layer 1:" in done.stdout
    summary = json.loads(rnnbow("info", rnn, "--json").stdout)
    assert summary["source"] == "torch" and summary["layers"] == 1 and summary["vocab_size"] is None
    assert summary["module"]["kind"] == "RNN" and summary["checkpoints"] == 3 and summary["batches_trained"] == 9


def test_find_render_and_compare_work(torch_sessions, tmp_path):
    gru, rnn = torch_sessions
    done = rnnbow("find", gru, "--json")
    assert done.returncode == 0, done.stderr
    assert isinstance(json.loads(done.stdout), list)
    env = app_env(tmp_path)
    out = tmp_path / "top.png"
    done = rnnbow("render", gru, "--layer", 1, "--batch", 4, "--out", out, env=env)
    assert done.returncode == 0, done.stderr
    assert png_size(out) == (1400, 900)
    one_line_error(rnnbow("render", gru, "--layer", 2, "--out", tmp_path / "no.png", env=env),
                   "layer 2 is out of range", "0–1")
    done = rnnbow("compare", gru, rnn, "--out", tmp_path / "both.png", env=env, timeout=300)
    assert done.returncode == 0, done.stderr
