"""Sessions survive kills, full disks, divergence, interrupts and hostile files (issue 5).

Real files and real processes throughout: writers are killed with SIGKILL at random moments and
at each step of a flush, disks fill through RLIMIT_FSIZE, hostile files are built with h5py.
docs/reliability.md lists every fault with the test that covers it and the message users see.
"""

import contextlib
import json
import os
import random
import re
import shutil
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest

from processes import one_line, python, python_started, rnnbow, rnnbow_started, stop
from session_faults import damaged_copy, file_size_limit, first_flush_size, hostile_cases
from rnnbow_desktop.core.corpus import Corpus, load_corpus
from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.core.errors import SessionFormatError, SessionWriteError, TrainingDiverged
from rnnbow_desktop.storage import preflight as preflight_module
from rnnbow_desktop.storage.h5io import short
from rnnbow_desktop.storage.record_store import RecordStore
from rnnbow_desktop.storage.reader import Session
from rnnbow_desktop.storage.writer import SessionWriter
from rnnbow_desktop.storage.run import TrainingRun

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and resource limits")
pytestmark = pytest.mark.slow

TEXT = "for (i = 0; i < n; i++) { sum += a[i] * b[i]; }\nwhile (p->next) { p = p->next; }\n" * 250
SMALL = TrainConfig(hidden_size=16, seq_length=40, checkpoint_every=25, sample_every=40, sample_length=20)


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "loop.c"
    path.write_text(TEXT)
    return path


def assert_consistent(path, record_every=1) -> dict:
    """Everything the reader counts is readable, finite and in training order."""
    with Session(path) as s:
        n = s.n_records
        assert list(s.batches()) == list(range(0, n * record_every, record_every))
        for i in range(n):
            rec = s.record(i)
            assert rec.batch == i * record_every
            for name in ("loss", "itemized", "contribution", "step_gradient", "truncation_error"):
                assert np.isfinite(getattr(rec, name)).all(), (i, name)
        loss = s.training_loss()
        assert len(loss) == s.batches_trained and np.isfinite(loss).all()
        for i in range(s.n_checkpoints):
            cp = s.checkpoint(i)
            assert all(np.isfinite(v).all() for v in cp.params.values())
        batches = [b for b, _ in s.samples()]
        assert batches == sorted(batches)
        assert s.corpus().text == TEXT
        return s.summary()


# ------------------------------------------------------------------------------------------------
# Kill at any moment

KILL_CHILD = r"""
import os, signal, sys, time
from rnnbow_desktop.core.corpus import Corpus
from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.storage import compressed_columns, writer as writer_module
from rnnbow_desktop.storage.run import TrainingRun

out, log_path, corpus_path, plan = sys.argv[1:5]
cfg = TrainConfig(hidden_size=16, seq_length=40, checkpoint_every=25, sample_every=40, sample_length=20)
log = open(log_path, "w", buffering=1)
run = TrainingRun(Corpus("loop.c", open(corpus_path).read()), cfg, out)
writer = run.writer
real_flush = writer.flush

def flush():
    log.write(f"flush {time.monotonic()}\n")
    real_flush()
    log.write(f"flushed {writer.records_written} {writer.batches_written} {time.monotonic()}\n")

writer.flush = flush
if plan == "run":  # train until killed, flushing on the writer's own schedule
    print("ready", flush=True)
    while True:
        run.step()
        log.write(f"step {run.batch} {time.monotonic()}\n")

# Otherwise die by SIGKILL at one precise point: "<where>:<n>" = at the n-th call of append_rows, of a
# compressed column's chunk write, or of the HDF5 flush. Batch 0 is committed before the counting starts
# (the writer does so at once), then three blocks of 30 batches are flushed explicitly.
writer.flush_interval = 1e9
run.step()
writer.flush()
where, nth = plan.split(":")
nth = int(nth)
count = {"append": 0, "chunk": 0, "h5flush": 0}

def die(point):
    if point == where:
        os.kill(os.getpid(), signal.SIGKILL)

def append(ds, rows, start):
    count["append"] += 1
    hit = count["append"] == nth
    if hit: die("before-resize")
    ds.resize(start + len(rows), axis=0)
    if hit: die("after-resize")
    ds[start:] = rows
    if hit: die("after-write")

writer_module.append_rows = append
real_chunk = compressed_columns.write_chunk

def chunk(ds, offset, data, mask):
    count["chunk"] += 1
    hit = count["chunk"] == nth
    if hit: die("before-chunk")
    real_chunk(ds, offset, data, mask)
    if hit: die("after-chunk")

compressed_columns.write_chunk = chunk
real_h5flush = writer.file.flush

def h5flush():
    count["h5flush"] += 1
    if count["h5flush"] == nth: die("before-h5flush")
    real_h5flush()
    if count["h5flush"] == nth: die("after-h5flush")

writer.file.flush = h5flush
for block in range(3):
    for _ in range(30):
        run.step()
    writer.flush()
print("survived", count, flush=True)
"""

