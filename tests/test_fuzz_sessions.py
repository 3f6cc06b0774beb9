"""Property-based fuzzing of the session reader: damaged files are read or refused with SessionFormatError, never worse.

Two real sessions are made once per module, one closed normally and one left by a writer killed
with SIGKILL (so the SWMR fall-back path is fuzzed too). Each example copies one, damages it (bit
flips, overwritten and zeroed ranges, truncation, appended garbage; half of the edits land on
HDF5's own structures: the superblock and the blocks found by their signatures) and then opens it
with `Session` and calls every public read. Anything but success or `SessionFormatError` fails, and
a watchdog ends the run with a traceback if a read never returns.

RNNBOW_FUZZ_EXAMPLES=500 runs a longer campaign than the default 48 examples, RNNBOW_FUZZ_SEED=n
other examples than the fixed ones, and RNNBOW_FUZZ_LOG=file records what each example did.
"""

from __future__ import annotations

import faulthandler
import json
import os
import random
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from processes import python
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from rnnbow_desktop.core.corpus import Corpus
from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.core.errors import SessionFormatError
from rnnbow_desktop.storage import preflight as preflight_module
from rnnbow_desktop.storage.reader import Session
from rnnbow_desktop.storage.run import TrainingRun

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")]

EXAMPLES = int(os.environ.get("RNNBOW_FUZZ_EXAMPLES", "48"))
SEED = os.environ.get("RNNBOW_FUZZ_SEED")  # unset: the same examples on every run
PREFLIGHT_TIMEOUT = 4.0  # a valid file passes the check in ~0.25 s
WATCHDOG = 120.0  # seconds one example may take before the run is ended with a traceback

TEXT = "int f(int x) { return x * 2; }\nwhile (n--) { s += *p++; }\n" * 40
CONFIG = dict(hidden_size=8, seq_length=6, checkpoint_every=10, sample_every=10, sample_length=12)
BATCHES = 30

# Block signatures of HDF5's on-disk structures (file format spec, version 2 and later objects).
SIGNATURES = (b"\x89HDF", b"OHDR", b"OCHK", b"GCOL", b"FRHP", b"FHDB", b"FHIB", b"FSHD", b"FSSE", b"BTHD",
              b"BTIN", b"BTLF", b"EAHD", b"EAIB", b"EADB", b"EASB", b"FAHD", b"FADB", b"SMTB", b"SMLI",
              b"TREE", b"HEAP", b"SNOD")

