"""The interpretable-unit finder: how well each text feature explains each unit, and when in training that appears.

Karpathy, Johnson & Fei-Fei (2015) found single cells that track line length, quotes and brackets.
Here "explains" is the Pearson correlation r over the characters of a probe text between a unit's
activation (one column of h, c or a gate, (T,)) and a feature (text_features.py, (T,)); a unit is as
good as its |r|. A constant column (a dead or saturated unit, a feature absent from the text)
explains nothing and gets r = 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..core.records import frozen_array

# A column whose spread is below this fraction of its magnitude is constant up to rounding: the
# mean of T equal floats can differ from them in the last bits, and r of that residue is noise.
_CONSTANT_RTOL = 1e-10


@dataclass(frozen=True)
class FeatureCorrelations:
    """Pearson r of every unit of every state with every feature over one probe text."""

    r: np.ndarray  # (S, H, F) read-only; r[s, u, f] for state states[s], unit u, feature features[f]
    states: tuple[str, ...]  # e.g. ("h", "c", "i", "f", "g", "o")
    features: tuple[str, ...]


@dataclass(frozen=True)
class UnitMatch:
    """One unit of one state and the feature it is compared with."""

    feature: str
    state: str
    unit: int
    r: float


@dataclass(frozen=True)
class TrainingCurve:
    """The best |r| per feature at every checkpoint, and which unit reached it."""

    batches: np.ndarray  # (C,) checkpoint batch numbers, increasing
    features: tuple[str, ...]
    states: tuple[str, ...]
    best_abs_r: np.ndarray  # (C, F) max over states and units of |r|
    best_state: np.ndarray  # (C, F) index into `states` of the best unit
    best_unit: np.ndarray  # (C, F) the best unit


@dataclass(frozen=True)
class Appearance:
    """The first checkpoint at which a feature's best |r| reached `threshold`."""

    feature: str
    batch: int
    threshold: float
    initial: float  # best |r| at the first checkpoint
    final: float  # best |r| at the last checkpoint


def feature_correlations(states: Mapping[str, np.ndarray], features: Mapping[str, np.ndarray]) -> FeatureCorrelations:
    """Pearson r for every (state, unit, feature): states map names to (T, H), features names to (T,).

    All states share T and H (h, c and the gates of one cell do). Constant columns give r = 0.
    """
    state_names, feature_names = tuple(states), tuple(features)
    if not state_names or not feature_names:
        raise ValueError("feature_correlations needs at least one state and one feature")
    F = np.column_stack([np.asarray(features[n], dtype=float) for n in feature_names])  # (T, F)
    if F.shape[0] == 0:
        raise ValueError("feature_correlations needs at least one character")
    centred_f, inverse_f = _centred(F)
    Zf = centred_f * inverse_f  # (T, F) unit-norm centred columns
    first = np.asarray(states[state_names[0]])
    if first.ndim != 2 or first.shape[0] != F.shape[0]:
        raise ValueError(f"states must be (T, H) with T = {F.shape[0]} (the features' length), got {first.shape}")
    r = np.empty((len(state_names), first.shape[1], len(feature_names)))  # (S, H, F)
    for s, name in enumerate(state_names):
        X = np.asarray(states[name], dtype=float)  # (T, H)
        if X.shape != first.shape:
            raise ValueError(f"state {name!r} has shape {X.shape}, the others {first.shape}")
        # r is the dot product of unit-norm centred columns; scaling the (H, F) product instead of
        # the (T, H) states saves a pass. Clipped: rounding can leave |r| a hair above 1.
        centred, inverse = _centred(X)
        np.clip((centred.T @ Zf) * inverse[:, None], -1.0, 1.0, out=r[s])
    return FeatureCorrelations(r=frozen_array(r), states=state_names, features=feature_names)