# The first block (batches 1-30) holds the checkpoint of batch 25 and no sample: in phase 1, 9 chunk
# writes (the 9 record columns, compressed: their first chunk of 48 rows, incomplete) and 13 appends (the
# checkpoint columns = 6 parameters, h0 and 6 Adagrad memories); in phase 2, 3 appends (records/batch,
# checkpoints/batch, training/loss); 2 HDF5 flushes. The summary has no complete block yet (64 records).
# The second (31-60) adds the sample of batch 40 and the checkpoint of batch 50: chunk writes 10-27 (the
# first chunks, now complete, then the second, incomplete), appends 17-34 (phase 1: 17-30, phase 2:
# 31-34), HDF5 flushes 3-4.
KILL_POINTS = [
    ("before-resize:17", 31), ("after-resize:23", 31), ("after-write:28", 31), ("after-write:30", 31),
    ("before-chunk:10", 31), ("after-chunk:14", 31), ("after-chunk:22", 31), ("after-chunk:27", 31),
    ("before-h5flush:3", 31), ("after-h5flush:3", 31), ("after-resize:31", 31), ("after-write:31", 31),
    ("after-write:34", 31), ("before-h5flush:4", 31), ("after-h5flush:4", 61),
]


@posix_only
@pytest.mark.parametrize("plan, expected", KILL_POINTS)
def test_sigkill_at_each_step_of_a_flush_keeps_exactly_the_committed_blocks(tmp_path, corpus_file, plan, expected):
    out = tmp_path / "s.h5"
    proc = python(KILL_CHILD, out, tmp_path / "log", corpus_file, plan, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    summary = assert_consistent(out)
    assert summary["records"] == expected and summary["batches_trained"] == expected
    assert summary["checkpoints"] == (2 if expected == 31 else 3)  # batches 0, 25 (, 50)
    assert summary["samples"] == (1 if expected == 31 else 2)  # batches 0 (, 40)
    assert not summary["complete"]
    assert "stopped without closing" in summary["notes"][0]


def _read_log(path):
    flushed, steps, flush_starts = [], [], []
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if parts[0] == "flushed" and len(parts) == 4:
            flushed.append((int(parts[1]), int(parts[2]), float(parts[3])))
        elif parts[0] == "step" and len(parts) == 3:
            steps.append((int(parts[1]), float(parts[2])))
        elif parts[0] == "flush" and len(parts) == 2:
            flush_starts.append(float(parts[1]))
    return flushed, steps, flush_starts


@contextlib.contextmanager
def _killable(tmp_path, corpus_file):
    """KILL_CHILD training until killed: (process, session, log), once it has started."""
    out, log = tmp_path / "s.h5", tmp_path / "log"
    with python_started(KILL_CHILD, out, log, corpus_file, "run", stderr=None) as proc:
        assert proc.stdout.readline().strip() == "ready"
        yield proc, out, log


def _kill(proc) -> float:
    killed_at = time.monotonic()
    stop(proc, signal.SIGKILL, timeout=20)
    return killed_at


@posix_only
@pytest.mark.parametrize("seed", range(4))
def test_sigkill_at_a_random_moment_keeps_every_record_flushed_2s_before(tmp_path, corpus_file, seed):
    with _killable(tmp_path, corpus_file) as (proc, out, log):
        time.sleep(random.Random(seed).uniform(0.3, 3.0))
        killed_at = _kill(proc)
    flushed, steps, _ = _read_log(log)
    summary = assert_consistent(out)
    # Every completed flush is in the file ...
    if flushed:
        records, batches, _ = flushed[-1]
        assert summary["records"] >= records and summary["batches_trained"] >= batches
    # ... and so is every batch trained at least 2 s before the kill (record_every = 1).
    trained_by = max((b for b, t in steps if t <= killed_at - 2.0), default=0)
    assert summary["batches_trained"] >= trained_by and summary["records"] >= trained_by
    assert summary["records"] <= (steps[-1][0] if steps else 0) + 1  # + a step killed before its log line


@posix_only
@pytest.mark.parametrize("seed", range(4))
def test_sigkill_in_the_middle_of_a_flush(tmp_path, corpus_file, seed):
    rng = random.Random(seed)
    with _killable(tmp_path, corpus_file) as (proc, out, log):
        wanted = rng.randint(1, 3)
        deadline = time.monotonic() + 30
        while len(_read_log(log)[2]) < wanted and time.monotonic() < deadline:
            time.sleep(0.0005)
        time.sleep(rng.uniform(0, 0.015))  # a flush of this run takes ~5-20 ms
        _kill(proc)
    flushed, _, starts = _read_log(log)
    summary = assert_consistent(out)
    assert len(starts) >= wanted
    if flushed:  # every flush that completed before the kill is there
        assert summary["records"] >= flushed[-1][0] and summary["batches_trained"] >= flushed[-1][1]


@posix_only
def test_sigkill_of_rnnbow_train_then_info_and_the_app_reader(tmp_path, corpus_file):
    out = tmp_path / "killed.h5"
    with rnnbow_started("train", corpus_file, "--out", out, "--hidden", 16, "--seq-len", 40, "--quiet", writes=out,
                        settle=2.0) as proc:
        stop(proc, signal.SIGKILL, timeout=20)
    info = rnnbow("info", out, "--json")
    assert info.returncode == 0, info.stderr
    summary = json.loads(info.stdout)
    assert not summary["complete"] and summary["records"] > 0
    assert "stopped without closing" in summary["notes"][0]
    text = rnnbow("info", out)
    assert text.returncode == 0 and "incomplete" in text.stdout and "stopped without closing" in text.stdout
    assert assert_consistent(out)["records"] == summary["records"]
    store = RecordStore.open(out)
    assert len(store) == summary["records"] and store.record(len(store) - 1).batch == len(store) - 1
    store.close()


# ------------------------------------------------------------------------------------------------
# Live readers


@posix_only
def test_info_while_training_sees_growth_and_the_writer_finishes_cleanly(tmp_path, corpus_file):
    out = tmp_path / "live.h5"
    with rnnbow_started("train", corpus_file, "--out", out, "--hidden", 16, "--seq-len", 40, writes=out,
                        settle=1.0) as proc:
        seen = []
        for _ in range(3):
            info = rnnbow("info", out, "--json")
            assert info.returncode == 0, info.stderr
            summary = json.loads(info.stdout)
            assert not summary["complete"] and "being written" in summary["notes"][0]
            seen.append(summary["records"])
            time.sleep(0.7)
        assert seen == sorted(seen) and seen[-1] > seen[0], seen
        with Session(out) as live:  # a second reader in this process, refreshed
            before = live.n_records
            deadline = time.monotonic() + 10
            while not live.refresh() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert live.n_records > before
            live.record(live.n_records - 1)
        stdout, stderr = stop(proc, signal.SIGTERM)
    assert proc.returncode == 0 and "stopped:" in stdout, stderr
    summary = assert_consistent(out)
    assert summary["complete"] and summary["records"] == summary["batches_trained"] >= seen[-1]
    assert summary["notes"] == []


@posix_only
def test_two_readers_in_one_process_follow_a_file_another_process_writes(tmp_path, corpus_file):
    # Found in the window: the Units view's handle on a live file made every read of the findings
    # tracker's handle fail ("a record column cannot be read … Can't synchronously read data") once
    # both had refreshed. Readers of one path in one process now share one HDF5 file and its datasets.
    from rnnbow_desktop.storage import shared_files
    from rnnbow_desktop.storage.run_series import RunSeriesReader

    out = tmp_path / "live.h5"
    errors: list[str] = []
    with rnnbow_started("train", corpus_file, "--out", out, "--hidden", 8, "--seq-len", 25, "--checkpoint-every", 100,
                        writes=out, settle=0.5) as proc:
        first = Session(out)
        series = RunSeriesReader(first, 64)
        second = None
        for i in range(40):
            for name, session in (("first", first), ("second", second)):
                if session is None:
                    continue
                try:
                    session.refresh()
                    if session is first:
                        while series.behind:
                            series.update(limit=series.block)
                    else:
                        session.checkpoint(session.n_checkpoints - 1)
                        session.record(session.n_records - 1)
                except SessionFormatError as exc:
                    errors.append(f"{name}: {exc}")
            if i == 5:
                second = Session(out)
                assert shared_files.open_count() == 1
            time.sleep(0.1)
        grown_to = first.n_records
        first.close()
        second.record(0)  # still open: the file closes with its last reader
        second.close()
        assert shared_files.open_count() == 0
        stop(proc, signal.SIGTERM)
    assert errors == []
    assert series.records == grown_to > 1000 and second.n_records > 0


# ------------------------------------------------------------------------------------------------
# Interrupts


@posix_only
@pytest.mark.parametrize("signals", [("SIGTERM",), ("SIGINT", "SIGINT"), ("SIGHUP",)])
def test_stop_signals_leave_a_complete_session(tmp_path, corpus_file, signals):
    out = tmp_path / "stopped.h5"
    with rnnbow_started("train", corpus_file, "--out", out, "--hidden", 16, "--seq-len", 40, writes=out,
                        settle=1.0) as proc:
        stdout, stderr = stop(proc, *(getattr(signal, name) for name in signals))
    assert proc.returncode == 0, stderr
    assert "stopped:" in stdout and "Traceback" not in stderr
    summary = assert_consistent(out)
    assert summary["complete"] and summary["records"] == summary["batches_trained"] > 0


# ------------------------------------------------------------------------------------------------
# Disk full / write errors


@posix_only
def test_full_disk_mid_run_stops_with_one_message_and_keeps_the_records(tmp_path, corpus_file):
    out = tmp_path / "full.h5"
    # Room for the first batch and about a megabyte more: full after a few flushes on any machine.
    limit = first_flush_size(tmp_path, load_corpus(corpus_file), TrainConfig(hidden_size=16, seq_length=60)) + (1 << 20)
    done = rnnbow("train", corpus_file, "--out", out, "--hidden", "16", "--seq-len", "60", "--quiet",
                  preexec_fn=file_size_limit(limit))
    assert done.returncode == 1, done.stdout + done.stderr
    line = one_line(done.stderr)
    found = re.fullmatch(
        rf"rnnbow: {re.escape(str(out))}: cannot write the session \(File too large\); training stopped\. "
        r"The file keeps the ([\d,]+) records of the first ([\d,]+) batches, saved before the failure\.", line)
    assert found, line
    kept = int(found.group(1).replace(",", ""))
    assert kept > 0 and kept == int(found.group(2).replace(",", ""))
    info = rnnbow("info", out, "--json")
    assert info.returncode == 0, info.stderr
    summary = json.loads(info.stdout)
    assert summary["records"] == kept and summary["batches_trained"] == kept and not summary["complete"]
    assert summary["notes"], "the reader says what it worked around"
    assert assert_consistent(out)["records"] == kept


@posix_only
def test_full_disk_while_creating_leaves_no_file(tmp_path, corpus_file):
    out = tmp_path / "full.h5"
    done = rnnbow("train", corpus_file, "--out", out, "--quiet", preexec_fn=file_size_limit(4096))
    assert done.returncode == 1
    assert one_line(done.stderr) == f"rnnbow: {out}: cannot be created (File too large)"
    assert not out.exists()


WRITE_ERROR_CHILD = r"""
import json, sys, resource
from rnnbow_desktop.core.corpus import Corpus
from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.core.errors import SessionWriteError
from rnnbow_desktop.storage.run import TrainingRun

out, corpus_path, limit, when = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # TrainingRun ignores SIGXFSZ itself
run = TrainingRun(Corpus("loop.c", open(corpus_path).read()), TrainConfig(**json.loads(sys.argv[5])), out)
if when == "at-close":
    run.writer.flush_interval = 1e9  # nothing but the first batch is written before close()
events = []
try:
    for _ in range(300 if when == "at-close" else 100000):
        run.step()
except SessionWriteError as exc:
    events.append(["step", str(exc)])
for _ in range(2):
    try:
        run.step()
        events.append(["step trained on", ""])
    except SessionWriteError as exc:
        events.append(["again", str(exc)])
for _ in range(2):
    try:
        run.close()
        events.append(["closed", ""])
    except SessionWriteError as exc:
        events.append(["close", str(exc)])
print(json.dumps({"events": events, "records": run.writer.records_written, "batches": run.writer.batches_written}))
"""


WRITE_ERROR_SETTINGS = dict(hidden_size=16, seq_length=60, checkpoint_every=25, sample_every=40)


@posix_only
@pytest.mark.parametrize("when, room", [("during", 1 << 20), ("at-close", 256 << 10)])
def test_write_error_in_the_api_is_raised_once_and_close_stays_quiet(tmp_path, corpus_file, when, room):
    # `room`: bytes beyond the first flush. Flushes of a few hundred batches (~30 kB each) overrun a
    # megabyte during training; the 299 batches written at close overrun 256 kB.
    out = tmp_path / "s.h5"
    limit = first_flush_size(tmp_path, Corpus("loop.c", TEXT), TrainConfig(**WRITE_ERROR_SETTINGS)) + room
    child = python(WRITE_ERROR_CHILD, out, corpus_file, limit, when, json.dumps(WRITE_ERROR_SETTINGS), timeout=180)
    assert child.returncode == 0, child.stderr  # no crash at exit (h5py segfaulted here before)
    assert child.stderr == "", child.stderr  # no "Exception ignored in ObjectID.__dealloc__" noise
    result = json.loads(child.stdout)
    kinds = [kind for kind, _ in result["events"]]
    if when == "during":
        assert kinds == ["step", "again", "again", "closed", "closed"]
    else:
        assert kinds == ["step trained on", "step trained on", "close", "closed"]
    message = next(text for kind, text in result["events"] if kind in ("step", "close"))
    assert message.startswith(f"{out}: cannot write the session (File too large)")
    assert "\n" not in message
    assert f"keeps the {result['records']:,} records" in message
    summary = assert_consistent(out)
    assert summary["records"] == result["records"] and summary["batches_trained"] == result["batches"]
    assert result["records"] > 0  # at least the first batch, committed at once


READER_IN_PROCESS_CHILD = r"""
import json, resource, sys
from rnnbow_desktop.core.corpus import Corpus
from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.core.errors import SessionWriteError
from rnnbow_desktop.storage.reader import Session
from rnnbow_desktop.storage.run import TrainingRun

out, corpus_path, when, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
run = TrainingRun(Corpus("loop.c", open(corpus_path).read()), TrainConfig(hidden_size=16, seq_length=12, checkpoint_every=0),
                  out)
live = Session(out)  # what the window does: a reader in the writing process, for records it evicted
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    while True:
        run.step()
        if run.batch % 100 == 0:
            live.refresh()
except SessionWriteError:
    pass
run.close()
seen_live = live.n_records
if when == "reader-closed-first":
    live.close()
with Session(out) as again:  # the window reopening the file once training stopped
    result = {"kept": run.writer.records_written, "seen_live": seen_live, "again": again.n_records,
              "last": again.record(again.n_records - 1).batch, "loss": again.training_loss().tolist()}
live.close()
print(json.dumps(result))
"""


@posix_only
@pytest.mark.parametrize("when", ["reader-closed-first", "reader-still-open"])
def test_a_reader_in_the_writing_process_sees_the_kept_records_after_a_write_error(tmp_path, corpus_file, when):
    # Regression: the in-process reader shared HDF5's open file with the writer, whose descriptor is
    # pointed at /dev/null after a failed write; every later open of the path in that process then
    # read zeros (1 record instead of hundreds), and closing printed "Exception ignored" errors.
    out = tmp_path / "s.h5"
    limit = first_flush_size(tmp_path, Corpus("loop.c", TEXT), TrainConfig(hidden_size=16, seq_length=12, checkpoint_every=0))
    child = python(READER_IN_PROCESS_CHILD, out, corpus_file, when, limit + (2 << 20), timeout=180)
    assert child.returncode == 0 and child.stderr == "", child.stderr
    result = json.loads(child.stdout)
    assert result["kept"] > 100 and 0 < result["seen_live"] <= result["kept"]
    assert result["again"] == result["kept"] and result["last"] == result["kept"] - 1
    assert np.isfinite(result["loss"]).all() and len(result["loss"]) == result["kept"]
    assert assert_consistent(out)["records"] == result["kept"]


def test_a_reader_never_uses_a_dead_handle_left_open_in_this_process(good_session, tmp_path):
    """If HDF5 hands out a file whose descriptor is no longer the file (a writer's failed last
    close), the reader opens the real file beside it instead of reading zeros."""
    path = _copy(good_session, tmp_path)
    dead = h5py.File(path, "r")
    fd = dead.id.get_vfd_handle()
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, fd)
    os.close(null)
    try:
        with Session(path, check=False) as s:
            assert s.file.id.get_vfd_handle() != fd
            assert assert_consistent(path)["records"] == s.n_records == 60
            assert s.record(59).batch == 59
    finally:
        dead.close()


