"""Multi-resolution summaries: levels grown piece by piece equal blocks computed directly, and an envelope of any
range covers it exactly, block by block, with the right statistics."""

import numpy as np
import pytest

from rnnbow_desktop.analysis.series_summary import (
    BLOCK_SIZES, Blocks, MemorySummary, SummaryBuilder, combine, envelope, peak_path, record_blocks,
)

SIZES = (4, 16, 64)  # small levels, so that a few thousand records use all of them
SERIES = ("a", "b")


def series(count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    batch = np.cumsum(rng.integers(1, 4, count))  # increasing, with gaps (record_every > 1, missing batches)
    values = {"a": rng.gamma(2.0, 3.0, count), "b": rng.integers(1, 26, count).astype(float)}
    return batch, values


def direct(batch, values, start, stop):
    """The statistics of records start:stop, computed in the plainest way."""
    return (int(batch[start]), int(batch[stop - 1]),
            {name: (v[start:stop].min(), v[start:stop].max(), v[start:stop].mean()) for name, v in values.items()})


def test_each_level_holds_the_blocks_of_its_size_however_the_records_arrive():
    batch, values = series(1000)
    builder = SummaryBuilder(SIZES, SERIES)
    got = [[] for _ in SIZES]
    cuts = [0, 1, 2, 7, 63, 64, 65, 300, 301, 999, 1000]
    for lo, hi in zip(cuts, cuts[1:]):
        for level, new in enumerate(builder.extend(batch[lo:hi], {k: v[lo:hi] for k, v in values.items()})):
            got[level].append(new)
    for level, size in enumerate(SIZES):
        firsts = np.concatenate([g.first for g in got[level]])
        assert list(firsts) == list(range(0, 1000 // size * size, size))  # complete blocks only
        stats = {name: np.concatenate([g.stats[name] for g in got[level]]) for name in SERIES}
        spans = np.concatenate([g.batch for g in got[level]])
        for i, first in enumerate(firsts):
            b0, b1, want = direct(batch, values, first, first + size)
            assert (spans[i, 0], spans[i, 1]) == (b0, b1)
            for name in SERIES:
                np.testing.assert_allclose(stats[name][i], want[name], rtol=1e-12)


def test_combining_blocks_weights_means_by_their_record_counts():
    # Blocks of 1, 3 and 4 records with means 10, 2 and 1: the merged mean is 20/8, not the mean of means.
    blocks = Blocks(np.array([0, 1, 4]), np.array([1, 3, 4]), np.array([[0, 0], [1, 3], [4, 7]]),
                    {"a": np.array([[10.0, 10.0, 10.0], [1.0, 3.0, 2.0], [0.0, 2.0, 1.0]])})
    merged, rest = combine(blocks, 3)
    assert len(rest) == 0 and merged.count.tolist() == [8] and merged.batch.tolist() == [[0, 7]]
    np.testing.assert_allclose(merged.stats["a"][0], [0.0, 10.0, 20 / 8])
    merged, rest = combine(blocks, 2)
    assert len(merged) == 1 and len(rest) == 1 and rest.first.tolist() == [4]


def test_a_summary_can_only_continue_from_the_start_of_a_block():
    with pytest.raises(ValueError):
        SummaryBuilder(SIZES, SERIES, start=5)
    assert SummaryBuilder(SIZES, SERIES, start=128).records == 128


@pytest.mark.parametrize("stored", [1000, 998, 37])  # fully summarised; a few records behind; far behind
def test_an_envelope_covers_its_range_exactly_with_the_right_statistics(stored):
    batch, values = series(1000, seed=1)
    summary = MemorySummary(SIZES, SERIES)
    summary.extend(batch[:stored], {k: v[:stored] for k, v in values.items()})
    reads = []

    def read(start, stop, step):
        reads.append((start, stop, step))
        rows = np.arange(start, stop, step)
        return record_blocks(rows, batch[rows], {k: v[rows] for k, v in values.items()})

    rng = np.random.default_rng(2)
    for _ in range(200):
        start, stop = sorted(rng.integers(0, 1001, 2))
        max_blocks = int(rng.integers(1, 40))
        reads.clear()
        env = envelope(summary, read, int(start), int(stop), max_blocks, raw_limit=8)
        if stop == start:
            assert len(env) == 0
            continue
        sampled = any(step > 1 for _, _, step in reads)
        # Records no level covers are read, unless a long stretch of them is (then they are sampled).
        covered = stored // SIZES[0] * SIZES[0]
        assert sampled == (stop - start > max(8, 4 * max_blocks - 1) and stop - max(start, covered) >= 2 * max(8, max_blocks))
        if sampled:
            assert env.first[0] == start and env.stop <= stop and len(env) >= max_blocks
            continue
        assert env.first[0] == start and env.stop == stop
        np.testing.assert_array_equal(env.first[1:], env.first[:-1] + env.count[:-1])  # contiguous, no gaps
        assert len(env) >= min(max_blocks, stop - start)
        for i in range(len(env)):
            b0, b1, want = direct(batch, values, env.first[i], env.first[i] + env.count[i])
            assert tuple(env.batch[i]) == (b0, b1)
            for name in SERIES:
                np.testing.assert_allclose(env.stats[name][i], want[name], rtol=1e-12)


def test_a_long_range_uses_coarse_blocks_and_reads_only_its_ragged_ends():
    batch, values = series(5000, seed=3)
    summary = MemorySummary(SIZES, SERIES)
    summary.extend(batch, values)
    read_rows = []

    def read(start, stop, step):
        read_rows.append(stop - start)
        rows = np.arange(start, stop, step)
        return record_blocks(rows, batch[rows], {k: v[rows] for k, v in values.items()})

    env = envelope(summary, read, 3, 4997, max_blocks=50, raw_limit=8)
    assert 50 <= len(env) <= 50 * 4 + 2 * (3 + 3 + 3)  # at most one level too fine, plus the ends
    assert sum(read_rows) < 2 * SIZES[0]  # the records themselves only at both ends
    assert env.count.max() == 64


def test_without_levels_a_long_range_is_sampled():
    batch, values = series(100_000, seed=4)

    class NoLevels:
        sizes, series = (), SERIES

    steps = []

    def read(start, stop, step):
        steps.append(step)
        rows = np.arange(start, stop, step)
        return record_blocks(rows, batch[rows], {k: v[rows] for k, v in values.items()})

    env = envelope(NoLevels(), read, 0, 100_000, 100, raw_limit=1000)
    assert steps == [100] and len(env) == 1000 and (env.count == 1).all()
    assert env.first.tolist() == list(range(0, 100_000, 100))


def test_peak_path_passes_through_every_block_minimum_and_maximum():
    blocks = Blocks(np.array([0, 4, 8]), np.array([4, 4, 1]), np.array([[0, 3], [4, 7], [9, 9]]),
                    {"a": np.array([[1.0, 5.0, 2.0], [0.5, 9.0, 3.0], [4.0, 4.0, 4.0]])})
    x, y = peak_path(blocks, "a")
    assert x.tolist() == [0, 3, 4, 7, 9] and y.tolist() == [1.0, 5.0, 0.5, 9.0, 4.0]  # a record alone: one point


def test_default_levels_grow_eightfold():
    assert all(b == 8 * a for a, b in zip(BLOCK_SIZES, BLOCK_SIZES[1:]))
