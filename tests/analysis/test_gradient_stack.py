"""The stacked bars of a batch as numbers, worked by hand on 3 × 3 and 2 × 2 batches."""

from __future__ import annotations

import numpy as np

from rnnbow_desktop.analysis.gradient_stack import gradient_matrix, stack
from rnnbow_desktop.core.records import BatchRecord, frozen_array


def test_positive_parts_stack_farthest_loss_first():
    values = np.array([[1.0, 0, 0], [2, 3, 0], [4, 5, 6]])  # [t, j]
    s = stack(values, k=1)
    # bar 0 from the axis: t = 2 (4), t = 1 (2), t = 0 (1)
    np.testing.assert_array_equal(s.bottom[:, 0], [6, 4, 0])
    np.testing.assert_array_equal(s.top[:, 0], [7, 6, 4])
    # bar 1: t = 2 (5), then t = 1 (3)
    np.testing.assert_array_equal(s.bottom[1:, 1], [5, 0])
    np.testing.assert_array_equal(s.top[1:, 1], [8, 5])
    up, down = s.totals()
    np.testing.assert_array_equal(up, [7, 8, 6])
    np.testing.assert_array_equal(down, [0, 0, 0])
    up, down = s.remainder()  # offsets t − j ≥ 1
    np.testing.assert_array_equal(up, [6, 5, 0])
    assert s.loss_at(0, 6.5) == 0 and s.loss_at(0, 0.5) == 2 and s.loss_at(1, 5.0) == 1
    assert s.loss_at(2, 7.0) is None and s.loss_at(3, 1.0) is None


def test_negative_parts_hang_below_the_axis():
    s = stack(np.array([[-1.0, 0], [2, -3]]), k=2)
    np.testing.assert_array_equal(s.bottom, [[-1, 0], [0, -3]])
    np.testing.assert_array_equal(s.top, [[0, 0], [2, 0]])
    x, y0, height = s.offset_segments(0)
    np.testing.assert_array_equal(x, [0, 1])
    np.testing.assert_array_equal(y0, [-1, -3])
    np.testing.assert_array_equal(height, [1, 3])
    assert s.loss_at(0, -0.5) == 0 and s.loss_at(1, -1.0) == 1


def test_only_the_lower_triangle_counts():
    s = stack(np.array([[1.0, 9.0], [1.0, 1.0]]), k=1)
    assert s.values[0, 1] == 0 and s.n == 2


def _record(gated: bool) -> BatchRecord:
    n = 2
    itemized = np.array([[1.0, 0], [2, 3]])
    return BatchRecord(
        batch=0, position=0, inputs=frozen_array([0, 1]), targets=frozen_array([1, 0]), predictions=frozen_array([1, 1]),
        loss=frozen_array([0.5, 0.5]), itemized=frozen_array(itemized), contribution=frozen_array(-itemized),
        step_gradient=frozen_array(np.ones(n)), max_gradient=3.0, truncation_error=frozen_array(np.zeros(n)), horizon=1,
        itemized_gate=frozen_array(np.stack([itemized * 10, itemized * 100], axis=2)) if gated else None,
    )


def test_gradient_matrix_picks_what_the_mode_and_gate_ask_for():
    values, note = gradient_matrix(_record(False), "magnitude", None)
    np.testing.assert_array_equal(values, [[1, 0], [2, 3]])
    assert note == ""
    values, note = gradient_matrix(_record(True), "magnitude", 1, ("input", "forget"))
    np.testing.assert_array_equal(values, [[100, 0], [200, 300]])
    assert note == "gate: forget"
    values, note = gradient_matrix(_record(True), "contribution", 1, ("input", "forget"))
    np.testing.assert_array_equal(values, [[-1, 0], [-2, -3]])
    assert "all gates" in note
