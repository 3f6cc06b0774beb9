"""The hidden-state trace of a network over training: every checkpoint replayed over one probe text, arranged for the multislice embedding.

Two arrangements, as issue 15 defines them:

- the checkpoint form, (checkpoints, units, characters): one replay of the whole probe per
  checkpoint, from the state training carried at that checkpoint; a unit's features are its
  activations at every character of the probe.
- the multiway form, (checkpoints, steps, units, samples): `samples` windows of `steps` characters,
  their starts spread evenly over the probe (`sample_starts`); each window is replayed on its own
  from the checkpoint's carried state, so step s means "s + 1 characters into a fresh read" for
  every sample alike, as MM-PHATE feeds each sample sequence from the same start. A unit's
  features at step s are its activations there over the samples.

`state` chooses what a unit's activation is: "h", the hidden state (the layer's output, what the
decoder and the next step read; the default, and the only state of rnn and gru), or "c", the
LSTM's cell state (its memory, which h only shows through the output gate).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..core.errors import ConfigError
from ..core.records import Checkpoint, frozen_array
from .replay import replay

Progress = Callable[[float, str], None]

STATES = ("h", "c")
MULTIWAY_STEPS = 25  # issue 15's multiway scale: 25 steps
MULTIWAY_SAMPLES = 64  # windows per checkpoint; a unit's features at one step are its activations over these


@dataclass(frozen=True)
class HiddenTrace:
    """Activations of every unit at every checkpoint over one probe text; arrays are read-only."""

    trace: np.ndarray  # (C, H, T) checkpoint form, or (C, S, H, K) multiway form
    checkpoints: np.ndarray  # (C,) the batch each checkpoint was taken at
    state: str  # "h" or "c"
    ids: np.ndarray  # (T,) the probe text's token ids
    starts: np.ndarray | None  # (K,) probe offset of each multiway sample window; None for the checkpoint form

    @property
    def multiway(self) -> bool:
        return self.starts is not None

    @property
    def units(self) -> int:
        return int(self.trace.shape[-2])

    @property
    def steps(self) -> int:
        """Steps per sample window (multiway); 1 for the checkpoint form."""
        return int(self.trace.shape[1]) if self.multiway else 1


def check_state(cell_name: str, state: str) -> None:
    """ConfigError unless `state` can be traced for this cell: "h" always, "c" for the LSTM only."""
    if state not in STATES:
        raise ConfigError(f"unknown state {state!r}; choose h (hidden state) or c (LSTM cell state)")
    if state == "c" and cell_name != "lstm":
        raise ConfigError(f"a {cell_name} has no cell state c; only an lstm has one (use h)")


def state_over_text(cell_name: str, checkpoint: Checkpoint, ids: np.ndarray, state: str = "h") -> np.ndarray:
    """The chosen state after each character of `ids` (T,), read from the checkpoint's carried state → (T, H)."""
    replayed = replay(cell_name, checkpoint.params, checkpoint.state, ids)
    values = replayed.c if state == "c" else replayed.h
    assert values is not None  # check_state: c only for the LSTM, whose replay keeps it
    return values


def sample_starts(length: int, steps: int, samples: int = MULTIWAY_SAMPLES) -> np.ndarray:
    """Offsets (K,) of up to `samples` windows of `steps` characters in a text of `length`, spread evenly.

    K = min(samples, length - steps + 1): distinct starts, first at 0 and last at length - steps.
    Windows overlap only when the text is shorter than samples × steps.
    """
    if steps < 1 or samples < 1:
        raise ConfigError("steps and samples must be at least 1")
    if length < steps:
        raise ConfigError(f"the probe text has {length} characters; windows of {steps} steps need at least {steps}")
    count = min(samples, length - steps + 1)
    return np.unique(np.round(np.linspace(0, length - steps, count)).astype(np.int64))


def checkpoint_slice(cell_name: str, checkpoint: Checkpoint, ids: np.ndarray, state: str = "h") -> np.ndarray:
    """One checkpoint of the checkpoint form: unit × character → (H, T)."""
    return state_over_text(cell_name, checkpoint, ids, state).T


def multiway_slice(cell_name: str, checkpoint: Checkpoint, ids: np.ndarray, starts: np.ndarray, steps: int,
                   state: str = "h") -> np.ndarray:
    """One checkpoint of the multiway form: step × unit × sample → (S, H, K); window k is ids[starts[k]:starts[k] + steps]."""
    windows = [state_over_text(cell_name, checkpoint, ids[start : start + steps], state) for start in starts]  # K × (S, H)
    return np.stack(windows, axis=-1)  # (S, H, K)


def reusable_slices(reuse: HiddenTrace | None, state: str, ids: np.ndarray, starts: np.ndarray | None = None,
                    steps: int = MULTIWAY_STEPS) -> dict[int, np.ndarray]:
    """The slices of `reuse` by checkpoint batch, if it traced the same state over the same probe in the same
    form (`starts` None: the checkpoint form; else the multiway windows and their `steps`); else {}."""
    if reuse is None or reuse.state != state or not np.array_equal(reuse.ids, ids):
        return {}
    if starts is None:
        same_form = reuse.starts is None
    else:
        same_form = reuse.starts is not None and reuse.steps == steps and np.array_equal(reuse.starts, starts)
    return {int(batch): values for batch, values in zip(reuse.checkpoints, reuse.trace)} if same_form else {}


def build_trace(
    cell_name: str,
    checkpoints: Sequence[Checkpoint],
    ids: np.ndarray,
    state: str = "h",
    multiway: bool = False,
    steps: int = MULTIWAY_STEPS,
    samples: int = MULTIWAY_SAMPLES,
    reuse: HiddenTrace | None = None,
    progress: Progress | None = None,
) -> HiddenTrace:
    """Replay every checkpoint over the probe `ids` (T,) and stack the slices (see the module's docstring).

    `checkpoints` may read each one lazily (a session's): they are taken one at a time, so memory
    holds one checkpoint's parameters besides the trace. `reuse`, an earlier trace of the same probe,
    state and form, gives the slices of the checkpoints it already holds without replaying them (a
    live session adds checkpoints; the old ones do not change).
    progress(fraction, text) is called after each checkpoint; raising `Cancelled` from it stops the work.
    """
    check_state(cell_name, state)
    ids = np.asarray(ids)
    if ids.ndim != 1 or len(ids) == 0:
        raise ConfigError("the probe text is empty")
    if len(checkpoints) == 0:
        raise ConfigError("there are no checkpoints to replay")
    starts = sample_starts(len(ids), steps, samples) if multiway else None
    known = reusable_slices(reuse, state, ids, starts, steps)

    slices, batches = [], []
    total = len(checkpoints)
    for i in range(total):
        checkpoint = checkpoints[i]
        batch = int(checkpoint.batch)
        if batch in known:
            slices.append(known[batch])
        elif starts is not None:
            slices.append(multiway_slice(cell_name, checkpoint, ids, starts, steps, state))
        else:
            slices.append(checkpoint_slice(cell_name, checkpoint, ids, state))
        batches.append(batch)
        if progress is not None:
            progress((i + 1) / total, f"replayed checkpoint {i + 1} of {total} (batch {batch:,})")
    trace = np.stack(slices)
    trace.flags.writeable = False
    return HiddenTrace(trace, frozen_array(batches, np.int64), state, frozen_array(ids),
                       None if starts is None else frozen_array(starts))