@posix_only
def test_writer_refuses_to_overwrite_a_session_another_writer_is_writing(tmp_path):
    path = tmp_path / "busy.h5"
    with TrainingRun(Corpus("c", TEXT), SMALL, path) as run:
        run.step()
        with pytest.raises(SessionWriteError, match="open in another program"):
            SessionWriter(path, SMALL, Corpus("c", TEXT), force=True)
        run.step()
    assert assert_consistent(path)["records"] == 2


# ------------------------------------------------------------------------------------------------
# Divergence


def test_cli_divergence_names_the_batch_and_keeps_every_earlier_record(tmp_path):
    out = tmp_path / "diverged.h5"
    # A learning rate of 3 on the bundled C-like sample overflows the softmax after a few dozen
    # batches: a real divergence through command-line arguments alone.
    done = rnnbow("train", "c-like", "--out", out, "--lr", "3", "--hidden", "100", "--batches", "2000", "--quiet")
    assert done.returncode == 1, done.stdout + done.stderr
    line = one_line(done.stderr)  # in particular: no numpy RuntimeWarning
    found = re.fullmatch(
        rf"rnnbow: training diverged at batch (\d+): ([a-z ]+) is not finite; "
        rf"{re.escape(str(out))} keeps the ([\d,]+) batches before it \(([\d,]+) records\)\. "
        r"Try a smaller learning rate \(--lr\)\.", line)
    assert found, line
    batch = int(found.group(1))
    assert batch > 1 and int(found.group(3).replace(",", "")) == batch
    with Session(out) as s:
        assert s.info.complete and s.batches_trained == batch and s.n_records == batch
        assert np.isfinite(s.training_loss()).all()
        last = s.record(batch - 1)
        assert last.batch == batch - 1 and np.isfinite(last.itemized).all()


