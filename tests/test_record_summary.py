"""The overview's summary in the session file: written as training goes, equal to one rebuilt from the records, only
ever covering committed records; files without one still open, their summary rebuilt with progress."""

import dataclasses

import h5py
import numpy as np
import pytest

from rnnbow_desktop.analysis.series_summary import BLOCK_SIZES, SERIES, envelope
from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.core.corpus import Corpus
from rnnbow_desktop.core.errors import Cancelled, SessionFormatError
from rnnbow_desktop.core.training import Trainer
from rnnbow_desktop.storage import record_store as record_store_module
from rnnbow_desktop.storage.reader import Session
from rnnbow_desktop.storage.record_store import OVERVIEW_SERIES, RecordStore
from rnnbow_desktop.storage.record_summary import FileSummary, read_records, rebuild_summary
from rnnbow_desktop.storage.writer import SessionWriter

TEXT = "while (p->next) { p = p->next; count++; }\nif (x > 0) { y = x * 2; } else { y = -x; }\n" * 40
BATCHES = 1200  # 600 records: 9 blocks of 64, 1 of 512


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """(compact file with its summary, the same records in format 1 without one)."""
    folder = tmp_path_factory.mktemp("summary")
    config = TrainConfig(hidden_size=8, seq_length=6, record_every=2, checkpoint_every=0, sample_every=0)
    corpus = Corpus("loop.c", TEXT)
    trainer = Trainer(corpus, config)
    results = [trainer.step() for _ in range(BATCHES)]
    paths = []
    for compact in (True, False):
        path = folder / f"{'compact' if compact else 'legacy'}.h5"
        with SessionWriter(path, config, corpus, flush_interval=1e9, compact=compact) as writer:
            for i, result in enumerate(results):
                writer.add(result)
                if i % 101 == 100:
                    writer.flush()
        paths.append(path)
    return paths


def direct(session, size):
    """Each complete block of `size` records: (first batch, last batch), and per series (min, max, mean)."""
    count = session.n_records // size * size
    batch = session.column("batch")[:count].reshape(-1, size)
    values = {"max_gradient": session.column("max_gradient")[:count].astype(np.float64),
              "horizon": session.column("horizon")[:count].astype(np.float64),
              "loss_per_char": session.column("loss")[:count].mean(axis=1, dtype=np.float64)}
    stats = {name: np.stack([v.reshape(-1, size).min(1), v.reshape(-1, size).max(1), v.reshape(-1, size).mean(1)], 1)
             for name, v in values.items()}
    return np.stack([batch[:, 0], batch[:, -1]], 1), stats


