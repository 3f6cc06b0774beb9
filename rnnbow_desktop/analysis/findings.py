"""Pointing at the batches of a long run worth a look: spikes, plateaus that end, horizon shifts, conflicts, corpus changes.

Every detector compares a batch with the run around it, never with a global threshold, and turns its
evidence into one number: `score` = how many times over the weakest of its thresholds the finding is,
so 1 is "just reported" and scores rank across kinds. Neighbouring records of one event give one
finding (the strongest), and every finding carries a one-line reason in plain words.

Trailing statistics, approximated to stay fast and small. A window of W records is cut into
BLOCKS = 8 blocks of W/8 records. Each full block is summarised once (median, median absolute
deviation and largest upward excursion, or mean); a record's trailing level is the median of the
medians of the 8 blocks before its own block, and its spread the median of their spreads. So the
window trails a record by 0 to W/8 − 1 records (its own block, where a burst would lift its own
level, is left out) and the median of block medians stands in for the median of the W values: for
stationary noise the two share their centre and differ by 0.017 standard deviations of the noise
(root mean square; measured for normal and Student-t(3) noise, W = 2000). Blocks
are summarised a chunk of 2^20 records at a time, so memory beyond the input columns is O(R / W)
for the statistics plus a fixed chunk, whatever the length of the run. Change tests (horizon shift,
plateau end, corpus change) compare medians of block summaries on either side of a block boundary,
then place the change with a least-squares fit to the raw values near that boundary (a step for
the horizon and the character mix, a flat stretch turning into a decline for a plateau); a change
seen in the loss alone is placed to the nearest chunk of the corpus.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..core.errors import ConfigError

KINDS: tuple[tuple[str, str], ...] = (
    ("gradient_spike", "gradient spike"),
    ("loss_spike", "loss spike"),
    ("plateau_end", "loss plateau ends"),
    ("horizon_shift", "horizon shift"),
    ("conflict", "conflicting update"),
    ("corpus_change", "corpus changes"),
)
_KIND_NAMES = tuple(name for name, _ in KINDS)

BLOCKS = 8  # blocks per window
_HALF = BLOCKS // 2
_MIN_RECORDS = 4 * BLOCKS  # shorter series say nothing
_CHUNK = 1 << 20  # records summarised per pass: bounds the temporaries
_MAD_TO_SIGMA = 1.4826  # MAD of normal noise × this = its standard deviation
_MEDIAN_SE = 1.2533  # standard error of a median / that of a mean, for normal noise
_TINY = 1e-12  # floor before a logarithm: a zero gradient or loss must not give −inf

# Spikes: a value counts when it is this many robust standard deviations above its trailing level,
# AND `_TAIL` times above the typical largest excursion of a trailing block (which holds heavy-tailed
# noise back: there the largest of a block's values is often beyond 6 sigma), AND above a minimum
# effect size. For normal noise the first test decides (a block's largest excursion is ~2.9 sigma).
_SPIKE_Z = 6.0
_TAIL = 2.0
_GRADIENT_MIN_LOG_RATIO = math.log(2.0)  # at least 2× the level
_LOSS_MIN_LOG_RATIO = math.log(1.3)  # at least 1.3× the level
_CONFLICT_MIN_EXCESS = 0.05  # at least 5 percentage points above the level
# Resolution floors for the spread, so a constant series does not give infinite scores.
_LOG_SIGMA_FLOOR = 0.01
_SHARE_SIGMA_FLOOR = 0.005
# Level changes: this many standard errors of the difference of the two window medians.
_CHANGE_Z = 8.0
_HORIZON_MIN_SHIFT = 0.5  # steps
_HORIZON_NOISE_FLOOR = 0.02  # steps, for a block mean
_PLATEAU_MIN_FALL = math.log(1 / 0.95)  # the loss falls at least 5 % after the plateau
_PLATEAU_FLATNESS = 4.0  # the plateau's own drift is at most a quarter of that fall
# Corpus changes: the text across an offset differs this many times more than within either side.
_CORPUS_RATIO = 3.0
_CORPUS_MIN_MIX = 0.2  # total-variation distance of the character mixes
_CORPUS_MIN_LOSS = math.log(1.1)  # a 10 % change of the (detrended) loss level
_CORPUS_MIX_FLOOR = 0.01
_CORPUS_LOSS_FLOOR = 0.01
_MAX_COUNTS = 1 << 22  # character counts kept per chunk of the corpus, in all (32 MB)


@dataclass(frozen=True)
class Finding:
    batch: int
    kind: str  # one of the names in KINDS
    score: float  # times over the weakest of the kind's thresholds (≥ 1); comparable across kinds
    reason: str  # one line in plain words


@dataclass(frozen=True)
class RunSeries:
    """Per-record columns of one run, aligned and in batch order (arrays are used, not copied)."""

    batch: np.ndarray  # (R,) batch number of each record, increasing
    max_gradient: np.ndarray  # (R,)
    horizon: np.ndarray  # (R,) effective horizon, steps
    loss_per_char: np.ndarray  # (R,) mean per-character loss of the recorded batch, nats
    conflict_share: np.ndarray  # (R,) see `conflict_share`
    position: np.ndarray  # (R,) corpus offset of the batch's first input character
    training_loss: np.ndarray | None = None  # (B,) loss of every batch b = 0 … B−1, summed over its n steps
    corpus_ids: np.ndarray | None = None  # (N,) token ids of the corpus
    vocab_size: int | None = None
    seq_length: int | None = None  # n; inferred from positions and batch numbers when None

    def __post_init__(self):
        columns = ("batch", "max_gradient", "horizon", "loss_per_char", "conflict_share", "position")
        lengths = {name: np.shape(getattr(self, name)) for name in columns}
        if len({shape for shape in lengths.values()}) != 1 or len(lengths["batch"]) != 1:
            raise ValueError(f"RunSeries columns must be 1-D and of one length, got {lengths}")
        if self.corpus_ids is not None and self.vocab_size is None:
            raise ValueError("RunSeries: corpus_ids need vocab_size")

    def __len__(self) -> int:
        return len(self.batch)

    def characters_per_batch(self) -> int:
        """n: given, or the typical corpus advance per batch between consecutive records."""
        if self.seq_length is not None:
            return int(self.seq_length)
        head = slice(0, min(len(self), 100_000))  # the first records say it; no need to read all
        step = np.diff(np.asarray(self.position[head], dtype=np.int64))
        gap = np.diff(np.asarray(self.batch[head], dtype=np.int64))
        ok = (step > 0) & (gap > 0)  # a wrap to the corpus start moves backward
        return max(1, int(np.median(step[ok] // gap[ok]))) if ok.any() else 1


def conflict_share(contribution: np.ndarray) -> np.ndarray:
    """Share of a batch's update that its losses pulled against: Σ max(−c, 0) / Σ |c| over all [t, j].

    `contribution` (..., n, n) holds the exact additive decomposition c[t, j] = ⟨G[t, j], S_j⟩ / ‖S_j‖,
    whose columns sum to ‖S_j‖ ≥ 0; so the negative part is at most the positive part and the share
    lies in [0, 1/2]: 0 when every loss pulls with the update, near 1/2 when they nearly cancel.
    An all-zero matrix has share 0. Returns (...,), e.g. (R,) for (R, n, n).
    """
    c = np.asarray(contribution, dtype=np.float64)
    total = np.abs(c).sum(axis=(-2, -1))
    against = -np.minimum(c, 0.0).sum(axis=(-2, -1))
    return np.divide(against, total, out=np.zeros_like(total), where=total > 0)


def find_interesting(
    series: RunSeries, kinds: Iterable[str] | None = None, top: int | None = None, window: int = 2000
) -> list[Finding]:
    """Findings of the requested kinds (all by default), best first, at most `top` of them.

    `window` is the trailing window in records (in batches for the training-loss series); runs
    shorter than two windows use half their length. Findings need enough run on either side: half
    a window before a spike, a window on each side of a horizon shift or corpus change.
    """
    wanted = _KIND_NAMES if kinds is None else (kinds,) if isinstance(kinds, str) else tuple(kinds)
    unknown = [k for k in wanted if k not in _KIND_NAMES]
    if unknown:
        raise ConfigError(f"unknown kind of finding '{unknown[0]}' (known: {', '.join(_KIND_NAMES)})")
    if top is not None and (not isinstance(top, int) or top <= 0):
        raise ConfigError(f"top must be a positive whole number, not {top!r}")
    if not isinstance(window, int) or window < 2 * BLOCKS:
        raise ConfigError(f"window must be a whole number of at least {2 * BLOCKS} records, not {window!r}")

    batches = np.asarray(series.batch)
    record_loss = _Axis(series.loss_per_char, batches, window, log=True)
    loss = record_loss  # one summary serves the spikes, the plateaus and the corpus's loss level
    if series.training_loss is not None:  # every batch, not only the recorded ones; index = batch
        loss = _Axis(series.training_loss, None, window, log=True, scale=1.0 / series.characters_per_batch())
    findings: list[Finding] = []
    if "gradient_spike" in wanted:
        findings += _spikes(_Axis(series.max_gradient, batches, window, log=True), "gradient_spike")
    if "loss_spike" in wanted:
        findings += _spikes(loss, "loss_spike")
    if "conflict" in wanted:
        findings += _spikes(_Axis(series.conflict_share, batches, window, log=False), "conflict")
    if "plateau_end" in wanted:
        findings += _plateau_ends(loss)
    if "horizon_shift" in wanted:
        findings += _horizon_shifts(_Axis(series.horizon, batches, window, log=False))
    if "corpus_change" in wanted:
        findings += _corpus_changes(series, record_loss)
    findings.sort(key=lambda f: (-f.score, f.batch))
    return findings[:top]


class _Axis:
    """One series with its batch numbers, window and block size, and its block summaries once computed."""

    def __init__(self, values, batches: np.ndarray | None, window: int, log: bool, scale: float = 1.0):
        self.values = values  # (L,)
        self.batches = batches  # (L,) or None: index = batch
        self.log = log  # statistics of log values: multiplicative series (gradients, losses)
        self.scale = scale  # multiplies values before use (a summed loss → per character)
        self.window = min(window, len(values) // 2)
        self.block = max(1, self.window // BLOCKS)
        self.n_blocks = len(values) // self.block if len(values) >= _MIN_RECORDS else 0
        self._summary: tuple | None = None

    def batch(self, index) -> int:
        return int(index if self.batches is None else self.batches[index])

    def spacing(self) -> float:
        """Batches per record (records may be every k-th batch)."""
        if self.batches is None or len(self.batches) < 2:
            return 1.0
        return max(1.0, (int(self.batches[-1]) - int(self.batches[0])) / (len(self.batches) - 1))

    def span(self, records: int) -> int:
        """Batches spanned by that many records."""
        return round(records * self.spacing())

    def chunk(self, start: int, stop: int, log: bool | None = None) -> np.ndarray:
        """A float64 copy of values[start:stop], scaled, as logarithms if the axis (or `log`) says so."""
        x = np.array(self.values[start:stop], dtype=np.float64)
        if self.scale != 1.0:
            x *= self.scale
        if self.log if log is None else log:
            np.maximum(x, _TINY, out=x)
            np.log(x, out=x)
        return x

    def summary(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per full block: median, MAD and largest excursion above the median, each (n_blocks,)."""
        if self._summary is None:
            nb, b = self.n_blocks, self.block
            med, mad, top = np.empty(nb), np.empty(nb), np.empty(nb)
            per = max(1, _CHUNK // b)
            for a in range(0, nb, per):
                z = min(nb, a + per)
                x = self.chunk(a * b, z * b).reshape(z - a, b)
                med[a:z] = _row_medians(x)
                x -= med[a:z, None]
                top[a:z] = x.max(axis=1)
                np.abs(x, out=x)
                mad[a:z] = _row_medians(x)
            self._summary = (med, mad, top)
        return self._summary

    def block_means(self) -> np.ndarray:
        nb, b = self.n_blocks, self.block
        out = np.empty(nb)
        per = max(1, _CHUNK // b)
        for a in range(0, nb, per):
            z = min(nb, a + per)
            out[a:z] = self.chunk(a * b, z * b).reshape(z - a, b).mean(axis=1)
        return out


def _row_medians(x: np.ndarray) -> np.ndarray:
    """(m, b) → (m,) medians, reordering each row of x in place (np.median would copy all of x first)."""
    k = x.shape[1] // 2
    if x.shape[1] % 2:
        x.partition(k, axis=1)
        return x[:, k].copy()
    x.partition([k - 1, k], axis=1)
    return (x[:, k - 1] + x[:, k]) / 2


def _trailing(stat: np.ndarray) -> np.ndarray:
    """(nb + 1,): [q] = median of stat over the BLOCKS blocks before block q (fewer early on, NaN before _HALF)."""
    out = np.full(len(stat) + 1, np.nan)
    if len(stat) >= BLOCKS:
        out[BLOCKS:] = np.median(sliding_window_view(stat, BLOCKS), axis=1)
    for q in range(_HALF, min(BLOCKS, len(stat) + 1)):
        out[q] = np.median(stat[:q])
    return out


def _window_medians(stat: np.ndarray, m: int) -> np.ndarray:
    """(nb − m + 1,): [s] = median of stat[s : s + m]."""
    return np.median(sliding_window_view(stat, m), axis=1)


def _block_noise(stat: np.ndarray, floor: float) -> float:
    """Standard deviation of one block summary, from successive differences (robust to level changes)."""
    if len(stat) < 2:
        return floor
    return max(floor, _MAD_TO_SIGMA * float(np.median(np.abs(np.diff(stat)))) / math.sqrt(2))


def _one_per_event(where: np.ndarray, evidence: np.ndarray, radius: int) -> np.ndarray:
    """Indices into `where` (increasing) of the strongest candidate of each run closer than `radius`."""
    if len(where) == 0:
        return np.zeros(0, dtype=np.int64)
    run = np.concatenate([[0], np.cumsum(np.diff(where) > radius)])
    order = np.lexsort((-evidence, run))
    first = np.concatenate([[True], run[order][1:] != run[order][:-1]])
    return order[first]


def _best_split(columns: Iterable[np.ndarray]) -> int:
    """i in 1 … m−1 where the (m,) columns differ most between [:i] and [i:]: CUSUM, summed over columns.

    Columns come one at a time so a text's characters (one indicator column each) need no (m, V) matrix.
    """
    stat = np.zeros(0)
    for y in columns:
        cusum = np.abs(np.cumsum(y - y.mean())[:-1])
        stat = cusum if len(stat) == 0 else stat + cusum
    m = len(stat) + 1
    i = np.arange(1, m)
    return int(i[np.argmax(stat * np.sqrt(m / (i * (m - i))))])


def _hinge_start(y: np.ndarray) -> int:
    """s where y is best fitted by a constant that turns into a straight decline: y ≈ c + β·max(t − s, 0), β < 0."""
    m = len(y)
    t = np.arange(m, dtype=np.float64)

    def suffix(v):  # [s] = Σ_{t ≥ s} v
        return np.cumsum(v[::-1])[::-1]

    N, T1, T2, Y, TY = suffix(np.ones(m)), suffix(t), suffix(t * t), suffix(y), suffix(t * y)
    s = t[1:-1]
    N, T1, T2, Y, TY = N[1:-1], T1[1:-1], T2[1:-1], Y[1:-1], TY[1:-1]
    # Regression on u = max(t − s, 0) with an intercept, all s at once.
    Su, Suu, Suy = T1 - s * N, T2 - 2 * s * T1 + s * s * N, TY - s * Y
    Sxx = Suu - Su * Su / m
    Sxy = Suy - Su * y.sum() / m
    gain = np.where(Sxy < 0, Sxy * Sxy / np.maximum(Sxx, _TINY), -1.0)
    return int(s[np.argmax(gain)])


def _number(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _times(ratio: float) -> str:
    return f"{ratio:.0f}×" if ratio >= 10 else f"{ratio:.1f}×"


_SPIKE_RULES = {
    # kind: (what the reason calls it, minimum excess over the level, floor of the spread)
    "gradient_spike": ("max gradient", _GRADIENT_MIN_LOG_RATIO, _LOG_SIGMA_FLOOR),
    "loss_spike": ("loss", _LOSS_MIN_LOG_RATIO, _LOG_SIGMA_FLOOR),
    "conflict": ("conflict", _CONFLICT_MIN_EXCESS, _SHARE_SIGMA_FLOOR),
}


def _spikes(axis: _Axis, kind: str) -> list[Finding]:
    """Records far above their trailing level: robust z, a heavy-tail guard and an effect size."""
    if axis.n_blocks < _HALF + 1:
        return []
    _, min_excess, floor = _SPIKE_RULES[kind]
    med, mad, top = axis.summary()
    level = _trailing(med)
    sigma = np.maximum(_MAD_TO_SIGMA * _trailing(mad), floor)
    excursion = np.maximum(_trailing(top), floor)
    b = axis.block
    found_at, found_ev = [], []
    step = max(b, _CHUNK // b * b)
    for a in range(_HALF * b, len(axis.values), step):
        z = min(len(axis.values), a + step)
        q = np.arange(a, z) // b
        dev = axis.chunk(a, z) - level[q]
        evidence = np.minimum(dev / (_SPIKE_Z * sigma[q]), dev / (_TAIL * excursion[q]))
        np.minimum(evidence, dev / min_excess, out=evidence)
        hit = np.flatnonzero(evidence >= 1.0)  # NaN (no level yet) is never a hit
        found_at.append(hit + a)
        found_ev.append(evidence[hit])
    where, evidence = np.concatenate(found_at), np.concatenate(found_ev)
    keep = _one_per_event(where, evidence, b)
    out = []
    for i, ev in zip(where[keep], evidence[keep]):
        q = i // b
        value = float(axis.chunk(i, i + 1, False)[0])
        span = f"the previous {axis.span(min(q, BLOCKS) * b):,} batches"
        if kind == "conflict":
            lvl = float(level[q])
            reason = f"{value:.0%} of the contributions pull against the update ({lvl:.0%} over {span})"
        else:
            lvl = math.exp(level[q])
            unit = " nats per character" if kind == "loss_spike" else ""
            reason = f"{_SPIKE_RULES[kind][0]} {_number(value)}{unit}, {_times(value / lvl)} its level over {span}"
        out.append(Finding(axis.batch(i), kind, float(ev), reason))
    return out


def _plateau_ends(axis: _Axis) -> list[Finding]:
    """Boundaries where the log loss was flat for a window and falls in the half window after."""
    nb, b = axis.n_blocks, axis.block
    if nb < 3 * _HALF:
        return []
    med, _, _ = axis.summary()
    half = _window_medians(med, _HALF)  # [s] = median of blocks s … s + HALF − 1
    q = np.arange(2 * _HALF, nb - _HALF + 1)
    early, late, after = half[q - 2 * _HALF], half[q - _HALF], half[q]
    fall, drift = late - after, np.abs(early - late)
    se = _MEDIAN_SE * _block_noise(med, _LOG_SIGMA_FLOOR / math.sqrt(b)) * math.sqrt(2 / _HALF)
    with np.errstate(divide="ignore", invalid="ignore"):  # a perfectly flat plateau: no drift at all
        evidence = np.minimum(fall / (_CHANGE_Z * se), fall / _PLATEAU_MIN_FALL)
        np.minimum(evidence, fall / (_PLATEAU_FLATNESS * drift), out=evidence)
    hit = np.flatnonzero(evidence >= 1.0)
    keep = _one_per_event(q[hit], evidence[hit], _HALF)
    out = []
    for qq, ev in zip(q[hit][keep], evidence[hit][keep]):
        # The evidence peaks up to a few blocks after the true start: fit over all it looked at.
        lo, hi = (qq - 2 * _HALF) * b, min(len(axis.values), (qq + _HALF) * b)
        y = axis.chunk(lo, hi)
        sigma = _MAD_TO_SIGMA * float(np.median(np.abs(y - np.median(y))))
        start = lo + _hinge_start(np.clip(y, -np.inf, half[qq - _HALF] + 6 * sigma))  # tame upward outliers
        plateau, lower = math.exp(half[qq - _HALF]), math.exp(half[qq])
        reason = (f"loss flat near {plateau:.2f} nats per character for {axis.span(2 * _HALF * b):,} batches, "
                  f"then falling to {lower:.2f} over the next {axis.span(_HALF * b):,}")
        out.append(Finding(axis.batch(start), "plateau_end", float(ev), reason))
    return out


def _horizon_shifts(axis: _Axis) -> list[Finding]:
    """Boundaries where the median of block-mean horizons over a window differs from the window before.

    Means, not medians, within a block: the horizon is a small integer, and block medians would
    only take whole values. The median across blocks keeps it robust.
    """
    nb, b = axis.n_blocks, axis.block
    if nb < 2 * BLOCKS:
        return []
    means = axis.block_means()
    level = _window_medians(means, BLOCKS)
    q = np.arange(BLOCKS, nb - BLOCKS + 1)
    shift = level[q] - level[q - BLOCKS]
    se = _MEDIAN_SE * _block_noise(means, _HORIZON_NOISE_FLOOR) * math.sqrt(2 / BLOCKS)
    size = np.abs(shift)
    evidence = np.minimum(size / (_CHANGE_Z * se), size / _HORIZON_MIN_SHIFT)
    hit = np.flatnonzero(evidence >= 1.0)
    keep = _one_per_event(q[hit], evidence[hit], BLOCKS)
    out = []
    for qq, ev in zip(q[hit][keep], evidence[hit][keep]):
        # Window medians shift fully for boundaries up to BLOCKS/2 blocks either side of the true
        # change, so the split is sought over both windows.
        lo, hi = (qq - BLOCKS) * b, min(len(axis.values), (qq + BLOCKS) * b)
        start = lo + _best_split([axis.chunk(lo, hi)])
        before, after = level[qq - BLOCKS], level[qq]
        reason = (f"effective horizon moves from about {before:.1f} to {after:.1f} steps "
                  f"and stays there for the next {axis.span(BLOCKS * b):,} batches")
        out.append(Finding(axis.batch(start), "horizon_shift", float(ev), reason))
    return out


def _total_variation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Total-variation distance between the character mixes of count rows a and b, (m, V) → (m,)."""
    p = a / np.maximum(a.sum(axis=1, keepdims=True), 1)
    r = b / np.maximum(b.sum(axis=1, keepdims=True), 1)
    return 0.5 * np.abs(p - r).sum(axis=1)


def _window_contrast(cum: np.ndarray, q: np.ndarray, measure: Callable) -> tuple[np.ndarray, np.ndarray]:
    """measure(before, after) across each boundary q, and the largest within either side (halves)."""
    across = measure(cum[q] - cum[q - BLOCKS], cum[q + BLOCKS] - cum[q])
    within = np.maximum(
        measure(cum[q - _HALF] - cum[q - BLOCKS], cum[q] - cum[q - _HALF]),
        measure(cum[q + _HALF] - cum[q], cum[q + BLOCKS] - cum[q + _HALF]),
    )
    return across, within


def _first_pass(positions: np.ndarray) -> np.ndarray:
    """The positions up to the first wrap to the corpus start, where they increase (searched a chunk at a time)."""
    for a in range(0, len(positions) - 1, _CHUNK):
        part = np.asarray(positions[a : a + _CHUNK + 1])
        back = np.flatnonzero(part[1:] < part[:-1])
        if len(back):
            return positions[: a + int(back[0]) + 1]
    return positions


def _mix_contrast(ids: np.ndarray, V: int, c: int, n_chunks: int, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Total-variation distance of the character mixes across each chunk boundary q, and its evidence."""
    counts = np.zeros((n_chunks, V))
    step = max(c, _CHUNK // c * c)
    for a in range(0, n_chunks * c, step):
        part = np.asarray(ids[a : min(a + step, n_chunks * c)], dtype=np.int64)
        chunk = a // c + np.arange(len(part)) // c
        counts += np.bincount(chunk * V + part, minlength=n_chunks * V).reshape(n_chunks, V)
    cum = np.concatenate([np.zeros((1, V)), np.cumsum(counts, axis=0)])
    mix, within = _window_contrast(cum, q, _total_variation)
    evidence = np.minimum(mix / (_CORPUS_RATIO * np.maximum(within, _CORPUS_MIX_FLOOR)), mix / _CORPUS_MIN_MIX)
    return mix, evidence


def _loss_contrast(loss: _Axis, positions: np.ndarray, per_pass: float, c: int, n_chunks: int, q: np.ndarray):
    """Change of the detrended log loss across each chunk boundary q (signed), and its evidence.

    The trend is the mean of the block medians over one pass through the corpus centred on each
    block: the text's own ups and downs average out over a pass, the run's learning does not.
    """
    med, _, _ = loss.summary()
    m = int(np.clip(round(per_pass / loss.block), 1, len(med)))
    start = np.clip(np.arange(len(med) + 1) - m // 2, 0, len(med) - m)  # the partial last block too
    cum_med = np.concatenate([[0.0], np.cumsum(med)])
    trend = (cum_med[start + m] - cum_med[start]) / m  # (nb + 1,)
    # Sums and counts of the residuals of the records that start in each chunk, over all passes.
    sums, hits = np.zeros(n_chunks + 1), np.zeros(n_chunks + 1)  # [n_chunks]: the unread tail, dropped
    for a in range(0, len(positions), _CHUNK):
        z = min(len(positions), a + _CHUNK)
        resid = loss.chunk(a, z)
        resid -= trend[np.arange(a, z) // loss.block]
        chunk = np.minimum(positions[a:z] // c, n_chunks)
        sums += np.bincount(chunk, weights=resid, minlength=n_chunks + 1)
        hits += np.bincount(chunk, minlength=n_chunks + 1)
    sums, hits = sums[:-1], hits[:-1]
    cum = np.stack([np.concatenate([[0.0], np.cumsum(sums)]), np.concatenate([[0.0], np.cumsum(hits)])], axis=1)

    def gap(before, after):  # mean residual after minus before; NaN where a side has no records
        have = (before[:, 1] > 0) & (after[:, 1] > 0)
        return np.where(have, after[:, 0] / np.maximum(after[:, 1], 1) - before[:, 0] / np.maximum(before[:, 1], 1), np.nan)

    size, within = _window_contrast(cum, q, lambda x, y: np.abs(gap(x, y)))
    evidence = np.minimum(size / (_CORPUS_RATIO * np.maximum(within, _CORPUS_LOSS_FLOOR)), size / _CORPUS_MIN_LOSS)
    return gap(cum[q] - cum[q - BLOCKS], cum[q + BLOCKS] - cum[q]), np.nan_to_num(evidence)


def _corpus_changes(series: RunSeries, loss: _Axis) -> list[Finding]:
    """Corpus offsets where the character mix, or the detrended loss, differs across more than within.

    The read part of the corpus is cut into chunks of about the text one block of records reads;
    at each chunk boundary the windows of BLOCKS chunks before and after are compared, and the
    difference across the boundary is set against the larger difference between the two halves of
    either window (what the text varies by anyway at that scale). The loss speaks only once the
    run has read the corpus twice: in a single pass, a position and a time are the same thing, and
    a network that suddenly gets better would look like text that gets easier.
    """
    n = series.characters_per_batch()
    positions = np.asarray(series.position)
    if len(positions) < _MIN_RECORDS:
        return []
    read = int(positions.max()) + n + 1
    if series.corpus_ids is not None:
        read = min(read, len(series.corpus_ids))
    c = max(1, min(n * loss.block, read // (2 * BLOCKS + 2)))
    if series.corpus_ids is not None:  # chunks × characters counts stay small for a large vocabulary
        c = max(c, -(-read * int(series.vocab_size or 0) // _MAX_COUNTS))
    n_chunks = read // c
    if n_chunks < 2 * BLOCKS + 1:
        return []
    q = np.arange(BLOCKS, n_chunks - BLOCKS + 1)
    mix = mix_evidence = loss_gap = loss_evidence = np.zeros(len(q))
    if series.corpus_ids is not None:
        mix, mix_evidence = _mix_contrast(series.corpus_ids, int(series.vocab_size or 0), c, n_chunks, q)
    per_pass = read / (n * loss.spacing())  # records per pass through the corpus
    if len(positions) >= 2 * per_pass:
        loss_gap, loss_evidence = _loss_contrast(loss, positions, per_pass, c, n_chunks, q)

    evidence = np.maximum(mix_evidence, loss_evidence)
    hit = np.flatnonzero(evidence >= 1.0)
    keep = _one_per_event(q[hit], evidence[hit], BLOCKS)
    first_pass = _first_pass(positions) if len(hit) else positions
    ids = series.corpus_ids
    out = []
    for i in hit[keep]:
        offset, qq = int(q[i]) * c, int(q[i])
        parts = []
        if mix_evidence[i] >= 1.0 and ids is not None:
            text = np.asarray(ids[(qq - 1) * c : (qq + 1) * c])
            offset = (qq - 1) * c + _best_split(text == v for v in np.unique(text))
            parts.append(f"{mix[i]:.0%} of its character mix differs from the text before")
        if loss_evidence[i] >= 1.0:
            parts.append(f"the loss there is {math.exp(loss_gap[i]):.2f}× that before it")
        # The first batch whose n + 1 characters (inputs and targets) reach the offset.
        first = min(int(np.searchsorted(first_pass, offset - n)), len(first_pass) - 1)
        where = "at" if mix_evidence[i] >= 1.0 else "near"  # the loss places a change to a chunk only
        reason = f"corpus changes {where} offset {offset:,}: " + " and ".join(parts)
        out.append(Finding(int(series.batch[first]), "corpus_change", float(evidence[i]), reason))
    return out