def test_divergence_in_the_api_stores_nothing_of_the_bad_batch(tmp_path):
    path = tmp_path / "d.h5"
    run = TrainingRun(Corpus("c", TEXT), SMALL, path)
    for _ in range(10):
        run.step()
    run.trainer.params["weight_hh"][0, 0] = np.nan  # as a bad update would
    with pytest.raises(TrainingDiverged, match="at batch 10"):
        run.step()
    with pytest.raises(TrainingDiverged, match="at batch 10"):
        run.step()  # does not train on
    assert run.batch == 10
    run.close()
    summary = assert_consistent(path)
    assert summary["complete"] and summary["batches_trained"] == 10 and summary["records"] == 10


def test_a_record_that_overflows_float32_is_not_stored(tmp_path, monkeypatch):
    path = tmp_path / "o.h5"
    run = TrainingRun(Corpus("c", TEXT), SMALL, path)
    run.step()
    real_step = run.trainer.step

    def overflowing():  # finite in float64, Inf once stored as float32
        result = real_step()
        itemized = np.array(result.record.itemized)
        itemized[-1, 0] = np.inf
        return replace(result, record=replace(result.record, itemized=itemized))

    monkeypatch.setattr(run.trainer, "step", overflowing)
    with pytest.raises(TrainingDiverged, match="batch 1: the recorded itemized is not finite"):
        run.step()
    assert run.batch == 1
    run.close()
    assert assert_consistent(path)["records"] == 1


