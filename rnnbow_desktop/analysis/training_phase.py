"""Which batches count as "late in training": the one rule the comparison window and the demo share."""

from __future__ import annotations

LATE_FRACTION = 0.2  # "the last 20 % of training"


def late_training_start(batches_trained: int, fraction: float = LATE_FRACTION) -> int:
    """The first batch of the last `fraction` of `batches_trained` batches (batches are numbered from 0).

    Batches b ≥ the returned value are "late". Counted from the batches trained, not the last one
    recorded, so sessions that record at different intervals agree on where the late phase starts.
    """
    if batches_trained < 0:
        raise ValueError(f"batches_trained must be ≥ 0, not {batches_trained}")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], not {fraction}")
    return int((1 - fraction) * batches_trained)
