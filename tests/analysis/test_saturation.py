"""Gate saturation: hand-made gates, the thresholds' strictness, and which gates count."""

import numpy as np
import pytest

from rnnbow_desktop.analysis.replay import replay
from rnnbow_desktop.analysis.saturation import (
    SIGMOID_GATES,
    TANH_GATES,
    gate_saturation,
)
from rnnbow_desktop.core.cells import CELLS, make_cell
from rnnbow_desktop.core.errors import ConfigError


def test_hand_made_fractions():
    forget = np.array([  # (T = 4, H = 3)
        [0.05, 0.50, 0.95],
        [0.10, 0.50, 0.91],  # exactly 0.1 is not below 0.1
        [0.02, 0.95, 0.90],  # exactly 0.9 is not above 0.9
        [0.99, 0.50, 0.99],
    ])
    cell_candidate = np.full((4, 3), -0.99)  # a tanh gate: not reported
    result = gate_saturation({"forget": forget, "cell candidate": cell_candidate})
    assert set(result) == {"forget"}
    np.testing.assert_array_equal(result["forget"].left, [2 / 4, 0, 0])
    np.testing.assert_array_equal(result["forget"].right, [1 / 4, 1 / 4, 3 / 4])
    with pytest.raises(ValueError):
        result["forget"].left[0] = 1.0


def test_custom_thresholds():
    gate = np.array([[0.2], [0.3], [0.7], [0.8]])
    s = gate_saturation({"update": gate}, low=0.25, high=0.75)["update"]
    np.testing.assert_array_equal(s.left, [0.25])
    np.testing.assert_array_equal(s.right, [0.25])


@pytest.mark.parametrize("low, high", [(0.9, 0.1), (0.5, 0.5), (-0.1, 0.9), (0.1, 1.5), (float("nan"), 0.9)])
def test_bad_thresholds(low, high):
    with pytest.raises(ConfigError, match="thresholds"):
        gate_saturation({"input": np.zeros((2, 2))}, low=low, high=high)


def test_unknown_gate_name_is_an_error():
    with pytest.raises(ValueError, match="forgot"):
        gate_saturation({"forgot": np.zeros((2, 2))})


def test_every_cell_gate_is_classified_once():
    names = [name for cell in CELLS for name in make_cell(cell).gate_names]
    assert set(names) == SIGMOID_GATES | TANH_GATES and not SIGMOID_GATES & TANH_GATES


def test_replayed_lstm_with_a_large_forget_bias_keeps_its_forget_gate_open():
    rng = np.random.default_rng(0)
    H, V = 6, 5
    params = make_cell("lstm").init_params(rng, H, V)
    params["bias_ih"][H : 2 * H] = 20.0  # σ(20) ≈ 1 − 2e-9, whatever the input
    r = replay("lstm", params, None, rng.integers(0, V, 50))
    result = gate_saturation(r.gates)
    assert set(result) == {"input", "output", "forget"}
    np.testing.assert_array_equal(result["forget"].right, np.ones(H))
    np.testing.assert_array_equal(result["forget"].left, np.zeros(H))
    # The other gates' pre-activations are ~0.01: σ ≈ 0.5, saturated neither way.
    assert not result["input"].left.any() and not result["input"].right.any()
