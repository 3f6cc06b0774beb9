"""The n-gram baseline: normalization, a dictionary-based second implementation, hand-worked unigrams, and memory gain."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from rnnbow_desktop.analysis.ngram import (
    CHARACTER_CLASSES,
    FALLBACK_DISCOUNTS,
    character_classes,
    discounts,
    memory_gain,
    train_ngram,
)
from rnnbow_desktop.core.corpus import Corpus
from rnnbow_desktop.core.errors import ConfigError, CorpusError

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"


def reference_probability(ids, V: int, n: int):
    """P(w | h) of interpolated modified Kneser–Ney from Counters and recursion, one probability at a time."""
    ids = [int(i) for i in ids]
    raw = [Counter()] + [
        Counter(tuple(ids[i - k + 1 : i + 1]) for i in range(k - 1, len(ids))) for k in range(1, n + 1)
    ]
    continuation = [Counter() for _ in range(n + 1)]
    for k in range(1, n):
        for gram in raw[k + 1]:
            continuation[k][gram[1:]] += 1  # one more distinct character seen before gram[1:]

    def estimated(counts: Counter):
        values = list(counts.values())
        n1, n2, n3, n4 = (values.count(c) for c in (1, 2, 3, 4))
        if 0 in (n1, n2, n3, n4):
            return FALLBACK_DISCOUNTS
        Y = n1 / (n1 + 2 * n2)
        D = (1 - 2 * Y * n2 / n1, 2 - 3 * Y * n3 / n2, 3 - 4 * Y * n4 / n3)
        return D if all(0 < d <= c for c, d in zip((1, 2, 3), D)) else FALLBACK_DISCOUNTS

    D = {(k, top): estimated(raw[k] if top else continuation[k]) for k in range(1, n + 1) for top in (True, False)}

    def probability(w: int, h: tuple, k: int, top: bool) -> float:
        if k == 0:
            return 1 / V
        if len(h) < k - 1:  # the text before h is unknown: this order has no context
            return probability(w, h, k - 1, False)
        h = h[len(h) - (k - 1) :] if k > 1 else ()
        counts = raw[k] if top else continuation[k]
        followers = {g[-1]: c for g, c in counts.items() if g[:-1] == h and c > 0}
        total = sum(followers.values())
        lower = probability(w, h[1:] if h else (), k - 1, False)
        if total == 0:
            return lower
        discount = lambda c: D[k, top][min(c, 3) - 1] if c else 0.0
        gamma = sum(discount(c) for c in followers.values())
        a = followers.get(w, 0)
        return (a - discount(a) + gamma * lower) / total

    return lambda w, h, order: probability(w, tuple(h), order, True)


def test_probabilities_equal_a_dictionary_based_implementation():
    rng = np.random.default_rng(0)
    # A 6-letter Markov text: repetitive enough that orders 2 … 4 get closed-form discounts.
    V = 7  # id 6 never occurs in training
    transition = rng.dirichlet(np.full(6, 0.4), size=6)
    ids = [0]
    for _ in range(499):
        ids.append(int(rng.choice(6, p=transition[ids[-1]])))
    model = train_ngram(np.array(ids), V, order=4)
    assert sum(level.discounts_top != FALLBACK_DISCOUNTS for level in model.levels) >= 2
    assert sum(level.discounts_mid != FALLBACK_DISCOUNTS for level in model.levels[:-1]) >= 2
    reference = reference_probability(ids, V, 4)
    probe = np.array(ids[100:140] + [6, 1, 6, 6, 2, 3, 0] + ids[:20])
    for order in (1, 2, 3, 4):
        P = model.probabilities(probe, order)
        for t in range(len(probe)):
            history = probe[max(0, t - order + 2) : t + 1]
            expected = [reference(w, history, order) for w in range(V)]
            np.testing.assert_allclose(P[t], expected, rtol=1e-12, err_msg=f"order {order}, t {t}")


def test_every_context_of_every_order_sums_to_one():
    text = (SAMPLES / "c_like.txt").read_text()[:20_000]
    corpus = Corpus("c", text)
    V = corpus.vocab_size + 1  # one character the corpus lacks
    model = train_ngram(corpus.ids, V, order=9)
    for k, level in enumerate(model.levels, start=1):
        for highest in (True, False):
            direct, lower = level.weights(highest)
            per_context = np.add.reduceat(np.append(direct, 0.0), level.starts[:-1])  # (contexts,)
            per_context[np.diff(level.starts) == 0] = 0.0
            np.testing.assert_allclose(per_context + lower, 1.0, rtol=0, atol=1e-12, err_msg=f"order {k}")
            assert (direct >= 0).all() and (lower > 0).all()
    rng = np.random.default_rng(0)
    probe = np.concatenate([corpus.ids[:3000], rng.integers(0, V, 500)])
    for order in range(1, 10):
        P = model.probabilities(probe, order)
        assert P.shape == (len(probe), V) and (P > 0).all()
        np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_loss_is_minus_log_probability_of_the_next_character():
    corpus = Corpus("b", (SAMPLES / "brackets.txt").read_text()[:30_000])
    model = train_ngram(corpus.ids[:25_000], corpus.vocab_size, order=6)
    probe = corpus.ids[25_000:27_000]
    for order in (1, 3, 6):
        loss = model.loss(probe, order)
        P = model.probabilities(probe, order)
        assert loss.shape == (len(probe),) and np.isnan(loss[-1])
        np.testing.assert_allclose(loss[:-1], -np.log(P[np.arange(len(probe) - 1), probe[1:]]), rtol=1e-12)
    assert model.loss(probe[:1]).shape == (1,) and model.loss(probe[:0]).shape == (0,)


def test_an_order_one_model_with_closed_form_discounts_by_hand():
    # "abbcccdddd", V = 5: counts 1, 2, 3, 4, 0, so n1 = n2 = n3 = n4 = 1 and Y = 1/3;
    # D(1) = 1 − 2/3 = 1/3, D(2) = 2 − 1 = 1, D(3+) = 3 − 4/3 = 5/3; γ = 1/3 + 1 + 5/3 + 5/3 = 14/3.
    # P(w) = (c − D(c) + γ/5) / 10: (2/3 + 14/15, 1 + 14/15, 4/3 + 14/15, 7/3 + 14/15, 14/15) / 10.
    ids = np.array([0, 1, 1, 2, 2, 2, 3, 3, 3, 3])
    model = train_ngram(ids, 5, order=1)
    assert model.levels[0].discounts_top == pytest.approx((1 / 3, 1, 5 / 3))
    P = model.probabilities(np.array([2, 0, 4]))
    np.testing.assert_allclose(P, np.tile(np.array([24, 29, 34, 49, 14]) / 150, (3, 1)), rtol=1e-14)


def test_an_order_one_model_with_fallback_discounts_by_hand():
    # "aab", V = 3: n3 = 0, so D = (0.5, 1, 1.5); γ = D(2) + D(1) = 1.5.
    # P = (2 − 1 + 0.5, 1 − 0.5 + 0.5, 0.5) / 3 = (1/2, 1/3, 1/6).
    model = train_ngram(np.array([0, 0, 1]), 3, order=1)
    np.testing.assert_allclose(model.probabilities(np.array([1]))[0], [1 / 2, 1 / 3, 1 / 6], rtol=1e-14)


def test_discounts_fall_back_when_the_closed_form_is_out_of_range():
    assert discounts(np.array([1, 2, 3, 4])) == pytest.approx((1 / 3, 1, 5 / 3))
    assert discounts(np.array([5, 6, 7])) == FALLBACK_DISCOUNTS  # no singletons
    # n1 = 1, n2 = 10, n3 = 1, n4 = 50: Y = 1/21, D(1) = 1/21 and D(2) = 2 − 1/70 are fine,
    # but D(3+) = 3 − 4 · (1/21) · 50 < 0.
    counts = np.array([1] + [2] * 10 + [3] + [4] * 50)
    assert discounts(counts) == FALLBACK_DISCOUNTS


def test_a_deterministic_text_is_predicted_almost_perfectly_at_high_order():
    ids = np.tile(np.arange(7), 200)
    model = train_ngram(ids, 8, order=9)
    probe = np.tile(np.arange(7), 10)[3:]
    loss = model.loss(probe, 9)
    assert loss[8:-1].max() < 1e-3  # once the probe itself provides 8 characters of context
    assert np.nanmean(model.loss(probe, 1)) == pytest.approx(np.log(7), abs=0.01)  # all seven equally often


@pytest.mark.parametrize("sample, orders", [("c_like.txt", range(1, 10)), ("brackets.txt", range(1, 5))])
def test_loss_falls_with_the_order_on_held_out_structured_text(sample, orders):
    corpus = Corpus(sample, (SAMPLES / sample).read_text())
    cut = len(corpus.ids) * 9 // 10
    model = train_ngram(corpus.ids[:cut], corpus.vocab_size, order=max(orders))
    probe = corpus.ids[cut : cut + 20_000]
    losses = [float(np.nanmean(model.loss(probe, order))) for order in orders]
    assert all(a > b for a, b in itertools.pairwise(losses)), losses


def test_bad_orders_and_corpora_are_refused():
    with pytest.raises(ConfigError, match="between 1 and"):
        train_ngram(np.array([0, 1]), 2, order=0)
    with pytest.raises(CorpusError, match="empty"):
        train_ngram(np.array([], dtype=int), 2)
    model = train_ngram(np.array([0, 1, 0]), 2, order=2)
    with pytest.raises(ConfigError, match="orders 1 … 2"):
        model.probabilities(np.array([0]), order=3)


def test_character_classes_by_hand():
    text = "a1 \n({)}'\"`.é\t+"
    names = [CHARACTER_CLASSES[c] for c in character_classes(text)]
    assert names == [
        "letters", "digits", "whitespace", "newline",
        "opening_brackets", "opening_brackets", "closing_brackets", "closing_brackets",
        "quotes", "quotes", "quotes", "punctuation", "letters", "whitespace", "punctuation",
    ]  # fmt: skip


def test_memory_gain_is_model_minus_ngram_loss_by_class_of_the_predicted_character():
    text = "a)b\n"
    model_loss = np.array([1.0, 2.0, 3.0, np.nan])
    ngram_loss = np.array([0.5, 2.5, 1.0, np.nan])
    gain = memory_gain(model_loss, ngram_loss, text)
    np.testing.assert_array_equal(gain.gain, [0.5, -0.5, 2.0, np.nan])
    by_name = {c.name: c for c in gain.classes}
    assert [c.name for c in gain.classes] == list(CHARACTER_CLASSES)
    # entry 0 predicts ')', entry 1 predicts 'b', entry 2 predicts '\n'
    assert (by_name["closing_brackets"].count, by_name["closing_brackets"].gain) == (1, 0.5)
    assert (by_name["letters"].count, by_name["letters"].gain) == (1, -0.5)
    assert (by_name["newline"].count, by_name["newline"].model_loss, by_name["newline"].ngram_loss) == (1, 3.0, 1.0)
    assert by_name["digits"].count == 0 and np.isnan(by_name["digits"].gain)
    assert gain.overall.count == 3 and gain.overall.gain == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="one per character"):
        memory_gain(model_loss[:-1], ngram_loss[:-1], text)
