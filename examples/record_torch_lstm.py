"""Record your own PyTorch model: a word-level LSTM trained for a minute, its itemized gradients in run.h5.

    pip install rnnbow-desktop[torch]
    python examples/record_torch_lstm.py                 # trains for 60 s, writes run.h5, opens the window
    python examples/record_torch_lstm.py --seconds 5 --out /tmp/run.h5 --no-gui

The text is the project's own generated C-like sample (rnnbow_desktop.core.samples), split into word
tokens: identifiers, keywords, numbers, operators and newlines, about a thousand of them. The model
is the usual one: an embedding, a 2-layer LSTM, a linear head per step. The five lines marked "RNNbow"
are all a training loop needs. Open the session while it is written to watch it grow:
`rnnbow gui run.h5` in another terminal.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

from rnnbow_desktop.core.samples import generate
from rnnbow_desktop.torch import Recorder  # RNNbow

# Multi-character operators first, so "->" is one token and not "-" and ">".
TOKEN = re.compile(r"->|[<>=!]=|&&|\|\||\+\+|--|<<|>>|[A-Za-z_]\w*|0x[0-9a-fA-F]+|\d+|\n|[^\w\s]")


def tokenize(text: str) -> tuple[torch.Tensor, list[str]]:
    """(ids of every token, vocabulary): itos[id] is the token's text."""
    tokens = TOKEN.findall(text)
    itos = sorted(set(tokens))
    stoi = {token: i for i, token in enumerate(itos)}
    return torch.tensor([stoi[t] for t in tokens]), itos


class WordLSTM(nn.Module):
    def __init__(self, vocab_size: int, embed: int = 64, hidden: int = 128, layers: int = 2):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed)
        self.lstm = nn.LSTM(embed, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab_size)


def batches(ids: torch.Tensor, batch: int, length: int, generator: torch.Generator):
    """Endless (inputs, targets) pairs (batch, length) of random windows of the token stream."""
    while True:
        starts = torch.randint(0, len(ids) - length - 1, (batch,), generator=generator)
        window = torch.stack([ids[s : s + length + 1] for s in starts.tolist()])
        yield window[:, :-1], window[:, 1:]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="run.h5", help="the session file to write (default: run.h5)")
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("RNNBOW_EXAMPLE_SECONDS", 60)),
                        help="how long to train (default: 60, or $RNNBOW_EXAMPLE_SECONDS)")
    parser.add_argument("--every", type=int, default=10, help="itemize every N-th batch (default: 10)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice; 1 on a machine other programs keep busy)")
    parser.add_argument("--no-gui", action="store_true", help="do not open the window at the end")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ids, itos = tokenize(generate("c-like"))
    model = WordLSTM(len(itos))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    data = batches(ids, batch=32, length=32, generator=torch.Generator().manual_seed(1))
    print(f"{len(ids):,} tokens, vocabulary {len(itos):,}; training for {args.seconds:g} s into {args.out}")

    rec = Recorder(model.lstm, args.out, every=args.every, vocab=itos, force=True)  # RNNbow
    start, batch = time.monotonic(), 0
    while time.monotonic() - start < args.seconds:
        inputs, targets = next(data)
        out, _ = model.lstm(model.embed(inputs))
        logits = model.head(out)
        step_losses = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # (B, n)  RNNbow
        rec.record(step_losses, inputs=inputs, targets=targets, predictions=logits.argmax(-1))  # RNNbow
        loss = step_losses.sum(1).mean()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        opt.zero_grad()
        if batch % 200 == 0:
            print(f"batch {batch:5d}  loss per token {loss.item() / inputs.shape[1]:.3f}")
        batch += 1
    rec.close()  # RNNbow
    print(f"{batch:,} batches, {rec.records_written:,} recorded: rnnbow gui {args.out}")
    if not args.no_gui:
        return subprocess.call([sys.executable, "-m", "rnnbow_desktop", "gui", args.out])
    return 0


if __name__ == "__main__":
    sys.exit(main())
