"""From a hidden-state trace to what the Dynamics view, `rnnbow dynamics` and the comparison show: the embedding per checkpoint and its curves.

The embedding's own defaults are M-PHATE's (interslice_knn=25), so results compare with it. A
desktop session has far fewer checkpoints than M-PHATE's epochs: with 25 or more linked copies
per point and ~20 checkpoints, every unit's trajectory is glued into one place. So the front ends
use `default_interslice_knn`: a quarter of the number of checkpoints (at least 2), the value
at which a split of the units at mid-training shows (measured on synthetic traces, issue 15).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..core.errors import ConfigError
from .dynamics import DynamicsCurves, dynamics_curves
from .hidden_trace import HiddenTrace
from .multislice import multislice_phate

Progress = Callable[[float, str], None]

EMBEDDING_SHARE = 0.9  # of the progress bar: the embedding; the curves take the rest


def default_interslice_knn(checkpoints: int) -> int:
    """The interslice_knn the CLI and the window use for `checkpoints` slices: max(2, checkpoints // 4)."""
    return max(2, int(checkpoints) // 4)


@dataclass(frozen=True)
class HiddenDynamics:
    """The embedding of a hidden-state trace, one slice per checkpoint, with its curves and choices."""

    embedding: np.ndarray  # (C, P, 2): point p of checkpoint c; P = H (checkpoint form) or S·H (multiway)
    checkpoints: np.ndarray  # (C,) batch of each checkpoint
    point_unit: np.ndarray  # (P,) the unit of each point
    point_step: np.ndarray | None  # (P,) the step of each point (multiway), else None
    curves: DynamicsCurves  # spread and communities per checkpoint (multiway: of the units at the last step)
    t: int  # diffusion time chosen
    interslice_knn: int
    state: str  # "h" or "c"
    characters: int  # length of the probe text
    samples: int | None  # sample windows per step (multiway)

    @property
    def units(self) -> int:
        return int(self.point_unit.max()) + 1

    def unit_trajectory(self, unit: int) -> np.ndarray:
        """(C, 2) the unit's place at each checkpoint (multiway: at the last step)."""
        return self.embedding[:, self.curve_points()[unit]]

    def curve_points(self) -> np.ndarray:
        """(H,) the point index of each unit that the curves and trajectories follow (multiway: its last step)."""
        if self.point_step is None:
            return np.arange(len(self.point_unit))
        return np.flatnonzero(self.point_step == self.point_step.max())


def embed_dynamics(
    trace: HiddenTrace,
    interslice_knn: int | None = None,
    random_state: int | None = 0,
    progress: Progress | None = None,
    **embedding_options,
) -> HiddenDynamics:
    """The multislice embedding of `trace` in 2-D and the spread and community curves over its checkpoints.

    interslice_knn=None means `default_interslice_knn(checkpoints)`; other `embedding_options` go to
    `multislice_phate` (its defaults are M-PHATE's). The seed is fixed by default, so the same
    session gives the same picture each time. With the multiway form the curves follow the units at
    the last step of the windows: the state after reading a whole window (every step's points are
    in the embedding; counting communities among all S·H of them would cost S² as much).
    progress(fraction, text); raising `Cancelled` from it stops the work.
    """
    values = trace.trace
    C = values.shape[0]
    if C < 2:
        raise ConfigError(f"the dynamics over training need at least 2 checkpoints, got {C}")
    knn = default_interslice_knn(C) if interslice_knn is None else int(interslice_knn)
    report: Progress = progress if progress is not None else (lambda fraction, text: None)
    result = multislice_phate(
        values, n_components=2, interslice_knn=knn, random_state=random_state,
        progress=lambda fraction, text: report(EMBEDDING_SHARE * fraction, text), **embedding_options,
    )
    H = trace.units
    if trace.multiway:
        S = trace.steps
        point_unit = np.tile(np.arange(H), S)  # row (c·S + s)·H + u of the embedding: point s·H + u
        point_step: np.ndarray | None = np.repeat(np.arange(S), H)
    else:
        point_unit, point_step = np.arange(H), None
    embedding = result.embedding.reshape(C, len(point_unit), 2)
    report(EMBEDDING_SHARE, "spread and communities")
    last = embedding if point_step is None else embedding[:, point_step == point_step.max()]  # (C, H, 2)
    curves = dynamics_curves(last, trace.checkpoints)
    report(1.0, "done")
    for array in (embedding, point_unit, *(() if point_step is None else (point_step,))):
        array.flags.writeable = False
    return HiddenDynamics(
        embedding=embedding, checkpoints=trace.checkpoints, point_unit=point_unit, point_step=point_step,
        curves=curves, t=result.t, interslice_knn=knn, state=trace.state, characters=len(trace.ids),
        samples=None if trace.starts is None else len(trace.starts),
    )
