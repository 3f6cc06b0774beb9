"""Findings in the window: markers on the overview with a legend per kind, the findings list, keys to jump, and live updates."""

from __future__ import annotations

import random

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.core.corpus import load_corpus
from rnnbow_desktop.core.errors import RnnbowError
from rnnbow_desktop.storage.run import TrainingRun

SWITCH_BATCH = 59  # the first batch whose targets reach the letters at offset 1,500 (see test_cli_find.py)
FAST = 0.05  # seconds between searches in these tests (the window waits at least 2 s)


def switching_text() -> str:
    """1,500 characters of digits, then 1,500 of letters: a corpus that changes character halfway."""
    rng = random.Random(0)
    digits = "".join(rng.choice("0123456789 ") for _ in range(1500))
    letters = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(1500))
    return digits + letters


@pytest.fixture(scope="module")
def switch_corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("findings") / "switch.txt"
    path.write_text(switching_text())
    return path


@pytest.fixture(scope="module")
def switching_session(switch_corpus):
    out = switch_corpus.with_suffix(".h5")
    config = TrainConfig(hidden_size=8, seq_length=25, checkpoint_every=0, sample_every=0)
    with TrainingRun(load_corpus(switch_corpus), config, out) as run:
        for _ in range(480):
            run.step()
    return out


def corpus_changes(window) -> list:
    return [f for f in window.findings_tracker.findings if f.kind == "corpus_change"]


@pytest.fixture
def found(window, qtbot, switching_session):
    """The window showing the switching session, its findings searched."""
    window.findings_tracker.min_interval = FAST
    assert window.open_session(switching_session)
    qtbot.waitUntil(lambda: window.findings_tracker.records == 480, timeout=10_000)
    return window


def test_findings_are_listed_and_marked(found):
    window = found
    changes = corpus_changes(window)
    assert [f.batch for f in changes] == [SWITCH_BATCH]
    panel = window.findings_panel
    rows = panel.rows()
    assert set(rows) == set(window.findings_tracker.findings)
    assert [f.score for f in rows] == sorted((f.score for f in rows), reverse=True)  # best first
    assert "1,500" in changes[0].reason
    markers = window.views.overview.findings
    assert list(markers.drawn()["corpus_change"]) == [SWITCH_BATCH]
    assert markers.boxes["corpus_change"].text() == "● corpus change 1" and markers.boxes["corpus_change"].isVisible()
    absent = [kind for kind, count in window.findings_tracker.counts().items() if count == 0]
    assert all(not markers.boxes[kind].isVisible() for kind in absent)  # the legend names the kinds found
    assert panel.status.text().startswith(f"{len(rows)} finding")


def test_clicking_a_row_selects_its_batch(found, qtbot):
    window = found
    table = window.findings_panel.table
    row = next(r for r, f in enumerate(window.findings_panel.rows()) if f.kind == "corpus_change")
    rect = table.visualItemRect(table.item(row, 3))
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())
    assert window.selection.selected == window.store.index_of_batch(SWITCH_BATCH)
    assert not window.selection.follow_live
    assert window.views.info_text().startswith(f"batch {SWITCH_BATCH} ")
    # Selecting that batch another way marks its row.
    window.selection.select(0)
    window.selection.select(window.store.index_of_batch(SWITCH_BATCH))
    assert window.findings_panel.current_finding().kind == "corpus_change"


