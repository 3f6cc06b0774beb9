"""The one "late training" rule: the last 20 % of the batches trained."""

from __future__ import annotations

import pytest

from rnnbow_desktop.analysis.training_phase import LATE_FRACTION, late_training_start


@pytest.mark.parametrize(("trained", "start"), [(60, 48), (10, 8), (5, 4), (1, 0), (0, 0), (1001, 800)])
def test_last_fifth_by_hand(trained, start):
    assert LATE_FRACTION == 0.2
    assert late_training_start(trained) == start


def test_other_fractions():
    assert late_training_start(7, 0.5) == 3
    assert late_training_start(40, 1.0) == 0  # all of training


@pytest.mark.parametrize(("trained", "fraction"), [(-1, 0.2), (10, 0.0), (10, 1.5)])
def test_nonsense_is_refused(trained, fraction):
    with pytest.raises(ValueError):
        late_training_start(trained, fraction)