def best_units(correlations: FeatureCorrelations, top: int = 5, feature: str | None = None) -> tuple[UnitMatch, ...]:
    """The `top` units with the largest |r| for each feature (or for `feature` alone), best first.

    Features come in the correlations' order; ties keep the order of states, then units.
    """
    names = correlations.features if feature is None else (feature,)
    H = correlations.r.shape[1]
    matches = []
    for name in names:
        r = correlations.r[:, :, correlations.features.index(name)].ravel()  # (S * H,)
        for flat in np.argsort(-np.abs(r), kind="stable")[:top]:
            matches.append(UnitMatch(name, correlations.states[flat // H], int(flat % H), float(r[flat])))
    return tuple(matches)


def unit_ranking(correlations: FeatureCorrelations) -> tuple[UnitMatch, ...]:
    """Every (state, unit) with the feature that explains it best, ranked by that |r|, best first."""
    r = correlations.r  # (S, H, F)
    H = r.shape[1]
    best_feature = np.abs(r).argmax(axis=2)  # (S, H)
    best_r = np.take_along_axis(r, best_feature[:, :, None], axis=2)[:, :, 0].ravel()  # (S * H,)
    order = np.argsort(-np.abs(best_r), kind="stable")
    return tuple(
        UnitMatch(
            correlations.features[best_feature.flat[k]], correlations.states[k // H], int(k % H), float(best_r[k])
        )
        for k in order
    )


def best_over_training(correlations: Sequence[FeatureCorrelations], batches: Sequence[int]) -> TrainingCurve:
    """The best |r| per feature at each checkpoint; `correlations[i]` was measured at `batches[i]`."""
    if len(correlations) != len(batches) or not correlations:
        raise ValueError("give one FeatureCorrelations per checkpoint batch, at least one")
    order = np.argsort(np.asarray(batches), kind="stable")
    first = correlations[0]
    if any(c.features != first.features or c.states != first.states for c in correlations):
        raise ValueError("every checkpoint must have the same states and features")
    S, H, F = first.r.shape
    abs_r = np.abs(np.stack([correlations[i].r for i in order]))  # (C, S, H, F)
    flat = abs_r.reshape(len(order), S * H, F).argmax(axis=1)  # (C, F)
    return TrainingCurve(
        batches=frozen_array(np.asarray(batches, dtype=np.int64)[order]),
        features=first.features,
        states=first.states,
        best_abs_r=frozen_array(
            np.take_along_axis(abs_r.reshape(len(order), S * H, F), flat[:, None, :], axis=1)[:, 0]
        ),
        best_state=frozen_array(flat // H),
        best_unit=frozen_array(flat % H),
    )


def first_appearance(curve: TrainingCurve, feature: str, threshold: float | None = None) -> Appearance | None:
    """The first checkpoint whose best |r| for `feature` reaches `threshold`; None if none does.

    By default the threshold is half-way between the first checkpoint's value (an untrained
    network's units already correlate by chance) and the last one's: the feature "appears" when
    half of what training added to it is there. When training added nothing (last ≤ first) the
    feature never appeared and the default gives None.
    """
    values = curve.best_abs_r[:, curve.features.index(feature)]  # (C,)
    initial, final = float(values[0]), float(values[-1])
    if threshold is None:
        if final <= initial:
            return None
        threshold = (initial + final) / 2
    reached = np.flatnonzero(values >= threshold)
    if not len(reached):
        return None
    return Appearance(feature, int(curve.batches[reached[0]]), float(threshold), initial, final)


def _centred(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Columns of X (T, K) minus their means, and 1 / their norms (K,), 0 for a constant column."""
    centred = X - X.mean(axis=0)
    norm = np.sqrt(np.einsum("tk,tk->k", centred, centred))  # (K,)
    scale = np.abs(X).max(axis=0, initial=0.0) * np.sqrt(len(X))
    inverse = np.zeros_like(norm)
    np.divide(1.0, norm, out=inverse, where=norm > _CONSTANT_RTOL * scale)
    return centred, inverse