# ------------------------------------------------------------------------------------------------
# Bad corpora and arguments (what tests/test_cli.py does not cover yet)


@pytest.mark.parametrize("name, make, message", [
    ("short.txt", lambda p: p.write_text("abc"), "has 3 characters, but one batch needs 26"),
    ("latin1.txt", lambda p: p.write_bytes("café au lait\n".encode("latin-1") * 10), "is not UTF-8 text"),
    ("bins", lambda p: (p.mkdir(), (p / "a.bin").write_bytes(b"\x00\x01" * 100)), "folder contains no text files"),
    ("nothing", lambda p: p.mkdir(), "folder contains no text files"),
    ("single.txt", lambda p: p.write_text("a" * 100), "uses a single character"),
])
def test_bad_corpora_more(tmp_path, name, make, message):
    make(tmp_path / name)
    out = rnnbow("train", tmp_path / name, "--out", tmp_path / "x.h5")
    assert out.returncode == 1 and message in one_line(out.stderr)
    assert not (tmp_path / "x.h5").exists()


@posix_only
def test_unreadable_corpus(tmp_path, permissions_apply):
    # permissions_apply: as root, `rnnbow` runs without root's permission override.
    path = tmp_path / "secret.txt"
    path.write_text(TEXT)
    path.chmod(0)
    out = rnnbow("train", path, "--out", tmp_path / "x.h5", preexec_fn=permissions_apply)
    assert out.returncode == 1 and one_line(out.stderr) == f"rnnbow: {path}: permission denied"
    assert not (tmp_path / "x.h5").exists()