def test_the_summary_written_during_training_is_that_of_the_records(files):
    with Session(files[0]) as s, h5py.File(files[0], "r") as f:
        assert s.n_records == 600 and s.summary_sizes == BLOCK_SIZES
        assert [s.summary_available(k) for k in range(2)] == [600 // 64, 600 // 512]
        assert list(f["summary"].attrs["series"]) == list(SERIES)
        for level, size in enumerate(BLOCK_SIZES[:2]):
            blocks = s.summary_blocks(level, 0, 100)
            spans, stats = direct(s, size)
            np.testing.assert_array_equal(blocks.batch, spans)
            np.testing.assert_array_equal(blocks.first, np.arange(len(spans)) * size)
            for name in SERIES:
                # Stored as float32: equal to the direct figures rounded so.
                np.testing.assert_array_equal(blocks.stats[name], stats[name].astype(np.float32), err_msg=name)
            # Plain h5py sees the same numbers.
            np.testing.assert_array_equal(f[f"summary/{size}/max_gradient"][()], stats["max_gradient"].astype(np.float32))


def test_a_summary_rebuilt_from_the_records_equals_the_written_one(files):
    with Session(files[0]) as s:
        rebuilt = rebuild_summary(s)
        for level in range(2):
            stored = s.summary_blocks(level, 0, 100)
            again = rebuilt.blocks(level, 0, 100)
            np.testing.assert_array_equal(again.batch, stored.batch)
            for name in SERIES:
                np.testing.assert_array_equal(again.stats[name].astype(np.float32), stored.stats[name])


def test_an_envelope_from_the_file_equals_one_from_the_records(files):
    with Session(files[0]) as s, Session(files[1]) as legacy:
        assert legacy.summary_sizes == ()  # format 1: none
        from_file = envelope(FileSummary(s), read_records(s), 5, 590, 4, raw_limit=8)
        from_records = envelope(rebuild_summary(legacy), read_records(legacy), 5, 590, 4, raw_limit=8)
        assert from_file.count.max() == 64  # the file's level was used
        assert from_file.first[0] == 5 and from_file.stop == 590
        np.testing.assert_array_equal(from_file.first, from_records.first)
        for name in SERIES:
            np.testing.assert_allclose(from_file.stats[name], from_records.stats[name], rtol=1e-6)


def test_summary_blocks_beyond_the_committed_records_are_never_used(files, tmp_path):
    """A writer killed after writing a block's summary row but before committing its records leaves such a row."""
    path = tmp_path / "killed.h5"
    path.write_bytes(files[0].read_bytes())
    with h5py.File(path, "r+") as f:
        batch = f["records/batch"]
        batch[560:] = -1  # as if the last flush's commit never happened: 560 records committed
        level = f["summary/64/batch"]
        assert level.shape[0] == 9  # covers records 0-575
    with Session(path) as s:
        assert s.n_records == 560 and s.summary_available(0) == 560 // 64
        assert len(s.summary_blocks(0, 0, 100)) == 8


def test_a_damaged_summary_is_refused_like_any_other_dataset(files, tmp_path):
    path = tmp_path / "bad.h5"
    path.write_bytes(files[0].read_bytes())
    with h5py.File(path, "r+") as f:
        del f["summary/512/horizon"]
        f["summary/512"].create_dataset("horizon", data=np.zeros((1, 4), np.float32))
    with pytest.raises(SessionFormatError, match="summary/512/horizon has shape"):
        Session(path)


def test_a_store_draws_from_the_file_summary_or_rebuilds_one(files, monkeypatch):
    stores = [RecordStore.open(path) for path in files]
    assert [s.needs_summary for s in stores] == [False, False]  # small: the format-1 file was summarised at once
    want = stores[0].envelope(0, 600, 1000)  # up to 16,384 records: the records themselves
    assert len(want) == 600
    for store in stores:
        got = store.envelope(0, 600, 1000)
        np.testing.assert_array_equal(got.batch, want.batch)
        np.testing.assert_array_equal(got.stats["max_gradient"], want.stats["max_gradient"])
        assert store.max_gradient_peak() == pytest.approx(float(store.session.column("max_gradient").max()))
        assert store.max_gradient_peak(10, 20) == pytest.approx(float(store.session.column("max_gradient")[10:20].max()))
    for store in stores:
        store.close()


def test_a_large_file_without_a_summary_is_summarised_in_a_task_that_reports_progress_and_can_stop(files, monkeypatch):
    monkeypatch.setattr(record_store_module, "SUMMARY_AT_ONCE", 100)
    store = RecordStore.open(files[1])
    assert store.needs_summary
    sampled = store.envelope(0, 600, 10)  # meanwhile: the records themselves (or a sample of a long run)
    assert sampled.first[0] == 0 and len(sampled) == 600
    reports = []

    def stop_at_once(fraction, text):
        raise Cancelled()

    with pytest.raises(Cancelled):
        store.summary_task()(stop_at_once)
    summary = store.summary_task()(lambda fraction, text: reports.append((fraction, text)))
    assert reports[-1] == (1.0, "summarised 600 of 600 records") and summary.series == OVERVIEW_SERIES
    store.install_summary(summary)
    assert not store.needs_summary and summary.available(0) == 600 // 64
    store.close()


def test_the_store_finds_batches_without_reading_the_whole_column(files, monkeypatch):
    store = RecordStore.open(files[0])
    reads = []
    real = store.session.column
    monkeypatch.setattr(store.session, "column", lambda name, *a, **k: reads.append((name, a)) or real(name, *a, **k))
    def answers():
        return (store.nearest_index(400.7), store.nearest_index(401.6), store.nearest_index(-5), store.nearest_index(5000),
                store.index_of_batch(398), store.index_of_batch(399), store.index_range(100, 200), store.batch_at(599))

    want = (200, 201, 0, 599, 199, None, (49, 101), 1198)  # record r is batch 2r
    assert answers() == want
    assert all(name == "batch" and a[1] - a[0] <= 4 for name, a in reads) and len(reads) < 40  # guessed right
    # Where records are not every record_every-th batch, the guess fails and a binary search finds them.
    store.config = dataclasses.replace(store.config, record_every=3)
    reads.clear()
    assert answers() == want
    assert all(name == "batch" and a[1] - a[0] <= 4 for name, a in reads) and len(reads) < 300
    assert np.array_equal(store.batches, np.arange(0, 1200, 2))  # still there for whoever asks
    store.close()
