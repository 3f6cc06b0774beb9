"""The overview draws from the store's summary at the zoom shown, and rebuilds the summary of a file without one in the
background, with progress, without installing the result of a job it cancelled."""

import numpy as np
import pytest

from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.core.corpus import Corpus
from rnnbow_desktop.core.training import Trainer
from rnnbow_desktop.gui.views.overview import OverviewView
from rnnbow_desktop.storage import record_store as record_store_module
from rnnbow_desktop.storage.record_store import RecordStore
from rnnbow_desktop.storage.writer import SessionWriter

TEXT = "for (i = 0; i < n; i++) { s += a[i]; }\nreturn s > 0 ? s : -s;\n" * 40


@pytest.fixture(scope="module")
def format_1_file(tmp_path_factory):
    """A session written as earlier releases did (format 1, no summary), 700 records."""
    path = tmp_path_factory.mktemp("overview") / "old.h5"
    config = TrainConfig(hidden_size=6, seq_length=5, checkpoint_every=0, sample_every=0)
    corpus = Corpus("loop.c", TEXT)
    trainer = Trainer(corpus, config)
    with SessionWriter(path, config, corpus, compact=False) as writer:
        for _ in range(700):
            writer.add(trainer.step())
    return path


@pytest.fixture
def overview(shown, selection):
    return shown(OverviewView(selection), (900, 300))


def test_a_file_without_a_summary_is_summarised_in_the_background_and_then_drawn(overview, format_1_file, monkeypatch,
                                                                                  qtbot):
    monkeypatch.setattr(record_store_module, "SUMMARY_AT_ONCE", 0)  # as for a run of millions of records
    store = RecordStore.open(format_1_file)
    assert store.needs_summary
    with qtbot.waitSignal(overview.rebuild.done, timeout=20_000):
        overview.set_store(store)
        assert overview.summary_note.isVisible() and "no overview summary" in overview.summary_note.text()
    assert not store.needs_summary and not overview.summary_note.isVisible()
    x, y = overview.max_curve.getOriginalDataset()
    max_gradient = store.session.column("max_gradient")
    assert np.array_equal(x, np.arange(700)) and np.allclose(y, max_gradient)  # 700 records: each drawn
    overview.set_store(None)
    store.close()


def test_a_cancelled_rebuild_installs_nothing(overview, format_1_file, monkeypatch, qtbot):
    monkeypatch.setattr(record_store_module, "SUMMARY_AT_ONCE", 0)
    store = RecordStore.open(format_1_file)
    overview.set_store(store)
    overview.set_store(None)  # another session (none) shown before the job reported back
    qtbot.wait(400)
    assert store.needs_summary and not overview.rebuild.running
    store.close()


def test_zooming_redraws_the_visible_records(overview, format_1_file, qtbot):
    store = RecordStore.open(format_1_file)
    overview.set_store(store)
    overview.plot.setXRange(200, 260, padding=0)
    qtbot.waitUntil(lambda: overview.max_curve.getOriginalDataset()[0].max() < 300, timeout=5000)
    x, _ = overview.max_curve.getOriginalDataset()
    assert x.min() >= 198 and x.max() <= 262  # the visible records, one more on each side
    overview.set_store(None)
    store.close()