@pytest.mark.parametrize("args, message", [
    (["--batches=-1"], "must be greater than 0"),
    (["--hidden", "2.5"], "expected a whole number"),
    (["--seq-len", "0"], "must be greater than 0"),
    (["--record-every=-3"], "must be greater than 0"),
    (["--sample-every=-1"], "must be 0 or more"),
    (["--lr=-0.5"], "positive finite"),
    (["--lr", "1e999"], "positive finite"),
    (["--lr=-inf"], "positive finite"),
])
def test_bad_arguments_more(tmp_path, corpus_file, args, message):
    out = rnnbow("train", corpus_file, "--out", tmp_path / "x.h5", *args)
    assert out.returncode == 2 and message in one_line(out.stderr)
    assert not (tmp_path / "x.h5").exists()


def test_checkpoint_interval_zero_means_none(tmp_path, corpus_file):
    out = tmp_path / "s.h5"
    done = rnnbow("train", corpus_file, "--out", out, "--checkpoint-every", "0", "--batches", "5", "--hidden", "8")
    assert done.returncode == 0, done.stderr
    assert json.loads(rnnbow("info", out, "--json").stdout)["checkpoints"] == 0


def test_existing_output_stays_byte_for_byte_untouched(tmp_path, corpus_file):
    target = tmp_path / "mine.h5"
    shutil.copy(corpus_file, target)
    before = (target.read_bytes(), target.stat().st_mtime_ns)
    out = rnnbow("train", corpus_file, "--batches", "3", "--out", target)
    assert out.returncode == 1 and "already exists" in one_line(out.stderr)
    assert (target.read_bytes(), target.stat().st_mtime_ns) == before


