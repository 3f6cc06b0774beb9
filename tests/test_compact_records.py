"""Compact records (format 2): the same arrays as format 1 through every reader, every stored number readable with
plain h5py, chunks compressed once, and what a hostile file could do with the new attributes refused."""

import h5py
import numpy as np
import pytest

from rnnbow_desktop.api.session import open_session
from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.core.corpus import Corpus
from rnnbow_desktop.core.errors import SessionFormatError
from rnnbow_desktop.core.training import Trainer
from rnnbow_desktop.storage import reader as reader_module
from rnnbow_desktop.storage import writer as writer_module
from rnnbow_desktop.storage.compressed_columns import STORED_AS_IS, CompressedColumn, shuffle_deflate
from rnnbow_desktop.storage.reader import Session
from rnnbow_desktop.storage.record_store import RecordStore
from rnnbow_desktop.storage.writer import SessionWriter

TEXT = "int f(int x) { return x * 2; }\nwhile (n--) { s += *p++; }\nfor (;;) { if (a[i] > b) break; }\n" * 30
ALLOWED_FILTERS = {1, 2, 3, 6, 32000}  # what the reader accepts (docs/reliability.md)


def steps(cell: str, batches: int, **settings):
    config = TrainConfig(cell=cell, hidden_size=12, seq_length=9, checkpoint_every=40, sample_every=0, **settings)
    corpus = Corpus("loop.c", TEXT)
    trainer = Trainer(corpus, config)
    return config, corpus, [trainer.step() for _ in range(batches)]


def write(path, config, corpus, results, compact: bool, flush_every: int | None = None):
    """The same results written as a session; explicit flushes only (no timing in the file's layout)."""
    with SessionWriter(path, config, corpus, flush_interval=1e9, compact=compact) as writer:
        for i, result in enumerate(results):
            writer.add(result)
            if flush_every and i % flush_every == flush_every - 1:
                writer.flush()
    return path


@pytest.fixture(scope="module", params=["rnn", "lstm", "gru"])
def pair(request, tmp_path_factory):
    """(compact file, format 1 file, trainer's results) of 300 batches, every second one recorded."""
    folder = tmp_path_factory.mktemp(f"compact-{request.param}")
    config, corpus, results = steps(request.param, 300, record_every=2)
    compact = write(folder / "compact.h5", config, corpus, results, True, flush_every=37)
    legacy = write(folder / "legacy.h5", config, corpus, results, False, flush_every=37)
    return compact, legacy, results


def test_every_reader_gets_the_same_arrays_from_both_formats(pair):
    compact, legacy, results = pair
    with Session(compact) as a, Session(legacy) as b:
        assert (a.info.format_version, b.info.format_version) == (2, 1)
        assert a.n_records == b.n_records == 150 and a.batches_trained == b.batches_trained == 300
        for name in a.record_fields:
            for rows in ((0, None, 1), (3, 140, 7), (149, 150, 1), (10, 10, 1)):
                x, y = a.column(name, *rows), b.column(name, *rows)
                assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), (name, rows)
        for i in range(a.n_records):
            ra, rb = a.record(i), b.record(i)
            for field in ra.__dataclass_fields__:
                va, vb = getattr(ra, field), getattr(rb, field)
                assert (va is None and vb is None) or np.array_equal(va, vb), (i, field)
    stores = RecordStore.open(compact), RecordStore.open(legacy)
    for name in ("batches", "max_gradient", "horizon"):
        assert np.array_equal(getattr(stores[0], name), getattr(stores[1], name))
    assert np.array_equal(stores[0].record(77).contribution, stores[1].record(77).contribution)
    for store in stores:
        store.close()
    with open_session(compact) as a, open_session(legacy) as b:
        for name in a.record_fields:
            assert np.array_equal(a.records(name, -20), b.records(name, -20)), name
        assert np.array_equal(a.record(100).itemized, b.record(100).itemized)


def test_the_records_are_the_trainers(pair):
    compact, _, results = pair
    recorded = [r.record for r in results if r.record is not None]
    with Session(compact) as s:
        for i in (0, 1, 64, 149):
            back, rec = s.record(i), recorded[i]
            np.testing.assert_array_equal(back.inputs, rec.inputs)
            np.testing.assert_array_equal(back.targets, rec.targets)
            np.testing.assert_array_equal(back.itemized, rec.itemized.astype(np.float32))
            np.testing.assert_array_equal(back.contribution, rec.contribution.astype(np.float32))
            assert back.max_gradient == np.float32(rec.max_gradient) and back.horizon == rec.horizon