def test_keys_jump_from_finding_to_finding(found, qtbot):
    window = found
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=2000)
    ordered = sorted({window.store.nearest_index(f.batch) for f in window.findings_tracker.shown()})
    window.selection.select(0)
    visited = []
    for _ in ordered:
        QTest.keyClick(window.views, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
        visited.append(window.selection.selected)
    assert visited == ordered
    QTest.keyClick(window.views, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert window.selection.selected == ordered[-1]  # nothing after the last one
    if len(ordered) > 1:
        QTest.keyClick(window.views, Qt.Key.Key_Left, Qt.KeyboardModifier.ControlModifier)
        assert window.selection.selected == ordered[-2]
    window.selection.select(len(window.store) - 1)
    QTest.keyClick(window.views, Qt.Key.Key_Left, Qt.KeyboardModifier.ControlModifier)
    assert window.selection.selected == ordered[-1]


def test_legend_hides_and_shows_a_kind(found):
    window = found
    markers, panel = window.views.overview.findings, window.findings_panel
    markers.boxes["corpus_change"].setChecked(False)
    assert len(markers.drawn()["corpus_change"]) == 0
    assert all(f.kind != "corpus_change" for f in panel.rows())
    assert "of hidden kinds" in panel.status.text() or not window.findings_tracker.shown()
    # The keys skip hidden kinds too.
    others = {window.store.nearest_index(f.batch) for f in window.findings_tracker.shown()}
    window.selection.select(window.store.index_of_batch(SWITCH_BATCH) - 1)
    panel.step(1)
    assert window.selection.selected != window.store.index_of_batch(SWITCH_BATCH) or SWITCH_BATCH in others
    markers.boxes["corpus_change"].setChecked(True)
    assert list(markers.drawn()["corpus_change"]) == [SWITCH_BATCH]
    assert any(f.kind == "corpus_change" for f in panel.rows())


def test_clicking_a_marker_selects_its_batch(found, qtbot):
    window = found
    overview = window.views.overview
    overview.plot.setXRange(0, 479, padding=0)
    symbol = overview.findings.scene_position(SWITCH_BATCH)
    assert overview.plot.vb.sceneBoundingRect().contains(symbol)  # drawn inside the plot, along its top
    scene_pos = symbol + QPointF(3, 2)  # a few pixels off: it still points at the finding
    assert overview.findings.finding_near(scene_pos).batch == SWITCH_BATCH
    assert overview.findings.finding_near(symbol + QPointF(0, 30)) is None  # lower down is the curve's
    QTest.mouseClick(overview.graphics.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     overview.graphics.mapFromScene(scene_pos))
    qtbot.waitUntil(lambda: window.selection.selected == window.store.index_of_batch(SWITCH_BATCH), timeout=1000)
    overview.hover_at_scene(scene_pos)
    assert "corpus changes at offset 1,500" in overview.plot.vb.toolTip()


def test_findings_appear_while_training(window, qtbot, tmp_path, switch_corpus):
    # The Units view, open beside, reads the same growing file through a handle of its own (which once
    # made every read of the findings fail: tests/test_reliability.py::test_two_readers_in_one_process…).
    assert window.units_dock.isVisible()
    window.findings_tracker.min_interval = FAST
    window.panel.set_config(TrainConfig(hidden_size=8, seq_length=25, checkpoint_every=0))
    window.panel.set_out_path(tmp_path / "live.h5")
    window.picker.select_spec(str(switch_corpus))
    window.start_training()
    qtbot.waitUntil(lambda: window.training, timeout=5000)
    seen_while_training = []

    def found_live():
        if corpus_changes(window):
            seen_while_training.append(window.training)
            return True
        return False

    qtbot.waitUntil(found_live, timeout=30_000)
    assert seen_while_training == [True]
    assert [f.batch for f in corpus_changes(window)] == [SWITCH_BATCH]
    assert [f.batch for f in window.findings_panel.rows() if f.kind == "corpus_change"] == [SWITCH_BATCH]
    records = window.findings_tracker.records
    window.stop_training(wait=True)
    qtbot.waitUntil(lambda: window.findings_tracker.records > records, timeout=10_000)  # searched again as it grew
    assert not window.errors


def test_a_session_that_cannot_be_read_says_why(found, qtbot, monkeypatch):
    window = found
    session = window.store.session

    def damaged(*args, **kwargs):
        raise RnnbowError("a record column cannot be read, the file is damaged")

    monkeypatch.setattr(session, "column", damaged)
    window.findings_tracker.follow(window.store)
    qtbot.waitUntil(lambda: window.findings_tracker.message != "", timeout=5000)
    assert window.findings_panel.status.text() == "Cannot look for findings: a record column cannot be read, the file is damaged"
    assert window.findings_panel.rows() == [] and not window.errors