# ------------------------------------------------------------------------------------------------
# Hostile and damaged session files


@pytest.fixture(scope="module")
def good_session(tmp_path_factory):
    path = tmp_path_factory.mktemp("good") / "good.h5"
    with TrainingRun(Corpus("loop.c", TEXT), SMALL, path) as run:
        for _ in range(60):
            run.step()
    return path


def _copy(good, tmp_path, name="bad.h5"):
    target = tmp_path / name
    target.write_bytes(Path(good).read_bytes())  # a new file: not one this process wrote
    return target


@pytest.fixture
def fast_preflight(monkeypatch):
    monkeypatch.setattr(preflight_module, "PREFLIGHT_TIMEOUT", 3.0)


@pytest.mark.parametrize("damage, message", hostile_cases())
def test_hostile_file_is_refused_by_the_app_reader(good_session, tmp_path, fast_preflight, damage, message):
    path = damaged_copy(good_session, tmp_path, damage)
    started = time.monotonic()
    with pytest.raises(SessionFormatError) as caught:
        Session(path)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)
    with pytest.raises(SessionFormatError):
        RecordStore.open(path)
    assert time.monotonic() - started < 20


# The same files through `rnnbow info`, with targets that are FIFOs: a reader that followed a
# link or external storage into one would block forever, so finishing at all proves it did not.
@posix_only
@pytest.mark.parametrize("damage, message", hostile_cases())
def test_hostile_file_gives_one_line_from_rnnbow_info(good_session, tmp_path, damage, message):
    target = tmp_path / "fifo"
    os.mkfifo(target)
    path = damaged_copy(good_session, tmp_path, damage, target)
    code = ("import sys; import rnnbow_desktop.storage.preflight as s; s.PREFLIGHT_TIMEOUT = 3.0; "
            "from rnnbow_desktop.cli import main; sys.exit(main(['info', sys.argv[1]]))")
    out = python(code, path)
    assert out.returncode == 1 and out.stdout == ""
    line = one_line(out.stderr)
    assert line.startswith(f"rnnbow: {path}: ") and message in line


@pytest.mark.parametrize("fraction", [0.999, 0.75, 0.5, 0.25, 0.05, 0.01, 0.002])
def test_truncated_file_is_read_as_far_as_it_goes_or_refused(good_session, tmp_path, fraction):
    data = Path(good_session).read_bytes()
    path = tmp_path / "cut.h5"
    path.write_bytes(data[: int(len(data) * fraction)])
    try:
        s = Session(path)
    except SessionFormatError as exc:
        assert str(exc).startswith(f"{path}: ")
        return
    with s:
        assert "shorter than its header says" in s.notes[0]
        for read in (s.summary, s.samples, s.corpus, s.training_loss, s.batches,
                     lambda: s.record(s.n_records - 1) if s.n_records else None,
                     lambda: s.checkpoint(s.n_checkpoints - 1) if s.n_checkpoints else None):
            try:
                read()
            except SessionFormatError as exc:
                assert str(exc).startswith(f"{path}: ")
    if fraction == 0.999:  # only the end was cut: the header and the commit columns are whole
        with Session(path) as s:  # (the compressed chunks written last, at close, may be cut: checked above)
            assert s.n_records == 60 and s.batches_trained == 60
    info = rnnbow("info", path)
    assert info.returncode in (0, 1)
    if info.returncode == 1:
        assert one_line(info.stderr).startswith(f"rnnbow: {path}: ")


