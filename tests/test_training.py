"""The trainer: min-char-rnn's training, determinism, and the immutable records it hands out."""

import sys
from pathlib import Path

import numpy as np
import pytest

from rnnbow_desktop.core.corpus import Corpus
from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.core.training import Trainer, batch_gradients
from rnnbow_desktop.core.errors import ConfigError, TrainingDiverged

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from baseline import TextbookRNN  # noqa: E402

TEXT = "int main(void) {\n    return foo->bar[i] + 42;\n}\n" * 40


@pytest.fixture
def corpus():
    return Corpus("snippet", TEXT)


def test_trains_exactly_like_the_textbook_loop(corpus):
    """Same seed, same init order, same clipping and Adagrad: the parameters stay equal batch by batch."""
    cfg = TrainConfig(hidden_size=20, seq_length=9, record_every=3, sample_every=7)
    trainer = Trainer(corpus, cfg)
    ref = TextbookRNN(corpus.vocab_size, hidden_size=20, seed=cfg.seed)
    np.testing.assert_array_equal(trainer.params["weight_hh"], ref.Whh)
    ids, n = corpus.ids, cfg.seq_length
    p, hprev = 0, np.zeros((20, 1))
    for b in range(len(ids) // n + 5):  # runs past the end of the stream: the wrap rule is exercised
        if p + n + 1 >= len(ids) or b == 0:
            p, hprev = 0, np.zeros((20, 1))
        loss, grads, hprev = ref.loss_and_gradients(ids[p : p + n], ids[p + 1 : p + n + 1], hprev)
        ref.update(grads)
        result = trainer.step()
        assert result.position == p
        assert result.loss == pytest.approx(loss, rel=1e-10)
        p += n
    np.testing.assert_allclose(trainer.params["weight_ih"], ref.Wxh, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(trainer.params["weight_hh"], ref.Whh, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(trainer.params["decoder_weight"], ref.Why, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(trainer.params["bias_ih"], ref.bh[:, 0], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(trainer.params["decoder_bias"], ref.by[:, 0], rtol=1e-7, atol=1e-9)
    assert np.all(trainer.params["bias_hh"] == 0), "bias_hh stays at zero like min-char-rnn's single bias"


def test_records_are_due_on_schedule_and_immutable(corpus):
    trainer = Trainer(corpus, TrainConfig(hidden_size=8, seq_length=5, record_every=4, checkpoint_every=6, sample_every=10))
    results = [trainer.step() for _ in range(13)]
    assert [r.batch for r in results if r.record] == [0, 4, 8, 12]
    assert [r.batch for r in results if r.checkpoint] == [0, 6, 12]
    assert [r.batch for r in results if r.sample] == [0, 10]
    record = results[4].record
    assert record.itemized.shape == (5, 5) and record.truncation_error.shape == (5,)
    with pytest.raises(ValueError):
        record.itemized[0, 0] = 1.0
    with pytest.raises(AttributeError):
        record.batch = 3
    assert corpus.decode(record.inputs) == TEXT[record.position : record.position + 5]
    assert corpus.decode(record.targets) == TEXT[record.position + 1 : record.position + 6]


def test_loss_goes_down(corpus):
    trainer = Trainer(corpus, TrainConfig(hidden_size=32, seq_length=10, record_every=50))
    losses = [trainer.step().loss for _ in range(400)]
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:20])


def test_sampling_does_not_change_training(corpus):
    a = Trainer(corpus, TrainConfig(hidden_size=8, seq_length=5, sample_every=1))
    b = Trainer(corpus, TrainConfig(hidden_size=8, seq_length=5, sample_every=0))
    for _ in range(20):
        ra, rb = a.step(), b.step()
        assert ra.loss == rb.loss
    assert ra.sample is not None and len(ra.sample.text) == 200
    assert set(ra.sample.text) <= set(corpus.vocab)


def test_checkpoint_reproduces_its_batch_exactly(corpus):
    """A checkpoint (parameters and h0 before the update) recomputes the batch's record bit for bit."""
    trainer = Trainer(corpus, TrainConfig(hidden_size=12, seq_length=8, checkpoint_every=5))
    for _ in range(11):
        result = trainer.step()
    assert result.batch == 10 and result.checkpoint is not None
    cp, rec = result.checkpoint, result.record
    params = {k: np.array(v) for k, v in cp.params.items()}
    again = batch_gradients(trainer.cell, params, rec.inputs, rec.targets, cp.state, itemize=True)
    np.testing.assert_array_equal(again.measured.itemized, rec.itemized)
    np.testing.assert_array_equal(again.loss, rec.loss)


def test_same_seed_same_results_other_seed_differs(corpus):
    def run(seed):
        t = Trainer(corpus, TrainConfig(hidden_size=8, seq_length=6, seed=seed))
        return [t.step().record.itemized for _ in range(5)]

    first, second, other = run(3), run(3), run(4)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[-1], other[-1])


def test_divergence_is_reported_at_its_batch(corpus):
    trainer = Trainer(corpus, TrainConfig(hidden_size=8, seq_length=6))
    trainer.step()
    trainer.params["weight_hh"][0, 0] = np.nan
    with pytest.raises(TrainingDiverged, match="batch 1"):
        trainer.step()


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"hidden_size": 0}, "hidden size"),
        ({"seq_length": -3}, "seq length"),
        ({"record_every": 0}, "record every"),
        ({"checkpoint_every": -1}, "checkpoint every"),
        ({"learning_rate": float("nan")}, "learning rate"),
        ({"learning_rate": float("inf")}, "learning rate"),
        ({"learning_rate": 0.0}, "learning rate"),
        ({"horizon_epsilon": 1.5}, "horizon epsilon"),
        ({"cell": "transformer"}, "unknown cell"),
    ],
)
def test_invalid_settings_are_refused(corpus, bad, message):
    with pytest.raises(ConfigError, match=message):
        Trainer(corpus, TrainConfig(**bad))


def test_corpus_too_short_for_the_sequence_length():
    with pytest.raises(ConfigError, match="needs at least 26"):
        Trainer(Corpus("tiny", "abcdefghij"), TrainConfig())


def test_sequence_length_is_capped(corpus):
    with pytest.raises(ConfigError, match="sequence length must be at most 512, not 513"):
        Trainer(Corpus("long", TEXT * 2), TrainConfig(seq_length=513))
    assert Trainer(Corpus("long", TEXT * 2), TrainConfig(seq_length=512)).config.seq_length == 512


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_recording_never_changes_how_the_network_trains(corpus, cell):
    """Runs that differ only in what they record train bit-identically: same losses, same weights,
    and the batches both recorded carry identical records."""
    runs = {}
    for every in (1, 7):
        config = TrainConfig(cell=cell, hidden_size=16, seq_length=8, record_every=every, checkpoint_every=0, sample_every=0)
        trainer = Trainer(corpus, config)
        results = [trainer.step() for _ in range(150)]
        runs[every] = (trainer, results)
    (dense, dense_results), (sparse, sparse_results) = runs[1], runs[7]
    assert [r.loss for r in dense_results] == [r.loss for r in sparse_results]
    for name, value in dense.params.items():
        np.testing.assert_array_equal(value, sparse.params[name], err_msg=name)
    shared = [b for b in range(150) if b % 7 == 0]
    assert sum(r.record is not None for r in sparse_results) == len(shared)
    for b in shared:
        np.testing.assert_array_equal(dense_results[b].record.itemized, sparse_results[b].record.itemized)
        np.testing.assert_array_equal(dense_results[b].record.contribution, sparse_results[b].record.contribution)
