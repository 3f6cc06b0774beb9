"""The interesting-batch finder: planted events are found where they were planted, noise gives few findings."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest

from rnnbow_desktop.analysis.findings import (
    KINDS,
    Finding,
    RunSeries,
    conflict_share,
    find_interesting,
)
from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.core.corpus import Corpus
from rnnbow_desktop.core.errors import ConfigError
from rnnbow_desktop.core.training import Trainer

N = 25  # characters per batch
R = 24_000  # records of the planted run


def noise_columns(rng, records: int, heavy: bool = False) -> dict:
    """Stationary columns: multiplicative noise on gradient and loss, additive on horizon and share.

    Heavy: Student-t with 3 degrees of freedom in place of normal noise, with the same scales
    (infinite kurtosis: one value in 10,000 lies beyond 22 scale units, where normal noise stops at 3.7).
    """
    noise = (lambda scale: scale * rng.standard_t(3, records)) if heavy else (lambda scale: rng.normal(0, scale, records))
    batch = np.arange(records)
    return {
        "batch": batch,
        "max_gradient": np.exp(0.3 + noise(0.15)),
        "horizon": np.clip(np.round(5 + noise(1.0)), 1, N),
        "loss_per_char": np.exp(np.log(2.0) + noise(0.1)),
        "conflict_share": np.clip(0.06 + noise(0.02), 0, 0.5),
        "position": (batch * N) % 100_000,
        "seq_length": N,
    }


# kind: (planted at batch, tolerance in batches)
PLANTED = {
    "gradient_spike": (7000, 0),
    "loss_spike": (9000, 0),
    "conflict": (12_000, 10),  # a burst of ten batches: any of them
    "horizon_shift": (15_000, 25),
    "plateau_end": (16_000, 100),
}


@pytest.fixture(scope="module", params=[0, 1, 2])
def planted(request):
    """One run with every record-series event of PLANTED, on normal noise; returns (columns, findings)."""
    rng = np.random.default_rng(request.param)
    cols = noise_columns(rng, R)
    cols["max_gradient"][7000] *= 10
    log_loss = np.log(cols["loss_per_char"])
    t = cols["batch"]
    # Flat until 16,000, then down by a third over 2,000 batches, then flat again.
    log_loss += np.where(t < 16_000, 0.0, np.maximum(-0.4, -0.4 * (t - 16_000) / 2000))
    log_loss[9000] += np.log(3.0)
    cols["loss_per_char"] = np.exp(log_loss)
    cols["conflict_share"][12_000:12_010] = 0.3 + rng.normal(0, 0.02, 10)
    cols["horizon"][15_000:] += 2
    return cols, find_interesting(RunSeries(**cols))


@pytest.mark.parametrize("kind", sorted(PLANTED))
def test_planted_event_is_found_first_of_its_kind(planted, kind):
    _, findings = planted
    at, tolerance = PLANTED[kind]
    of_kind = [f for f in findings if f.kind == kind]
    assert of_kind, f"no {kind} among {findings}"
    assert abs(of_kind[0].batch - at) <= tolerance, of_kind[0]


def test_planted_run_has_nothing_but_the_planted_events(planted):
    _, findings = planted
    assert sorted(f.kind for f in findings) == sorted(PLANTED)
    assert [f.score for f in findings] == sorted((f.score for f in findings), reverse=True)
    assert all(f.score >= 1.0 for f in findings)


def test_reasons_state_the_planted_sizes(planted):
    cols, findings = planted
    by_kind = {f.kind: f for f in findings}
    # The level is a median of block medians, and trails by up to one block: within 5 % of the
    # exact median of the 2,000 values before, plus the rounding of the ratio to whole numbers.
    ratio = float(re.search(r", ([\d.]+)× its level over the previous 2,000 batches", by_kind["gradient_spike"].reason)[1])
    exact = cols["max_gradient"][7000] / np.median(cols["max_gradient"][5000:7000])
    assert abs(ratio - exact) <= 0.05 * exact + 0.5
    before, after = map(float, re.search(r"from about ([\d.]+) to ([\d.]+) steps", by_kind["horizon_shift"].reason).groups())
    assert abs(before - 5) <= 0.2 and abs(after - 7) <= 0.2
    # Plateau near 2.00; the half window after it falls to about 2·exp(−0.15) ≈ 1.72.
    plateau, lower = map(float, re.search(r"near ([\d.]+) .* falling to ([\d.]+)", by_kind["plateau_end"].reason).groups())
    assert abs(plateau - 2.0) < 0.05 and 1.6 < lower < 1.85
    share = re.match(r"(\d+)% of the contributions pull against the update \((\d+)% over", by_kind["conflict"].reason)
    assert share and 25 <= int(share[1]) <= 36 and 5 <= int(share[2]) <= 7


def test_findings_do_not_depend_on_units(planted):
    """Gradients and losses are judged on a log scale: multiplying a column by a constant changes no finding."""
    cols, findings = planted
    scaled = find_interesting(RunSeries(**{**cols, "max_gradient": cols["max_gradient"] * 1e3,
                                           "loss_per_char": cols["loss_per_char"] * 0.01}))
    assert [(f.batch, f.kind) for f in scaled] == [(f.batch, f.kind) for f in findings]


def test_inputs_are_not_modified(planted):
    cols, _ = planted
    before = {k: np.copy(v) for k, v in cols.items() if isinstance(v, np.ndarray)}
    find_interesting(RunSeries(**cols))
    for k, v in before.items():
        np.testing.assert_array_equal(cols[k], v)


@pytest.mark.parametrize("seed", range(3))
def test_normal_noise_gives_almost_nothing(seed):
    cols = noise_columns(np.random.default_rng(100 + seed), 40_000)
    assert len(find_interesting(RunSeries(**cols))) <= 2


@pytest.mark.parametrize("seed", range(3))
def test_heavy_tailed_noise_gives_few_findings(seed):
    """Student-t(3) noise has genuine outliers (1 gradient in 10,000 is 28× its level); at most 1 finding per 500 records."""
    records = 40_000
    findings = find_interesting(RunSeries(**noise_columns(np.random.default_rng(200 + seed), records, heavy=True)))
    assert len(findings) <= records // 500
    assert not {f.kind for f in findings} & {"horizon_shift", "plateau_end", "corpus_change"}


def test_brief_horizon_excursion_is_not_a_shift():
    """A horizon that jumps for a tenth of a window and comes back has not changed level."""
    cols = noise_columns(np.random.default_rng(3), 20_000)
    cols["horizon"][10_000:10_200] += 3
    assert not find_interesting(RunSeries(**cols), kinds=["horizon_shift"])


def test_steadily_falling_loss_has_no_plateau():
    cols = noise_columns(np.random.default_rng(4), 20_000)
    cols["loss_per_char"] = cols["loss_per_char"] * np.exp(-np.arange(20_000) / 10_000)  # halves ~3 times
    assert not find_interesting(RunSeries(**cols), kinds=["plateau_end"])


def test_training_loss_of_every_batch_finds_a_spike_between_records():
    """With a record every 10th batch, a loss spike at batch 8,003 is seen only in the per-batch training loss."""
    rng = np.random.default_rng(5)
    batches = 30_000
    training_loss = N * np.exp(np.log(2.0) + rng.normal(0, 0.1, batches))  # summed over the n steps
    training_loss[8003] *= 4
    cols = noise_columns(rng, batches // 10)
    cols["batch"] = np.arange(0, batches, 10)
    cols["position"] = cols["batch"] * N % 100_000
    cols["loss_per_char"] = training_loss[::10] / N
    series = RunSeries(**cols, training_loss=training_loss)
    spikes = find_interesting(series, kinds=["loss_spike"])
    assert [f.batch for f in spikes] == [8003]
    ratio = float(re.search(r"([\d.]+)× its level over the previous 2,000 batches", spikes[0].reason)[1])
    exact = training_loss[8003] / np.median(training_loss[6003:8003])
    assert abs(ratio - exact) <= 0.05 * exact + 0.05
    assert not find_interesting(replace(series, training_loss=None), kinds=["loss_spike"])
    assert replace(series, seq_length=None).characters_per_batch() == N  # inferred across the record gaps


def two_texts(rng, first: str, second: str, length: int) -> tuple[np.ndarray, int]:
    """Ids of `length` random characters from `first` followed by `length` from `second`, and the vocabulary size."""
    vocab = sorted(set(first + second))
    lookup = {ch: i for i, ch in enumerate(vocab)}
    text = "".join(rng.choice(list(first), length)) + "".join(rng.choice(list(second), length))
    return np.array([lookup[ch] for ch in text], dtype=np.int32), len(vocab)


def test_corpus_switch_is_found_at_its_offset():
    """Code-like text, then prose sharing half of its characters: found where the prose begins."""
    rng = np.random.default_rng(6)
    ids, V = two_texts(rng, "abcdefxyz(){};=+*_01 \n", "abcdefghijklmnopqrstuvw ,.\n", 150_000)
    cols = noise_columns(rng, 20_000)
    cols["position"] = (cols["batch"] * N) % (len(ids) - N - 1)  # reads it 1.7 times
    found = find_interesting(RunSeries(**cols, corpus_ids=ids, vocab_size=V), kinds=["corpus_change"])
    assert len(found) == 1
    offset = int(re.search(r"offset ([\d,]+)", found[0].reason)[1].replace(",", ""))
    assert abs(offset - 150_000) <= 10  # the texts share characters: the first few may be either
    # The first batch whose inputs and targets (n + 1 characters) reach the offset.
    b = found[0].batch
    assert cols["position"][b] <= offset <= cols["position"][b] + N
    assert cols["position"][b - 1] + N < offset
    assert "of its character mix differs" in found[0].reason


def test_corpus_loss_level_change_is_found_without_the_corpus():
    """Text twice as hard from offset 60,000 on, in every epoch: found from the loss and positions alone."""
    rng = np.random.default_rng(7)
    cols = noise_columns(rng, 24_000)
    cols["position"] = (cols["batch"] * N) % 120_000  # five epochs
    cols["loss_per_char"] = np.where(cols["position"] >= 60_000, 2.0, 1.0) * cols["loss_per_char"]
    found = find_interesting(RunSeries(**cols), kinds=["corpus_change"])
    assert len(found) == 1
    offset, ratio = re.search(r"near offset ([\d,]+): the loss there is ([\d.]+)× that before", found[0].reason).groups()
    assert abs(int(offset.replace(",", "")) - 60_000) <= 6250  # one chunk: the text a block of records reads
    assert 1.7 <= float(ratio) <= 2.2
    assert abs(found[0].batch - 60_000 // N) <= 6250 // N  # in the first pass


def test_stationary_corpus_gives_no_change():
    rng = np.random.default_rng(8)
    ids, V = two_texts(rng, "abcdefxyz(){};=+*_01 \n", "abcdefxyz(){};=+*_01 \n", 150_000)
    cols = noise_columns(rng, 30_000)
    cols["position"] = (cols["batch"] * N) % (len(ids) - N - 1)  # 2.5 passes: the loss speaks too
    assert not find_interesting(RunSeries(**cols, corpus_ids=ids, vocab_size=V), kinds=["corpus_change"])


def test_conflict_share_hand_worked():
    c = np.array([[2.0, 0.0], [-1.0, 3.0]])  # column sums 1 and 3: the step updates ‖S_j‖
    assert conflict_share(c) == pytest.approx(1 / 6)
    assert conflict_share(np.zeros((3, 3))) == 0.0
    assert conflict_share(np.tril(np.ones((4, 4)))) == 0.0


def test_conflict_share_matches_a_loop_and_stays_below_half():
    rng = np.random.default_rng(9)
    n = 6
    c = np.tril(rng.normal(0, 1, (50, n, n)))  # [t, j]: losses t ≥ j only
    diag = np.arange(n)
    c[:, diag, diag] += np.maximum(0, -c.sum(axis=1)) + 0.1  # every column sums to > 0, as ‖S_j‖ does
    shares = conflict_share(c)
    for r in range(len(c)):
        against = sum(-v for v in c[r].ravel() if v < 0)
        total = sum(abs(v) for v in c[r].ravel())
        assert shares[r] == pytest.approx(against / total)
    assert shares.shape == (50,) and (shares > 0).all() and (shares < 0.5).all()


def test_kinds_top_and_bad_arguments(planted):
    cols, findings = planted
    series = RunSeries(**cols)
    names = [name for name, _ in KINDS]
    assert len(set(names)) == len(names) == 6 and all(label for _, label in KINDS)
    assert {f.kind for f in findings} <= set(names)
    assert find_interesting(series, top=2) == findings[:2]
    assert find_interesting(series, kinds="conflict") == [f for f in findings if f.kind == "conflict"]
    only = find_interesting(series, kinds=["gradient_spike", "conflict"])
    assert only == [f for f in findings if f.kind in ("gradient_spike", "conflict")]
    with pytest.raises(ConfigError, match="unknown kind of finding 'spike'"):
        find_interesting(series, kinds=["spike"])
    with pytest.raises(ConfigError, match="top"):
        find_interesting(series, top=0)
    with pytest.raises(ConfigError, match="window"):
        find_interesting(series, window=4)
    with pytest.raises(ValueError, match="one length"):
        RunSeries(**{**cols, "horizon": cols["horizon"][:-1]})


def test_short_and_constant_series_give_no_findings():
    short = noise_columns(np.random.default_rng(10), 20)
    assert find_interesting(RunSeries(**short)) == []
    flat = {k: (np.full(5000, 1.0) if k in ("max_gradient", "loss_per_char", "horizon") else v)
            for k, v in noise_columns(np.random.default_rng(11), 5000).items()}
    flat["conflict_share"] = np.zeros(5000)
    assert find_interesting(RunSeries(**flat)) == []


def test_end_to_end_training_run_finds_the_corpus_switch():
    """Real training on digits, then letters halfway: the corpus change is found where the letters begin."""
    rng = np.random.default_rng(12)
    half = 1500
    digits = "".join(rng.choice(list("0123456789 +-"), half))
    letters = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz .\n"), half))
    vocab = sorted(set(digits + letters))
    lookup = {ch: i for i, ch in enumerate(vocab)}
    corpus = Corpus.from_ids("digits-then-letters", vocab, [lookup[ch] for ch in digits + letters])
    trainer = Trainer(corpus, TrainConfig(hidden_size=8, seq_length=N, checkpoint_every=0, sample_every=0, seed=3))
    records = [trainer.step().record for _ in range(4 * len(corpus.ids) // N)]  # four passes
    series = RunSeries(
        batch=np.array([r.batch for r in records]),
        max_gradient=np.array([r.max_gradient for r in records]),
        horizon=np.array([r.horizon for r in records]),
        loss_per_char=np.array([r.loss.mean() for r in records]),
        conflict_share=conflict_share(np.stack([r.contribution for r in records])),
        position=np.array([r.position for r in records]),
        corpus_ids=corpus.ids,
        vocab_size=corpus.vocab_size,
    )
    assert series.characters_per_batch() == N  # inferred from positions, across the wraps
    changes = find_interesting(series, kinds=["corpus_change"])
    assert len(changes) == 1
    assert re.search(r"offset 1,500: \d+% of its character mix differs", changes[0].reason)
    # The batch at position 1,475 is the first whose targets include a letter.
    assert changes[0].batch == (half - N) // N
    assert isinstance(changes[0], Finding)