def test_damage_messages_give_hdf5s_words_without_python_quotes(good_session, tmp_path):
    # Regression: a KeyError from h5py reached users as "damaged session ('Unable to … object)".
    assert short(KeyError("Unable to synchronously open object (bad version number)")) == \
        "Unable to synchronously open object"
    path = tmp_path / "cut.h5"
    path.write_bytes(Path(good_session).read_bytes()[:10_000])  # past the root group, before the datasets
    with pytest.raises(SessionFormatError) as caught:
        Session(path)
    assert "('" not in str(caught.value) and str(caught.value).startswith(f"{path}: damaged")


def test_a_session_cut_short_is_never_called_something_else(good_session, tmp_path, fast_preflight):
    # Regression: cut inside the header's attributes, a session was reported as "an HDF5 file, but
    # not an RNNbow session" (attrs.get() read an unreadable attribute as a missing one).
    data = Path(good_session).read_bytes()
    for size in range(4_000, 52_000, 4_000):
        path = tmp_path / f"cut{size}.h5"
        path.write_bytes(data[:size])
        try:
            Session(path).close()
        except SessionFormatError as exc:
            assert "not an RNNbow session" not in str(exc), str(exc)


def test_inconsistent_lengths_read_as_their_complete_prefix(good_session, tmp_path):
    path = _copy(good_session, tmp_path)
    with h5py.File(path, "r+") as f:
        f["records/itemized"].resize(57, axis=0)
        f["checkpoints/h0"].resize(2, axis=0)
        f["samples/text"].resize(1, axis=0)
    with Session(path) as s:
        assert (s.n_records, s.n_checkpoints, s.n_samples, s.batches_trained) == (57, 2, 1, 60)
        assert any("left out 3 record(s)" in note for note in s.notes)
        assert s.record(56).batch == 56
        with pytest.raises(IndexError):
            s.record(57)
        with pytest.raises(IndexError):
            s.checkpoint(2)


def test_rows_that_read_as_the_fill_value_are_dropped(good_session, tmp_path):
    """What a writer stopped between extending a column and writing it leaves behind."""
    path = _copy(good_session, tmp_path)
    with h5py.File(path, "r+") as f:
        for name in f["records"]:
            f["records"][name].resize(62, axis=0)  # two rows of fill values (-1, NaN)
        f["training/loss"].resize(63, axis=0)
    with Session(path) as s:
        assert s.n_records == 60 and s.batches_trained == 60
        assert any("left out 2 record(s)" in note for note in s.notes)
        assert any("unwritten loss of 3 batch(es)" in note for note in s.notes)


def test_hard_link_cycles_do_not_make_the_reader_loop(good_session, tmp_path):
    path = _copy(good_session, tmp_path)
    with h5py.File(path, "r+") as f:
        f["records/again"] = f["records"]
        f["records/again/deeper"] = f["/"]
    with Session(path) as s:
        assert s.n_records == 60


def test_values_outside_the_vocabulary_are_refused_when_read(good_session, tmp_path):
    path = _copy(good_session, tmp_path)
    with h5py.File(path, "r+") as f:
        f["records/predictions"][5, 0] = 10**6
        f["corpus"][3] = 250
    with Session(path) as s:
        s.record(4)
        with pytest.raises(SessionFormatError, match="record 5 holds predictions outside the vocabulary"):
            s.record(5)
        with pytest.raises(SessionFormatError, match="corpus holds ids outside the vocabulary"):
            s.corpus()


def test_corrupted_chunk_index_gives_only_session_format_errors(good_session, tmp_path):
    """Metadata damage discovered only when a record is read, not when the file is opened."""
    data = bytearray(Path(good_session).read_bytes())
    # The extensible-array blocks of the chunk indexes carry signatures; damage every one.
    damaged = 0
    for signature in (b"EADB", b"EAIB"):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            data[start + 8 : start + 24] = b"\xff" * 16
            damaged += 1
            start += 4
    assert damaged
    path = tmp_path / "index.h5"
    path.write_bytes(bytes(data))
    try:
        s = Session(path)
    except SessionFormatError:
        return
    with s:
        for read in (s.summary, s.batches, s.training_loss, s.samples, s.corpus, s.refresh,
                     lambda: s.record(0), lambda: s.column("itemized", 0, 5), lambda: s.checkpoint(0)):
            try:
                read()
            except SessionFormatError as exc:
                assert "the file is damaged" in str(exc) or str(exc).startswith(f"{path}: ")
            except IndexError:
                pass
