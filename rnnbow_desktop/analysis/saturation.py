"""Gate saturation: how often each unit's sigmoid gates are nearly closed or nearly open (Karpathy et al. 2015).

A gate value below `low` is left-saturated (the gate is nearly shut), above `high` right-saturated
(nearly fully open); Karpathy, Johnson & Fei-Fei plot these two fractions per gate and unit against
each other. Only sigmoid gates, with values in (0, 1), have that meaning: LSTM input, forget and
output, GRU reset and update. The tanh "gates" (LSTM's cell candidate, GRU's new state, a vanilla
RNN's hidden state) range over (−1, 1), where 0.1 and 0.9 mark nothing, so they are left out of the
result rather than reported with a number that looks comparable but is not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..core.errors import ConfigError
from ..core.records import frozen_array

# The gates of `cells.py` computed by a sigmoid. Every other gate name there is a tanh.
SIGMOID_GATES = frozenset({"input", "forget", "output", "reset", "update"})
TANH_GATES = frozenset({"hidden", "cell candidate", "new"})


@dataclass(frozen=True)
class GateSaturation:
    """Per unit, the fraction of characters with the gate below `low` and above `high`."""

    left: np.ndarray  # (H,) fraction of steps with gate < low
    right: np.ndarray  # (H,) fraction of steps with gate > high


def gate_saturation(gates: Mapping[str, np.ndarray], low: float = 0.1, high: float = 0.9) -> dict[str, GateSaturation]:
    """Left/right saturation of every sigmoid gate in `gates` (name -> (T, H)); tanh gates are skipped.

    A name that is neither a sigmoid nor a tanh gate of the cells raises ValueError, so that a
    renamed gate cannot silently drop out of the picture.
    """
    if not (0.0 <= low < high <= 1.0):
        raise ConfigError(f"saturation thresholds must satisfy 0 ≤ low < high ≤ 1, not low={low!r}, high={high!r}")
    unknown = set(gates) - SIGMOID_GATES - TANH_GATES
    if unknown:
        raise ValueError(f"unknown gate names: {sorted(unknown)}")
    result = {}
    for name, values in gates.items():
        if name not in SIGMOID_GATES:
            continue
        values = np.asarray(values)  # (T, H)
        if len(values) == 0:
            raise ValueError(f"gate '{name}' has no steps to measure saturation over")
        result[name] = GateSaturation(
            left=frozen_array((values < low).mean(axis=0)),
            right=frozen_array((values > high).mean(axis=0)),
        )
    return result
