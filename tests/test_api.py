"""The public API: `rnnbow_desktop.train` and `rnnbow_desktop.open_session`, as docs/api.md promises them."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from processes import python
import rnnbow_desktop as rb
from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.core.corpus import Corpus
from rnnbow_desktop.core.errors import ConfigError, SessionFormatError, SessionWriteError
from rnnbow_desktop.core.training import Trainer
from rnnbow_desktop.storage.schema import record_fields

TEXT = "int main(void) { return (a[1] + b[2]) * c; }\n" * 40


@pytest.fixture(scope="module")
def lstm_session(tmp_path_factory):
    out = tmp_path_factory.mktemp("api") / "run.h5"
    seen = []
    path = rb.train(Corpus("code.c", TEXT), out, batches=30, cell="lstm", hidden_size=12, seq_length=10,
                    record_every=3, checkpoint_every=10, sample_every=0, progress=seen.append)
    return path, seen


def test_train_returns_the_file_and_reports_every_batch(lstm_session):
    path, seen = lstm_session
    assert path.exists()
    assert [r.batch for r in seen] == list(range(30))
    assert sum(r.record is not None for r in seen) == 10


def test_open_session_gives_the_records_the_trainer_made(lstm_session):
    path, seen = lstm_session
    # An independent run of the same settings: recording never changes training, so records agree.
    trainer = Trainer(Corpus("code.c", TEXT), TrainConfig(cell="lstm", hidden_size=12, seq_length=10, record_every=3,
                                                          checkpoint_every=10, sample_every=0))
    expected = [r.record for r in (trainer.step() for _ in range(30)) if r.record is not None]
    with rb.open_session(path) as s:
        assert (s.cell, s.settings.hidden_size, s.n_records, s.batches_trained) == ("lstm", 12, 10, 30)
        assert s.gate_names == ("input", "forget", "cell candidate", "output")
        assert set(s.record_fields) == set(record_fields(4))
        np.testing.assert_array_equal(s.batches, [r.batch for r in expected])
        np.testing.assert_allclose(s.records("max_gradient"), [r.max_gradient for r in expected], rtol=1e-6)
        np.testing.assert_array_equal(s.records("horizon"), [r.horizon for r in expected])
        assert s.records("itemized").shape == (10, 10, 10)
        np.testing.assert_allclose(s.records("itemized", -2), np.stack([r.itemized for r in expected[-2:]]), rtol=1e-6)
        assert s.records("itemized_gate").shape == (10, 10, 10, 4)
        np.testing.assert_array_equal(s.record(27).targets, expected[-1].targets)
        assert [r.batch for r in s] == [r.batch for r in expected]
        np.testing.assert_allclose(s.losses, [r.loss for r in seen], rtol=1e-6)
        np.testing.assert_allclose(s.loss_per_char, s.losses / 10)
        assert s.checkpoints == (0, 10, 20)
        assert s.checkpoint().batch == 20 and s.checkpoint(10).params["weight_hh"].shape == (48, 12)
        assert s.corpus_text() == TEXT and s.vocab == tuple(sorted(set(TEXT)))
        assert s.complete and s.summary()["records"] == 10


def test_asking_for_what_is_not_there_names_it(lstm_session):
    path, _ = lstm_session
    with rb.open_session(path) as s:
        with pytest.raises(KeyError, match="batch 4 was not recorded"):
            s.record(4)
        with pytest.raises(KeyError, match="no checkpoint at batch 5"):
            s.checkpoint(5)
        with pytest.raises(KeyError, match="no recorded quantity 'gradient'"):
            s.records("gradient")


def test_train_stops_early_with_a_complete_file(tmp_path):
    calls = []
    path = rb.train(Corpus("code.c", TEXT), tmp_path / "s.h5", batches=100, hidden_size=8, seq_length=8,
                    should_stop=lambda: len(calls) >= 7, progress=calls.append)
    with rb.open_session(path) as s:
        assert s.batches_trained == 7 and s.complete


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(hidden=8), ConfigError, "unknown setting hidden"),
    (dict(cell="transformer"), ConfigError, "unknown cell 'transformer'"),
    (dict(batches=0), ConfigError, "batches must be a positive whole number"),
])
def test_bad_settings_are_one_line_errors(tmp_path, kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        rb.train(Corpus("code.c", TEXT), tmp_path / "x.h5", **{"batches": 5, **kwargs})
    assert not (tmp_path / "x.h5").exists()


def test_an_existing_file_is_kept_unless_forced(tmp_path, lstm_session):
    target = tmp_path / "s.h5"
    target.write_bytes(b"precious")
    with pytest.raises(SessionWriteError, match="already exists"):
        rb.train(Corpus("code.c", TEXT), target, batches=2, hidden_size=8)
    assert target.read_bytes() == b"precious"


def test_open_session_refuses_a_file_that_is_not_a_session(tmp_path):
    junk = tmp_path / "notes.h5"
    junk.write_text("hello")
    with pytest.raises(SessionFormatError, match=re.escape(f"{junk}: not an RNNbow session")):
        rb.open_session(junk)


def test_importing_the_package_loads_neither_qt_nor_hdf5():
    code = "import sys, rnnbow_desktop; sys.exit(int(any(m in sys.modules for m in ('PySide6', 'h5py', 'numpy'))))"
    assert python(code).returncode == 0


def test_the_session_format_page_lists_exactly_the_schema():
    # docs/session-format.md's records table and storage/schema.py describe the same datasets.
    page = (Path(__file__).resolve().parents[1] / "docs" / "session-format.md").read_text(encoding="utf-8")
    section = page.split("### `records/`", 1)[1].split("\n### ", 1)[0]
    documented = set()
    for row in re.findall(r"^\| (`[^|]+`) \|", section, flags=re.M):
        documented.update(re.findall(r"`([a-z_]+)`", row))
    assert documented == set(record_fields(4))
