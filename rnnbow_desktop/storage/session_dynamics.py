"""A session's hidden-state dynamics: its checkpoints, read one at a time, replayed over a probe text and embedded.

The one place the CLI (`rnnbow dynamics`), the Dynamics view and the comparison get them from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..analysis.hidden_dynamics import HiddenDynamics, embed_dynamics
from ..analysis.hidden_trace import (
    MULTIWAY_SAMPLES, MULTIWAY_STEPS, HiddenTrace, build_trace, check_state, reusable_slices,
)
from ..analysis.probe import default_probe
from ..analysis.replay import encode
from ..core.errors import ConfigError, RnnbowError
from ..core.records import Checkpoint
from .reader import Session

Progress = Callable[[float, str], None]

MAX_PROBE_CHARACTERS = 20_000  # the trace holds checkpoints × units × characters numbers
TRACE_SHARE = 0.3  # of the progress bar: replaying the checkpoints; the embedding takes the rest


class SessionCheckpoints(Sequence[Checkpoint]):
    """Some checkpoints of a session, read from the file only when asked for (one holds all parameters)."""

    def __init__(self, session: Session, indices: np.ndarray):
        self.session = session
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i):  # an index, not a slice: build_trace reads one at a time
        return self.session.checkpoint(int(self.indices[i]))


def select_checkpoints(batches: np.ndarray, first: int | None = None, last: int | None = None,
                       limit: int | None = None) -> np.ndarray:
    """Indices of the checkpoints taken at batches first … last (both included; None: no bound).

    With `limit` (≥ 2), at most that many: every k-th, from the first, and the last, with the smallest k
    that keeps to the limit. As a live session grows the chosen ones stay the same until k grows, so
    their replays can be reused."""
    batches = np.asarray(batches)
    keep = np.ones(len(batches), dtype=bool)
    if first is not None:
        keep &= batches >= first
    if last is not None:
        keep &= batches <= last
    chosen = np.flatnonzero(keep)
    if limit is not None and len(chosen) > limit:
        stride = -(-(len(chosen) - 1) // (max(limit, 2) - 1))  # ceil: every stride-th fits in limit - 1 gaps
        chosen = np.unique(np.append(chosen[::stride], chosen[-1]))
    return chosen


def no_dynamics_reason(session: Session, count: int | None = None) -> str | None:
    """Why the session (or `count` of its checkpoints) cannot show dynamics, in one line; None if it can."""
    if not session.info.has_model:
        return "recorded from an external PyTorch model, which RNNbow cannot replay"
    n = session.n_checkpoints if count is None else count
    if n >= 2:
        return None
    every = session.info.config.checkpoint_every
    if every == 0:
        return "no checkpoints: it was trained with checkpoint_every = 0 (train with --checkpoint-every N to record them)"
    have = "no checkpoint yet" if n == 0 else "only 1 checkpoint"
    return f"{have}: the dynamics need at least 2, and this session takes one every {every:,} batches"


def probe_ids(session: Session, text: str | None = None) -> np.ndarray:
    """Token ids (T,) of the probe: `text`, or the default probe of the session's corpus (analysis.probe)."""
    probe = default_probe(session.corpus().text) if text is None else text
    if not probe:
        raise ConfigError("the probe text is empty")
    if len(probe) > MAX_PROBE_CHARACTERS:
        raise ConfigError(f"the probe text has {len(probe):,} characters; use at most {MAX_PROBE_CHARACTERS:,}")
    return encode(probe, session.info.vocab)


def choose_checkpoints(session: Session, first: int | None = None, last: int | None = None,
                       max_checkpoints: int | None = None) -> np.ndarray:
    """Indices of the session's checkpoints taken at batches first … last (select_checkpoints), at most
    `max_checkpoints` (None: all); RnnbowError, saying why, when fewer than 2 are chosen."""
    batches = session.checkpoint_batches()
    reason = no_dynamics_reason(session, len(batches))
    if reason is not None:
        raise RnnbowError(f"{session.path}: {reason}")
    indices = select_checkpoints(batches, first, last, max_checkpoints)
    if len(indices) < 2:
        span = f"{'the start' if first is None else f'batch {first:,}'} to {'the end' if last is None else f'batch {last:,}'}"
        raise RnnbowError(
            f"{session.path}: {len(indices)} checkpoint(s) from {span}; the dynamics need at least 2 "
            f"(checkpoints were taken at batches {batches[0]:,} to {batches[-1]:,}, "
            f"every {session.info.config.checkpoint_every:,})"
        )
    return indices


