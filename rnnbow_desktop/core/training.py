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
from .config import MAX_SEQ_LENGTH, TrainConfig
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
    measured: itemized_mod.Measures | None


def batch_gradients(cell, params, inputs, targets, state0, itemize: bool, epsilon: float = 0.05, work=None):
    """Loss, gradients of every parameter and (with `itemize`) the measures of one batch (`itemized.Measures`)."""
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
    # The gradients are taken before the itemized sweep runs: a cell may leave sums for param_grads
    # in its forward cache during a sweep (the GRU does), and the itemized sweep's differ by rounding.
    gates, _ = itemized_mod.sweep(cell, params, fwd, dh_local, False, work)
    grads = cell.param_grads(params, fwd, inputs, gates)
    grads["decoder_weight"] = dlogits.T @ fwd.hs[1:]
    grads["decoder_bias"] = dlogits.sum(axis=0)
    measured = itemized_mod.itemize(cell, params, fwd, dh_local, epsilon, work) if itemize else None
    return BatchGradients(fwd=fwd, loss=loss, predictions=predictions, grads=grads, measured=measured)


def batch_position(batch: int, corpus_length: int, seq_length: int) -> int:
    """The corpus offset of batch `batch`'s first input under the trainer's wrap rule.

    A batch starting at p is trained when p + n + 1 < L (L the corpus length); otherwise training
    restarts at 0 with a fresh state. So every pass reads the positions 0, n, 2n, …: the m
    multiples of n below L − n − 1, m = max(1, ⌈(L − n − 1) / n⌉), and batch b starts at
    (b mod m) · n, with a fresh state exactly when b mod m = 0.
    """
    per_pass = max(1, -(-(corpus_length - seq_length - 1) // seq_length))
    return (batch % per_pass) * seq_length


class Trainer:
    """Trains `corpus` batch by batch; `step()` returns a StepResult with a record when one is due."""

    def __init__(self, corpus: Corpus, config: TrainConfig = TrainConfig()):
        self.config = config.validate()
        if config.seq_length > MAX_SEQ_LENGTH:
            raise ConfigError(f"sequence length must be at most {MAX_SEQ_LENGTH}, not {config.seq_length}")
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

    @classmethod
    def resume(cls, corpus: Corpus, config: TrainConfig, checkpoint: Checkpoint, memory: dict | None = None,
               smooth_loss: float | None = None) -> "Trainer":
        """A trainer that goes on from `checkpoint` exactly as the one that saved it did.

        What training depends on is the parameters, the carried state, Adagrad's memory (`memory`,
        default `checkpoint.memory`) and the corpus position, which follows from the batch number
        (`batch_position`). From these, every later batch is bit-identical to the original run on
        the same machine and libraries. Not restored: the text samples' random stream (samples
        never change training) and the smoothed loss (give `smooth_loss` to continue the curve).
        """
        memory = checkpoint.memory if memory is None else memory
        if memory is None:
            raise ConfigError(f"the checkpoint at batch {checkpoint.batch} has no optimizer memory to resume from")
        trainer = cls(corpus, config)
        missing = set(trainer.trained) - set(memory) | set(trainer.params) - set(checkpoint.params)
        if missing:
            raise ConfigError(f"the checkpoint at batch {checkpoint.batch} lacks {', '.join(sorted(missing))}")
        for name, value in checkpoint.params.items():
            if np.shape(value) != trainer.params[name].shape:
                raise ConfigError(f"checkpoint parameter {name} has shape {np.shape(value)}, "
                                  f"the settings need {trainer.params[name].shape}")
            trainer.params[name] = np.array(value, dtype=float)  # writeable: the update works in place
        trainer.memory = {name: np.array(memory[name], dtype=float) for name in trainer.trained}
        trainer.state = tuple(np.array(s, dtype=float) for s in checkpoint.state)
        trainer.batch = checkpoint.batch
        trainer.position = batch_position(checkpoint.batch, len(corpus.ids), config.seq_length)
        if smooth_loss is not None:
            trainer.smooth_loss = smooth_loss
        return trainer

    def next_batch(self) -> tuple[int, np.ndarray, np.ndarray, tuple]:
        """(position, inputs (n,), targets (n,), entering state) of the batch `step()` trains next."""
        n, ids = self.config.seq_length, self.corpus.ids
        # min-char-rnn's wrap rule: restart at the beginning, with a fresh state, when a batch
        # would run off the end of the stream.
        if self.position + n + 1 >= len(ids) or self.batch == 0:
            self.position = 0
            self.state = self.cell.zero_state(self.config.hidden_size)
        p = self.position
        return p, ids[p : p + n], ids[p + 1 : p + n + 1], self.state

    def step(self) -> StepResult:
        cfg, n, b = self.config, self.config.seq_length, self.batch
        p, inputs, targets, _ = self.next_batch()

        checkpoint = None
        if cfg.checkpoint_every and b % cfg.checkpoint_every == 0:
            checkpoint = Checkpoint(
                batch=b,
                params={k: frozen_array(v) for k, v in self.params.items()},
                state=tuple(frozen_array(s) for s in self.state),
                memory={k: frozen_array(v) for k, v in self.memory.items()},
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
