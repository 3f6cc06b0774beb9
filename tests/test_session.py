"""The session file: round trip, determinism, live reading, and the public names other programs rely on."""

import json
import math
import platform
import subprocess
import time

import h5py
import numpy as np
import pytest

from processes import python_started
from rnnbow_desktop.core.corpus import Corpus
from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.core.training import batch_gradients
from rnnbow_desktop.core.cells import RNNCell
from rnnbow_desktop.core.environment import describe_environment
from rnnbow_desktop.core.errors import SessionWriteError
from rnnbow_desktop.storage.record_store import RecordStore
from rnnbow_desktop.storage.reader import Session
from rnnbow_desktop.storage.writer import SessionWriter
from rnnbow_desktop.storage.run import TrainingRun

TEXT = "while (p->next) { p = p->next; count++; }\n" * 50
CFG = TrainConfig(hidden_size=10, seq_length=7, record_every=2, checkpoint_every=5, sample_every=4, sample_length=30)


def write_session(path, batches=20, cfg=CFG):
    corpus = Corpus("loop.c", TEXT)
    results = []
    with TrainingRun(corpus, cfg, path) as run:
        for _ in range(batches):
            results.append(run.step())
    return results


def test_round_trip(tmp_path):
    path = tmp_path / "s.h5"
    results = write_session(path)
    with Session(path) as s:
        assert s.info.complete and s.notes == []
        assert s.n_records == 10 and s.batches_trained == 20 and s.n_checkpoints == 4
        assert s.info.config == CFG
        assert "".join(s.info.vocab) == "".join(sorted(set(TEXT)))
        np.testing.assert_allclose(s.training_loss(), [r.loss for r in results], rtol=1e-6)
        recorded = [r.record for r in results if r.record]
        for i, rec in enumerate(recorded):
            back = s.record(i)
            assert back.batch == rec.batch and back.position == rec.position and back.horizon == rec.horizon
            np.testing.assert_array_equal(back.inputs, rec.inputs)
            np.testing.assert_array_equal(back.predictions, rec.predictions)
            for name in ("loss", "itemized", "contribution", "step_gradient", "truncation_error"):
                np.testing.assert_allclose(getattr(back, name), getattr(rec, name), rtol=1e-6, atol=1e-30)
        assert s.find_record(4) == 2 and s.find_record(5) is None
        assert s.nearest_batches(5) == [4, 6]
        assert [b for b, _ in s.samples()] == [0, 4, 8, 12, 16]
        assert s.corpus().text == TEXT
        cp = s.checkpoint(1)
        assert cp.batch == 5
        # Checkpoints hold what is needed to recompute a batch exactly: parameters and h0.
        rec = next(r.record for r in results if r.batch == 6)
        cp6 = next(r.checkpoint for r in results if r.batch == 5)
        np.testing.assert_array_equal(cp.params["weight_hh"], cp6.params["weight_hh"])
        np.testing.assert_array_equal(cp.state[0], cp6.state[0])
        assert rec is not None


def test_checkpoint_in_the_file_recomputes_the_recorded_batch(tmp_path):
    path = tmp_path / "s.h5"
    write_session(path, batches=12, cfg=TrainConfig(hidden_size=10, seq_length=7, checkpoint_every=5))
    with Session(path) as s:
        cp = s.checkpoint(2)  # batch 10
        index = s.find_record(cp.batch)
        rec = s.record(index)
        corpus = s.corpus()
    ids = corpus.ids[rec.position : rec.position + 8]
    again = batch_gradients(RNNCell(), cp.params, ids[:-1], ids[1:], cp.state, itemize=True)
    np.testing.assert_allclose(again.measured.itemized, rec.itemized, rtol=1e-6)