def default_steps(session: Session) -> int:
    """Characters per multiway window: the session's sequence length, at most MULTIWAY_STEPS."""
    return min(MULTIWAY_STEPS, session.info.config.seq_length)


def read_hidden_trace(
    session: Session,
    text: str | None = None,
    first: int | None = None,
    last: int | None = None,
    state: str = "h",
    multiway: bool = False,
    steps: int | None = None,
    samples: int = MULTIWAY_SAMPLES,
    reuse: HiddenTrace | None = None,
    progress: Progress | None = None,
    max_checkpoints: int | None = None,
) -> HiddenTrace:
    """Replay the session's checkpoints taken at batches first … last over the probe text (see build_trace),
    at most `max_checkpoints` of them (None: all), reading one checkpoint at a time as it is replayed.

    steps (multiway) defaults to `default_steps`. Raises RnnbowError when fewer than 2 checkpoints are chosen.
    """
    check_state(session.info.config.cell, state)
    indices = choose_checkpoints(session, first, last, max_checkpoints)
    ids = probe_ids(session, text)
    steps = default_steps(session) if steps is None else steps
    return build_trace(session.info.config.cell, SessionCheckpoints(session, indices), ids, state, multiway, steps,
                       samples, reuse=reuse, progress=progress)


@dataclass(frozen=True)
class TraceInputs:
    """Everything `build_trace` needs from a session, read at once: with these in memory the file is not
    touched again, so the replay can run while the file's owner goes on (or closes it)."""

    cell: str
    checkpoints: tuple[Checkpoint, ...]  # those whose batch was in `known` hold only their batch (no parameters)
    ids: np.ndarray  # (T,) the probe
    checkpoint_count: int  # checkpoints in the file when read (the chosen ones may be fewer)


def read_trace_inputs(session: Session, text: str | None = None, state: str = "h",
                      max_checkpoints: int | None = None, reuse: HiddenTrace | None = None) -> TraceInputs:
    """The chosen checkpoints (choose_checkpoints over all batches) and the probe ids, read now, for the
    checkpoint form. A checkpoint whose slice `reuse` holds (analysis.hidden_trace.reusable_slices, the rule
    build_trace follows) is not read: only its batch is kept."""
    check_state(session.info.config.cell, state)
    count = session.n_checkpoints
    indices = choose_checkpoints(session, max_checkpoints=max_checkpoints)
    ids = probe_ids(session, text)
    known = reusable_slices(reuse, state, ids)
    batches = session.checkpoint_batches()
    checkpoints = tuple(
        Checkpoint(batch=int(batches[i]), params={}, state=()) if int(batches[i]) in known else session.checkpoint(int(i))
        for i in indices
    )
    return TraceInputs(session.info.config.cell, checkpoints, ids, count)


def session_dynamics(
    session: Session,
    text: str | None = None,
    first: int | None = None,
    last: int | None = None,
    state: str = "h",
    multiway: bool = False,
    interslice_knn: int | None = None,
    steps: int | None = None,
    samples: int = MULTIWAY_SAMPLES,
    reuse: HiddenTrace | None = None,
    progress: Progress | None = None,
    max_checkpoints: int | None = None,
) -> tuple[HiddenTrace, HiddenDynamics]:
    """The trace (read_hidden_trace) and its embedding with curves (embed_dynamics; interslice_knn None:
    max(2, checkpoints // 4)). progress(fraction, text); raising `Cancelled` from it stops the work."""
    report: Progress = progress if progress is not None else (lambda fraction, text: None)
    trace = read_hidden_trace(session, text, first, last, state, multiway, steps, samples, reuse,
                              lambda f, t: report(TRACE_SHARE * f, t), max_checkpoints)
    dynamics = embed_dynamics(trace, interslice_knn, progress=lambda f, t: report(TRACE_SHARE + (1 - TRACE_SHARE) * f, t))
    return trace, dynamics

