"""The benchmark baseline: the textbook per-step numpy char-RNN loop (min-char-rnn's algorithm).

Written here from the algorithm's description, deliberately in its plain per-step style — column
vectors, one-hot inputs, one mat-vec per step and parameter — because that is what the paper's
tool ran and what our vectorized engine is measured against. It computes only the summed BPTT
gradient and records nothing.
"""

from __future__ import annotations

import numpy as np


class TextbookRNN:
    def __init__(self, vocab_size: int, hidden_size: int = 100, seed: int = 0, learning_rate: float = 0.1):
        rng = np.random.default_rng(seed)
        V, H = vocab_size, hidden_size
        self.V, self.H, self.lr = V, H, learning_rate
        self.Wxh = rng.standard_normal((H, V)) * 0.01
        self.Whh = rng.standard_normal((H, H)) * 0.01
        self.Why = rng.standard_normal((V, H)) * 0.01
        self.bh = np.zeros((H, 1))
        self.by = np.zeros((V, 1))
        self.mem = [np.zeros_like(p) for p in self.params()]

    def params(self):
        return [self.Wxh, self.Whh, self.Why, self.bh, self.by]

    def loss_and_gradients(self, inputs, targets, hprev):
        xs, hs, ps = {}, {-1: np.copy(hprev)}, {}
        loss = 0.0
        for t in range(len(inputs)):
            xs[t] = np.zeros((self.V, 1))
            xs[t][inputs[t]] = 1
            hs[t] = np.tanh(self.Wxh @ xs[t] + self.Whh @ hs[t - 1] + self.bh)
            ys = self.Why @ hs[t] + self.by
            ps[t] = np.exp(ys - ys.max()) / np.sum(np.exp(ys - ys.max()))
            loss += -np.log(ps[t][targets[t], 0])
        dWxh, dWhh, dWhy = np.zeros_like(self.Wxh), np.zeros_like(self.Whh), np.zeros_like(self.Why)
        dbh, dby = np.zeros_like(self.bh), np.zeros_like(self.by)
        dhnext = np.zeros_like(hs[0])
        for t in reversed(range(len(inputs))):
            dy = np.copy(ps[t])
            dy[targets[t]] -= 1
            dWhy += dy @ hs[t].T
            dby += dy
            dh = self.Why.T @ dy + dhnext
            dhraw = (1 - hs[t] * hs[t]) * dh
            dbh += dhraw
            dWxh += dhraw @ xs[t].T
            dWhh += dhraw @ hs[t - 1].T
            dhnext = self.Whh.T @ dhraw
        return loss, [dWxh, dWhh, dWhy, dbh, dby], hs[len(inputs) - 1]

    def update(self, grads):
        for param, grad, mem in zip(self.params(), grads, self.mem):
            np.clip(grad, -5, 5, out=grad)
            mem += grad * grad
            param += -self.lr * grad / np.sqrt(mem + 1e-8)


def train(ids: np.ndarray, batches: int, vocab_size: int, hidden_size: int = 100, seq_length: int = 25):
    """The baseline training loop: min-char-rnn's data pointer, wrap rule and update; records nothing."""
    model = TextbookRNN(vocab_size, hidden_size)
    p, hprev, smooth = 0, np.zeros((hidden_size, 1)), 0.0
    for b in range(batches):
        if p + seq_length + 1 >= len(ids) or b == 0:
            hprev = np.zeros((hidden_size, 1))
            p = 0
        inputs, targets = ids[p : p + seq_length], ids[p + 1 : p + seq_length + 1]
        loss, grads, hprev = model.loss_and_gradients(inputs, targets, hprev)
        model.update(grads)
        smooth = smooth * 0.999 + loss * 0.001
        p += seq_length
    return smooth