def test_public_names_and_shapes(tmp_path):
    path = tmp_path / "s.h5"
    write_session(path)
    with h5py.File(path, "r") as f:
        a = f.attrs
        assert a["format"] == "rnnbow-session" and a["format_version"] == 2 and a["cell"] == "rnn"
        for key in ("hidden_size", "seq_length", "learning_rate", "seed", "horizon_epsilon", "record_every", "checkpoint_every", "app_version"):
            assert key in a
        assert f["vocab"].dtype == np.int32
        assert f["corpus"].attrs["sha256"] == Corpus("x", TEXT).sha256
        n, V, H = 7, len(set(TEXT)), 10
        # Compact records (format 2): inputs and targets derived from the corpus, [t, j] matrices as
        # their lower triangles; tests/test_compact_records.py checks both against format 1.
        assert list(f["records"].attrs["derived"]) == ["inputs", "targets"] and "inputs" not in f["records"]
        assert f["records/itemized"].attrs["packing"] == "lower triangle"
        shapes = {
            "records/batch": (10,), "records/position": (10,), "records/predictions": (10, n), "records/loss": (10, n),
            "records/itemized": (10, n * (n + 1) // 2), "records/contribution": (10, n * (n + 1) // 2),
            "records/step_gradient": (10, n), "records/max_gradient": (10,),
            "records/truncation_error": (10, n), "records/horizon": (10,),
            "checkpoints/batch": (4,), "checkpoints/weight_ih": (4, H, V), "checkpoints/weight_hh": (4, H, H),
            "checkpoints/bias_ih": (4, H), "checkpoints/bias_hh": (4, H), "checkpoints/decoder_weight": (4, V, H),
            "checkpoints/decoder_bias": (4, V), "checkpoints/h0": (4, H), "training/loss": (20,),
            "samples/batch": (5,), "samples/text": (5,),
        }
        for name, shape in shapes.items():
            assert f[name].shape == shape, name
        assert f["records/batch"].dtype == np.int64


def test_same_arguments_give_identical_contents(tmp_path):
    write_session(tmp_path / "a.h5")
    write_session(tmp_path / "b.h5")

    def contents(path):
        out = {}
        with h5py.File(path, "r") as f:
            out["/"] = {k: np.asarray(v).tolist() for k, v in f.attrs.items()}

            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    out[name] = (obj[()].tobytes() if obj.dtype.kind != "O" else list(obj[()]), dict(obj.attrs))

            f.visititems(visit)
        return out

    a, b = contents(tmp_path / "a.h5"), contents(tmp_path / "b.h5")
    assert a.keys() == b.keys()
    for key in a:
        assert a[key] == b[key], key


def test_existing_file_is_refused_and_untouched(tmp_path):
    path = tmp_path / "keep.h5"
    path.write_bytes(b"precious")
    with pytest.raises(SessionWriteError, match="already exists"):
        SessionWriter(path, CFG, Corpus("x", TEXT))
    assert path.read_bytes() == b"precious"


def test_live_reader_in_another_process_sees_records_grow(tmp_path):
    """A session being written can be opened by another process, which sees it grow."""
    path = tmp_path / "live.h5"
    code = (
        "import time, sys\n"
        "from rnnbow_desktop.core.corpus import Corpus\n"
        "from rnnbow_desktop.core.config import TrainConfig\n"
        "from rnnbow_desktop.storage.run import TrainingRun\n"
        f"run = TrainingRun(Corpus('c', {TEXT!r}), TrainConfig(hidden_size=8, seq_length=6), {str(path)!r})\n"
        "print('ready', flush=True)\n"
        "end = time.monotonic() + 60\n"
        "while time.monotonic() < end and sys.stdin.readline().strip() != 'stop':\n"
        "    for _ in range(50):\n"
        "        run.step()\n"
        "    run.writer.flush()\n"
        "    print('flushed', run.batch, flush=True)\n"
        "run.close()\n"
    )
    with python_started(code, stdin=subprocess.PIPE, stderr=None) as proc:
        assert proc.stdout.readline().strip() == "ready"
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().startswith("flushed 50")
        store = RecordStore.open(path)
        assert len(store) == 50 and store.session.notes, "opened in read-while-writing mode, and says so"
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().startswith("flushed 100")
        deadline = time.monotonic() + 5
        while not store.refresh() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(store) == 100
        assert store.record(99).batch == 99
        store.close()
        proc.stdin.write("stop\n")
        proc.stdin.flush()
        assert proc.wait(timeout=20) == 0
    with Session(path) as s:
        assert s.info.complete and s.n_records == 100


def test_writer_flushes_on_its_own_within_a_second(tmp_path):
    path = tmp_path / "auto.h5"
    run = TrainingRun(Corpus("c", TEXT), TrainConfig(hidden_size=8, seq_length=6), path)
    try:
        start = time.monotonic()
        while time.monotonic() - start < 1.2:
            run.step()
        with Session(path) as s:
            seen = s.n_records
        assert seen > 0, "records flushed within ~1 s are visible to a reader"
    finally:
        run.close()


# -- a full disk after the first batch keeps it (issue 13) ---------------------------------------


def test_the_first_batch_is_committed_at_once(tmp_path):
    """A write error any time after the first batch keeps records, however fast the machine: the
    first flush no longer waits for the flush interval, in which a fast machine trained hundreds
    of batches (and the disk had to hold all of them, or the file kept none)."""
    path = tmp_path / "first.h5"
    run = TrainingRun(Corpus("c", TEXT), CFG, path)
    try:
        run.writer.flush_interval = 1e9  # stands for a machine that trains everything before a timed flush
        run.step()
        assert run.writer.batches_written == 1 and run.writer.records_written == 1
        with Session(path) as s:
            assert (s.n_records, s.batches_trained, s.n_checkpoints, s.n_samples) == (1, 1, 1, 1)
            assert s.record(0).batch == 0
        for _ in range(3):
            run.step()
        assert run.writer.batches_written == 1, "later batches wait for the interval"
    finally:
        run.close()


def test_checkpoints_and_samples_take_chunks_of_a_few_rows(tmp_path):
    """A checkpoint comes every few dozen batches; a 256 KiB chunk per checkpoint dataset made the
    first flush 1.8 MB larger (a (4, 100) float64 dataset took 261 kB)."""
    path = tmp_path / "s.h5"
    write_session(path, batches=1, cfg=TrainConfig(hidden_size=10, seq_length=7, checkpoint_every=5, sample_every=4))
    with h5py.File(path, "r") as f:
        for group in ("checkpoints", "samples"):
            for name, ds in f[group].items():
                # A variable-length string is stored as a 16-byte reference to HDF5's global heap.
                row_bytes = 16 if ds.dtype.kind == "O" else ds.dtype.itemsize * math.prod(ds.shape[1:])
                assert ds.shape[0] == 1 and ds.chunks[0] <= 8, (name, ds.chunks)
                assert ds.id.get_storage_size() <= 8 * row_bytes, (name, ds.id.get_storage_size())


# -- the environment of a run (issue 13) ---------------------------------------------------------


def test_the_environment_is_described_in_plain_json_values():
    env = describe_environment()
    assert json.loads(json.dumps(env)) == env
    assert env["python"].startswith(platform.python_version() + " ") and env["numpy"] == np.__version__
    assert env["machine"] == platform.machine() and platform.system() in env["os"]
    assert isinstance(env["cpu_count"], int) and env["cpu_count"] >= 1
    for key in ("app_version", "blas", "cpu"):
        assert isinstance(env[key], str) and env[key], key


def test_the_session_records_its_environment_and_the_reader_gives_it_back(tmp_path):
    path = tmp_path / "s.h5"
    write_session(path, batches=2)
    with h5py.File(path, "r") as f:
        stored = json.loads(f.attrs["environment"])
    assert stored == {**describe_environment(), "h5py": h5py.__version__, "hdf5": h5py.version.hdf5_version}
    with Session(path) as s:
        assert s.info.environment == stored
        assert s.summary()["environment"] == stored and s.notes == []


def test_a_session_written_before_the_environment_was_recorded_still_opens(tmp_path):
    path = tmp_path / "old.h5"
    write_session(path, batches=4)
    with h5py.File(path, "r+") as f:
        del f.attrs["environment"]
    with Session(path, check=True) as s:
        assert s.info.environment == {} and s.summary()["environment"] == {}
        assert s.n_records == 2 and s.notes == []


@pytest.mark.parametrize("value", ["not json {", "[1, 2]", "[" * 30_000 + "]" * 30_000, np.int64(3),
                                   json.dumps({"pad": "x" * 100_000})])
def test_an_unusable_environment_is_ignored_with_a_note(tmp_path, value):
    path = tmp_path / "odd.h5"
    write_session(path, batches=2)
    with h5py.File(path, "r+") as f:
        f.attrs["environment"] = value
    with Session(path, check=True) as s:
        assert s.info.environment == {} and s.n_records == 1
        assert s.notes == ["left out the recorded environment: its attribute is not a JSON object of at most 64 KiB"]