KILLED_CHILD = textwrap.dedent("""
    import json, os, signal, sys
    from rnnbow_desktop.core.corpus import Corpus
    from rnnbow_desktop.core.config import TrainConfig
    from rnnbow_desktop.storage.run import TrainingRun

    run = TrainingRun(Corpus("loop.c", sys.argv[2]), TrainConfig(cell="lstm", **json.loads(sys.argv[3])), sys.argv[1])
    for _ in range(int(sys.argv[4])):
        run.step()
    run.writer.flush()
    os.kill(os.getpid(), signal.SIGKILL)
""")


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    """{kind: (bytes of a valid session, offsets of its HDF5 structures)}."""
    folder = tmp_path_factory.mktemp("fuzz-base")
    complete = folder / "complete.h5"
    with TrainingRun(Corpus("loop.c", TEXT), TrainConfig(**CONFIG), complete) as run:
        for _ in range(BATCHES):
            run.step()
    killed = folder / "killed.h5"
    child = python(KILLED_CHILD, killed, TEXT, json.dumps(CONFIG), BATCHES, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr
    found = {}
    for kind, path in (("complete", complete), ("killed", killed)):
        data = path.read_bytes()
        offsets = sorted({i for sig in SIGNATURES for i in _find_all(data, sig)})
        with Session(path, check=False) as s:  # the unmutated files read completely
            assert s.n_records == BATCHES and s.batches_trained == BATCHES and s.n_checkpoints == 3
        found[kind] = (data, offsets)
    return found


@pytest.fixture(scope="module")
def mutant_path(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(preflight_module, "PREFLIGHT_TIMEOUT", PREFLIGHT_TIMEOUT)
        yield tmp_path_factory.mktemp("fuzz") / "mutant.h5"


def _find_all(data: bytes, signature: bytes):
    start = 0
    while (start := data.find(signature, start)) >= 0:
        yield start
        start += 1


# -- mutations: each is (kind, region, position, delta, size, seed), applied in turn ---------------

MUTATIONS = st.tuples(
    st.sampled_from(["flip", "overwrite", "zero", "truncate", "append"]),
    st.sampled_from(["structure", "header", "anywhere"]),
    st.integers(0, 2**31 - 1),  # which structure, or where in the region
    st.integers(0, 63),  # bytes past a structure's signature
    st.integers(1, 64),  # how many bytes (bits, for flip)
    st.integers(0, 2**32 - 1),  # seed of the bytes written
)


def _offset(size: int, offsets: list[int], region: str, position: int, delta: int) -> int:
    if region == "structure" and offsets:
        # On or just after a block signature: the block's version, flags, addresses and sizes.
        return min(size - 1, offsets[position % len(offsets)] + delta)
    if region == "header" and size > 8:
        # The superblock and the root group's header, past the 8-byte signature (damage to that
        # only makes "not an HDF5 file", which tests/test_reliability.py covers).
        return 8 + position % (min(size, 4096) - 8)
    return position % size


def mutate(data: bytes, offsets: list[int], mutations) -> bytes:
    out = bytearray(data)
    for kind, region, position, delta, size, byte_seed in mutations:
        if not out:
            break
        rng = random.Random(byte_seed)
        at = _offset(len(out), offsets, region, position, delta)
        if kind == "flip":
            for _ in range(min(size, 8)):
                i = min(len(out) - 1, at + rng.randrange(size))
                out[i] ^= 1 << rng.randrange(8)
        elif kind == "overwrite":
            out[at : at + size] = rng.randbytes(len(out[at : at + size]))
        elif kind == "zero":
            out[at : at + size] = bytes(len(out[at : at + size]))
        elif kind == "truncate":
            del out[at:]
        else:
            out += rng.randbytes(size * 64)
    return bytes(out)


def assert_one_line(path: Path, exc: SessionFormatError) -> None:
    """The message names the file, fits one line and shows HDF5's words without Python's quoting."""
    text = str(exc)
    assert text.startswith(f"{path}: ") and "\n" not in text and "('" not in text, text


def exercise(path: Path) -> list[str]:
    """Open `path` and call every public read; returns what each did ("ok" or the error's start)."""
    outcomes = []

    def attempt(label, read):
        try:
            read()
            outcomes.append(f"{label}: ok")
        except SessionFormatError as exc:
            assert_one_line(path, exc)
            outcomes.append(f"{label}: refused")

    try:
        s = Session(path)
    except SessionFormatError as exc:
        assert_one_line(path, exc)
        return [f"open: {str(exc)[len(str(path)) + 2:][:60]}"]
    with s:
        assert min(s.n_records, s.batches_trained, s.n_checkpoints, s.n_samples) >= 0
        attempt("summary", s.summary)
        attempt("batches", s.batches)
        for i in sorted({0, s.n_records - 1} - {-1}):
            attempt(f"record {i}", lambda i=i: s.record(i))
        if s.n_records:
            attempt("column", lambda: s.column("itemized", 0, 3))
            attempt("find_record", lambda: s.find_record(int(s.batches()[-1])))
            attempt("nearest_batches", lambda: s.nearest_batches(5))
        for i in sorted({0, s.n_checkpoints - 1} - {-1}):
            attempt(f"checkpoint {i}", lambda i=i: s.checkpoint(i))
        attempt("samples", s.samples)
        attempt("corpus", s.corpus)
        attempt("training_loss", s.training_loss)
        attempt("training_loss slice", lambda: s.training_loss(2, 5))
        attempt("refresh", s.refresh)
        attempt("decode", lambda: s.decode(range(len(s.info.vocab))))
    return outcomes


@settings(max_examples=EXAMPLES, deadline=None, derandomize=SEED is None, database=None, print_blob=False,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(kind=st.sampled_from(["complete", "killed"]), mutations=st.lists(MUTATIONS, min_size=1, max_size=3))
def test_damaged_sessions_are_read_or_refused_with_session_format_error(bases, mutant_path, kind, mutations):
    data, offsets = bases[kind]
    mutant_path.write_bytes(mutate(data, offsets, mutations))
    faulthandler.dump_traceback_later(WATCHDOG, exit=True)
    try:
        outcomes = exercise(mutant_path)
    finally:
        faulthandler.cancel_dump_traceback_later()
    if os.environ.get("RNNBOW_FUZZ_LOG"):  # a campaign's record of what each example did
        with open(os.environ["RNNBOW_FUZZ_LOG"], "a") as log:
            log.write(f"{kind} {mutations!r} -> {outcomes}\n")


if SEED is not None:
    test_damaged_sessions_are_read_or_refused_with_session_format_error = seed(int(SEED))(
        test_damaged_sessions_are_read_or_refused_with_session_format_error)
