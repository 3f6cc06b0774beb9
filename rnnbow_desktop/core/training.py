"""Training a character-level network one batch at a time, as min-char-rnn does, recording itemized gradients.

The trainer is Qt-free and single-threaded: the caller (CLI or GUI worker) calls `step()` and can
stop or pause between any two batches. Everything it hands out is immutable (frozen dataclasses
holding read-only array copies), so another thread may keep it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import itemized as itemized_mod
from .cells import make_cell
from .config import TrainConfig
from .corpus import Corpus
from .errors import ConfigError, TrainingDiverged
from .loss_smoothing import initial_smooth_loss, smooth_loss_step
from .records import BatchRecord, Checkpoint, Sample, StepResult, frozen_array


@dataclass
class BatchGradients:
    """The forward and backward pass of one batch (mutable working data, not handed out)."""

    fwd: object
    loss: np.ndarray  # (n,)
    predictions: np.ndarray  # (n,)
    grads: dict
    measured: itemized_mod.Itemized | None


def batch_gradients(cell, params, inputs, targets, state0, itemize: bool, epsilon: float = 0.05, work=None):
    """Loss, gradients of every parameter and (with `itemize`) the itemized quantities of one batch."""
    n = len(inputs)
    fwd = cell.forward(params, inputs, state0)
    W_d = params["decoder_weight"]
    logits = fwd.hs[1:] @ W_d.T + params["decoder_bias"]  # (n, V)
    predictions = logits.argmax(axis=1)
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    steps = np.arange(n)
    loss = -np.log(probs[steps, targets])  # (n,)
    dlogits = probs
    dlogits[steps, targets] -= 1.0  # softmax cross-entropy: p − onehot(target)
    dh_local = dlogits @ W_d  # (n, H)  ∂L_t/∂h_t from each step's own loss

    # The update always comes from the plain summed sweep. The itemized sweep reaches the same sum by
    # another order of floating-point additions; were it used for the update, recording a batch
    # would nudge the weights by rounding, and Adagrad's first steps (g / sqrt(g^2 + eps)) amplify
    # such nudges until runs that differ only in `record_every` train visibly differently.
    gates, _ = itemized_mod.sweep(cell, params, fwd, dh_local, False, work)
    deltas = itemized_mod.sweep(cell, params, fwd, dh_local, True, work)[1] if itemize else None
    grads = cell.param_grads(params, fwd, inputs, gates)
    grads["decoder_weight"] = dlogits.T @ fwd.hs[1:]
    grads["decoder_bias"] = dlogits.sum(axis=0)
    measured = None
    if itemize:
        measured = itemized_mod.measure(deltas, fwd.hs[:-1], epsilon, cell.n_gates, work)
    return BatchGradients(fwd=fwd, loss=loss, predictions=predictions, grads=grads, measured=measured)


class Trainer:
    """Trains `corpus` batch by batch; `step()` returns a StepResult with a record when one is due."""

    def __init__(self, corpus: Corpus, config: TrainConfig = TrainConfig()):
        self.config = config.validate()
        if len(corpus.ids) < config.seq_length + 1:
            raise ConfigError(
                f"corpus '{corpus.name}' has {len(corpus.ids)} characters; sequence length "
                f"{config.seq_length} needs at least {config.seq_length + 1}"
            )
        self.corpus = corpus
        self.cell = make_cell(config.cell)
        H, V = config.hidden_size, corpus.vocab_size
        rng = np.random.default_rng(config.seed)
        self.params = self.cell.init_params(rng, H, V)
        self.trained = [k for k in self.params if k not in self.cell.frozen_params]
        self.memory = {k: np.zeros_like(self.params[k]) for k in self.trained}  # Adagrad
        self._scratch = {k: np.empty_like(self.params[k]) for k in self.trained}
        # Sampling draws from its own stream so that generating text never changes training.
        self.sample_rng = np.random.default_rng([config.seed, 1])
        self.state = self.cell.zero_state(H)
        self.work = itemized_mod.Workspace()
        self.batch = 0  # the next batch to train
        self.position = 0
        self.smooth_loss = initial_smooth_loss(V, config.seq_length)

    def step(self) -> StepResult:
        cfg, n, b = self.config, self.config.seq_length, self.batch
        ids = self.corpus.ids
        # min-char-rnn's wrap rule: restart at the beginning, with a fresh state, when a batch
        # would run off the end of the stream.
        if self.position + n + 1 >= len(ids) or b == 0:
            self.position = 0
            self.state = self.cell.zero_state(cfg.hidden_size)
        p = self.position
        inputs = ids[p : p + n]
        targets = ids[p + 1 : p + n + 1]

        checkpoint = None
        if cfg.checkpoint_every and b % cfg.checkpoint_every == 0:
            checkpoint = Checkpoint(
                batch=b,
                params={k: frozen_array(v) for k, v in self.params.items()},
                state=tuple(frozen_array(s) for s in self.state),
            )
        sample = None
        if cfg.sample_every and b % cfg.sample_every == 0:
            sample = Sample(batch=b, text=self.sample(int(inputs[0]), cfg.sample_length))

        due = b % cfg.record_every == 0
        result = batch_gradients(
            self.cell, self.params, inputs, targets, self.state, due, cfg.horizon_epsilon, self.work
        )
        total = float(result.loss.sum())
        if not math.isfinite(total):
            raise TrainingDiverged(b, "the loss")
        # A NaN or Inf anywhere makes the sum non-finite; cheaper than a boolean mask per parameter.
        if not math.isfinite(sum(float(g.sum()) for g in result.grads.values())):
            raise TrainingDiverged(b, "a gradient")

        record = None
        if due:
            m = result.measured
            record = BatchRecord(
                batch=b,
                position=p,
                inputs=frozen_array(inputs),
                targets=frozen_array(targets),
                predictions=frozen_array(result.predictions),
                loss=frozen_array(result.loss),
                itemized=frozen_array(m.itemized),
                contribution=frozen_array(m.contribution),
                step_gradient=frozen_array(m.step_gradient),
                max_gradient=m.max_gradient,
                truncation_error=frozen_array(m.truncation_error),
                horizon=m.horizon,
                itemized_gate=None if m.itemized_gate is None else frozen_array(m.itemized_gate),
            )

        self._update(result.grads)

        self.state = result.fwd.state_out
        self.position = p + n
        self.batch = b + 1
        self.smooth_loss = smooth_loss_step(self.smooth_loss, total)
        return StepResult(
            batch=b, position=p, loss=total, smooth_loss=self.smooth_loss,
            record=record, checkpoint=checkpoint, sample=sample,
        )

    def _update(self, grads: dict) -> None:
        """Clip element-wise, then Adagrad — min-char-rnn's update, in place without temporaries."""
        cfg = self.config
        for name in self.trained:
            grad, mem, tmp = grads[name], self.memory[name], self._scratch[name]
            np.clip(grad, -cfg.clip, cfg.clip, out=grad)
            np.multiply(grad, grad, out=tmp)
            mem += tmp
            np.add(mem, 1e-8, out=tmp)
            np.sqrt(tmp, out=tmp)
            np.divide(grad, tmp, out=tmp)
            tmp *= cfg.learning_rate
            self.params[name] -= tmp

    def sample(self, seed_id: int, length: int) -> str:
        """Generate `length` characters from the current model, continuing from the current state."""
        state = tuple(s.copy() for s in self.state)
        token = seed_id
        out = []
        W_d, b_d = self.params["decoder_weight"], self.params["decoder_bias"]
        for _ in range(length):
            fwd = self.cell.forward(self.params, np.array([token]), state)
            state = fwd.state_out
            logits = W_d @ fwd.hs[1] + b_d
            p = np.exp(logits - logits.max())
            token = int(self.sample_rng.choice(len(p), p=p / p.sum()))
            out.append(token)
        return self.corpus.decode(out)