def test_every_stored_number_is_plain_hdf5(pair):
    """What docs/session-format.md tells a reader without RNNbow to do gives the trainer's numbers."""
    compact, _, results = pair
    recorded = [r.record for r in results if r.record is not None]
    with h5py.File(compact, "r") as f:
        n = int(f.attrs["seq_length"])
        t, j = np.tril_indices(n)
        r = 42
        itemized = np.zeros((n, n), np.float32)
        itemized[t, j] = f["records/itemized"][r]
        np.testing.assert_array_equal(itemized, recorded[r].itemized.astype(np.float32))
        p = int(f["records/position"][r])
        np.testing.assert_array_equal(f["corpus"][p : p + n], recorded[r].inputs)
        np.testing.assert_array_equal(f["corpus"][p + 1 : p + n + 1], recorded[r].targets)
        assert list(f["records"].attrs["derived"]) == ["inputs", "targets"]

        def filters(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.chunks is not None:
                plist = obj.id.get_create_plist()
                codes = {plist.get_filter(i)[0] for i in range(plist.get_nfilters())}
                assert codes <= ALLOWED_FILTERS, name

        f.visititems(filters)


def test_compact_files_are_smaller(pair, tmp_path):
    compact, legacy, _ = pair
    assert compact.stat().st_size < 0.6 * legacy.stat().st_size
    # Written in one go, every chunk is compressed (flushed every 37 batches, some are stored as they are).
    config, corpus, results = steps("rnn", 300)
    with h5py.File(write(tmp_path / "once.h5", config, corpus, results, True), "r") as f:
        for name in ("itemized", "contribution", "loss", "position"):
            ds = f["records"][name]
            assert {ds.id.get_chunk_info(i).filter_mask for i in range(ds.id.get_num_chunks())} == {0}, name


def test_a_format_1_reader_refuses_the_compact_file(pair, monkeypatch):
    compact, legacy, _ = pair
    monkeypatch.setattr(reader_module, "FORMAT_VERSION", 1)
    with pytest.raises(SessionFormatError, match="written by a newer RNNbow .session format 2"):
        Session(compact)
    Session(legacy).close()


def test_a_writer_refuses_records_that_are_not_the_corpus_at_their_position(tmp_path):
    config, corpus, results = steps("rnn", 3)
    bad = results[1].record.__class__(**{**results[1].record.__dict__, "position": results[1].record.position + 1})
    writer = SessionWriter(tmp_path / "s.h5", config, corpus, flush_interval=1e9)
    writer.add(results[0])
    writer.add(results[1].__class__(**{**results[1].__dict__, "record": bad}))
    for write_now in (writer.flush, writer.close):  # a mistake of the caller, not of the disk: not written
        with pytest.raises(ValueError, match="not the corpus at their positions"):
            write_now()
    with Session(tmp_path / "s.h5") as s:
        assert s.n_records == 1


def _damaged(pair, tmp_path, change):
    path = tmp_path / "bad.h5"
    path.write_bytes(pair[0].read_bytes())
    with h5py.File(path, "r+") as f:
        change(f)
    return path


def test_only_inputs_and_targets_may_be_derived(pair, tmp_path):
    def derive_itemized(f):
        f["records"].attrs["derived"] = ["inputs", "targets", "itemized"]

    with pytest.raises(SessionFormatError, match="lists inputs, itemized, targets as derived"):
        Session(_damaged(pair, tmp_path, derive_itemized))


def test_a_position_outside_the_corpus_is_refused_when_read(pair, tmp_path):
    def move(f):
        f["records/position"][5] = 10**9

    with Session(_damaged(pair, tmp_path, move)) as s:
        s.record(4)
        with pytest.raises(SessionFormatError, match="position lies outside the corpus"):
            s.record(5)
        with pytest.raises(SessionFormatError, match="position lies outside the corpus"):
            s.column("inputs")


def test_a_packed_matrix_of_the_wrong_width_is_refused(pair, tmp_path):
    def widen(f):
        old = f["records/contribution"]
        data, attrs = old[()], dict(old.attrs)
        del f["records/contribution"]
        ds = f["records"].create_dataset("contribution", data=np.zeros((len(data), data.shape[1] + 1), np.float32))
        ds.attrs.update(attrs)

    with pytest.raises(SessionFormatError, match="records/contribution has shape"):
        Session(_damaged(pair, tmp_path, widen))


# -- the compressed columns ----------------------------------------------------------------------------------
def test_the_encoder_makes_what_hdf5_decodes():
    rng = np.random.default_rng(0)
    block = (rng.gamma(1.0, 1.0, (16, 45)) * np.exp(rng.normal(0, 3, (16, 1)))).astype(np.float32)
    ints = rng.integers(0, 90, (16, 9)).astype(np.int32)
    with h5py.File("encoded.h5", "w", driver="core", backing_store=False) as f:
        for name, data in (("floats", block), ("ints", ints)):
            ds = f.create_dataset(name, shape=data.shape, dtype=data.dtype, chunks=data.shape, shuffle=True,
                                  compression="gzip")
            ds.id.write_direct_chunk((0, 0), shuffle_deflate(data), filter_mask=0)
            np.testing.assert_array_equal(ds[()], data)
    assert len(shuffle_deflate(block)) < 0.9 * block.nbytes


def column_file(path, rows_per_chunk=8):
    f = h5py.File(path, "w", libver="latest")
    ds = f.create_dataset("x", shape=(0, 6), maxshape=(None, 6), dtype=np.float32, chunks=(rows_per_chunk, 6),
                          shuffle=True, compression="gzip", fillvalue=np.nan)
    f.swmr_mode = True
    return f, ds


def test_a_column_holds_back_an_incomplete_chunk_once_and_then_stores_it_as_it_is(tmp_path):
    rng = np.random.default_rng(1)
    rows = rng.gamma(1.0, 1.0, (30, 6)).astype(np.float32)
    f, ds = column_file(tmp_path / "c.h5")
    column = CompressedColumn(ds)
    column.extend(rows[:11])
    assert column.rows_to_write(hold=True) == 8 and column.write(hold=True) == 8  # the complete chunk only
    column.extend(rows[11:13])
    assert column.write(hold=False) == 13  # rows 8-12 must go out now: the chunk written incomplete
    sizes = []
    for stop in (14, 15, 16):
        column.extend(rows[stop - 1 : stop])
        column.write(hold=True)
        f.flush()
        sizes.append((tmp_path / "c.h5").stat().st_size)
    column.extend(rows[16:30])
    assert column.write(hold=False, final=True) == 30
    f.close()
    with h5py.File(tmp_path / "c.h5", "r") as g:
        np.testing.assert_array_equal(g["x"][()], rows)
        masks = [g["x"].id.get_chunk_info(i).filter_mask for i in range(g["x"].id.get_num_chunks())]
    assert masks[0] == 0 and masks[2] == 0 and masks[3] == 0  # complete chunks and the last (final) compressed
    assert masks[1] in (0, STORED_AS_IS)
    if masks[1] == STORED_AS_IS:
        assert sizes[0] == sizes[1] == sizes[2]  # rewritten in place as it filled


def test_flushing_often_leaves_little_dead_space(tmp_path):
    """A file open for SWMR writing never reuses space: a chunk compressed again at every flush would leave
    each earlier copy behind (HDF5's own filters, flushed every 3 records, grew a file ten times). Here
    flushing often costs at most the compression of the chunks it caught incomplete."""
    config, corpus, results = steps("rnn", 400)
    once = write(tmp_path / "once.h5", config, corpus, results, True)
    often = write(tmp_path / "often.h5", config, corpus, results, True, flush_every=3)
    legacy = write(tmp_path / "legacy.h5", config, corpus, results, False, flush_every=3)
    empty = write(tmp_path / "empty.h5", config, corpus, [], True)
    base = empty.stat().st_size
    assert often.stat().st_size - base < 1.5 * (once.stat().st_size - base)
    assert often.stat().st_size < legacy.stat().st_size
    with Session(often) as a, Session(once) as b:
        assert np.array_equal(a.column("contribution"), b.column("contribution"))


def test_interval_flushes_hold_back_an_incomplete_chunk_and_everything_after_it(tmp_path, monkeypatch):
    """A timed flush writes complete chunks only (the rest waits, at most _HOLD_SECONDS, here forever), and the
    losses and checkpoints of the batches held back wait with them: every table holds the same prefix."""
    monkeypatch.setattr(writer_module, "_HOLD_SECONDS", 1e9)
    config, corpus, results = steps("rnn", 130)  # every batch recorded, checkpoints at 0, 40, 80, 120
    path = tmp_path / "held.h5"
    writer = SessionWriter(path, config, corpus, flush_interval=0.0)  # every add is a timed flush
    with h5py.File(path, "r", swmr=True) as f:
        rows = f["records/itemized"].chunks[0]
    seen = set()
    for result in results:
        writer.add(result)
        written = writer.records_written
        assert written == writer.batches_written and (written == 1 or written % rows == 0), written
        seen.add(written)
        with Session(path) as s:
            assert s.n_records == s.batches_trained == written
            assert s.n_checkpoints == len([b for b in range(0, written, 40)])
    assert seen == {1, *range(rows, 130, rows)}
    writer.close()
    with Session(path) as s:
        assert s.n_records == s.batches_trained == 130 and s.n_checkpoints == 4
