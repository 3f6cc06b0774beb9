"""The unit finder: Pearson r against np.corrcoef, constant columns, rankings, and appearance over training."""

from __future__ import annotations

import numpy as np
import pytest

from rnnbow_desktop.analysis.unit_finder import (
    FeatureCorrelations,
    UnitMatch,
    best_over_training,
    best_units,
    feature_correlations,
    first_appearance,
    unit_ranking,
)


def correlations_of(r) -> FeatureCorrelations:
    r = np.asarray(r, dtype=float)
    return FeatureCorrelations(
        r=r,
        states=tuple("hcz"[: r.shape[0]]),
        features=tuple(f"f{k}" for k in range(r.shape[2])),
    )


def test_r_equals_np_corrcoef_for_every_state_unit_and_feature():
    rng = np.random.default_rng(0)
    T, H = 200, 7
    states = {"h": np.tanh(rng.normal(size=(T, H))), "c": rng.normal(size=(T, H)) * 5 + 3}
    features = {"a": rng.normal(size=T), "b": rng.integers(0, 4, size=T).astype(float), "c": rng.random(T)}
    found = feature_correlations(states, features)
    assert found.states == ("h", "c") and found.features == ("a", "b", "c")
    assert found.r.shape == (2, H, 3) and not found.r.flags.writeable
    for s, name in enumerate(states):
        for u in range(H):
            for f, feature in enumerate(features.values()):
                expected = np.corrcoef(states[name][:, u], feature)[0, 1]
                assert found.r[s, u, f] == pytest.approx(expected, abs=1e-12)


def test_constant_columns_give_zero_without_warnings():
    rng = np.random.default_rng(1)
    T = 50
    h = rng.normal(size=(T, 3))
    h[:, 1] = 0.7  # constant, but the mean of fifty 0.7s is not exactly 0.7
    h[:, 2] = 0.0
    assert (h[:, 1] - h[:, 1].mean()).any()
    features = {"varies": rng.normal(size=T), "absent": np.zeros(T), "flat": np.full(T, 1 / 3)}
    assert (features["flat"] - features["flat"].mean()).any()
    r = feature_correlations({"h": h}, features).r  # pytest turns any warning into an error
    assert np.isfinite(r).all()
    np.testing.assert_array_equal(r[0, 1:, :], 0.0)
    np.testing.assert_array_equal(r[0, :, 1:], 0.0)
    assert r[0, 0, 0] != 0.0


def test_a_unit_that_is_a_feature_has_r_of_exactly_one():
    feature = np.arange(30.0) % 7
    h = np.column_stack([2 * feature + 1, -0.5 * feature])
    r = feature_correlations({"h": h}, {"x": feature}).r
    assert r[0, 0, 0] == pytest.approx(1.0, abs=1e-15) and r[0, 0, 0] <= 1.0
    assert r[0, 1, 0] == pytest.approx(-1.0, abs=1e-15) and r[0, 1, 0] >= -1.0


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="T = 5"):
        feature_correlations({"h": np.zeros((4, 2))}, {"x": np.zeros(5)})
    with pytest.raises(ValueError, match="'c'"):
        feature_correlations({"h": np.zeros((5, 2)), "c": np.zeros((5, 3))}, {"x": np.zeros(5)})


def test_best_units_ranks_by_absolute_r_per_feature_and_keeps_ties_in_order():
    # r[state, unit, feature] for states h, c and features f0, f1
    r = [
        [[0.1, 0.5], [-0.9, 0.5], [0.3, 0.0]],
        [[0.9, -0.2], [0.2, 0.7], [-0.4, 0.1]],
    ]
    ranked = best_units(correlations_of(r), top=3)
    assert ranked == (
        UnitMatch("f0", "h", 1, -0.9),
        UnitMatch("f0", "c", 0, 0.9),  # tie with h/1: states keep their order
        UnitMatch("f0", "c", 2, -0.4),
        UnitMatch("f1", "c", 1, 0.7),
        UnitMatch("f1", "h", 0, 0.5),
        UnitMatch("f1", "h", 1, 0.5),
    )
    assert best_units(correlations_of(r), top=1, feature="f1") == (UnitMatch("f1", "c", 1, 0.7),)


def test_unit_ranking_gives_every_unit_its_best_feature():
    r = [[[0.1, -0.6], [0.3, 0.2]], [[0.0, 0.05], [0.95, -0.1]]]
    assert unit_ranking(correlations_of(r)) == (
        UnitMatch("f0", "c", 1, 0.95),
        UnitMatch("f1", "h", 0, -0.6),
        UnitMatch("f0", "h", 1, 0.3),
        UnitMatch("f1", "c", 0, 0.05),
    )


def curve_from(values_per_checkpoint, batches):
    """A TrainingCurve for one feature whose best |r| at checkpoint i sits in unit i % 2 of state c."""
    correlations = []
    for i, value in enumerate(values_per_checkpoint):
        r = np.full((2, 2, 1), 0.01)
        r[1, i % 2, 0] = -value
        correlations.append(correlations_of(r))
    return best_over_training(correlations, batches)


def test_best_over_training_follows_the_best_unit_in_batch_order():
    curve = curve_from([0.3, 0.8, 0.5], batches=[0, 2000, 1000])
    np.testing.assert_array_equal(curve.batches, [0, 1000, 2000])
    np.testing.assert_allclose(curve.best_abs_r[:, 0], [0.3, 0.5, 0.8])
    np.testing.assert_array_equal(curve.best_state[:, 0], [1, 1, 1])
    np.testing.assert_array_equal(curve.best_unit[:, 0], [0, 0, 1])


def test_first_appearance_is_where_half_of_the_gain_is_reached():
    curve = curve_from([0.3, 0.4, 0.7, 0.8], batches=[0, 500, 1000, 1500])
    appeared = first_appearance(curve, "f0")
    assert appeared is not None
    assert appeared.batch == 1000 and appeared.threshold == pytest.approx(0.55)
    assert (appeared.initial, appeared.final) == pytest.approx((0.3, 0.8))
    assert first_appearance(curve, "f0", threshold=0.35).batch == 500
    assert first_appearance(curve, "f0", threshold=0.2).batch == 0
    assert first_appearance(curve, "f0", threshold=0.9) is None


def test_a_feature_that_training_did_not_improve_never_appears():
    assert first_appearance(curve_from([0.5, 0.6, 0.4], [0, 1, 2]), "f0") is None
    assert first_appearance(curve_from([0.5, 0.5], [0, 1]), "f0") is None
