"""The Units view: the probe coloured by the selected unit, the ranked list, the shared selection (unit, checkpoint),
features typed by the user, hover predictions, n-gram colouring, saturation, a growing session, the main window's
dock and the selected unit's gradient horizon in the horizon view."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

import rnnbow_desktop as rb
from tiny_sessions import growing_session, train_session
from rnnbow_desktop.analysis.probe import default_probe
from rnnbow_desktop.analysis.unit_report import state_values
from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.gui.selection import UnitChoice
from rnnbow_desktop.gui.units.colours import NGRAM_DIFFERENCE, state_scale
from rnnbow_desktop.gui.units.text_view import TextLayout
from rnnbow_desktop.gui.units.view import NGRAM, UnitsView
from rnnbow_desktop.storage.record_store import RecordStore

LINES = ["if (x) { y = x->next; }\n", "\telse { y = 0; return buf[n]; }\n", "while (p[i]) { q = (r + s); }\n",
         "/* a comment */ z = 'c';\n"]
TEXT = "".join(LINES[k] for k in np.random.default_rng(1).integers(0, len(LINES), 160))
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    folder = tmp_path_factory.mktemp("units-view")
    paths = {}
    for name, settings in (("lstm", dict(cell="lstm")), ("rnn", dict(cell="rnn")), ("none", dict(checkpoint_every=0))):
        paths[name] = train_session(folder / f"{name}.h5", 60, TEXT, "loop",
                                    **(dict(record_every=3, checkpoint_every=20, seed=4) | settings))
    return paths


@pytest.fixture
def view(shown, selection):
    v = shown(UnitsView(selection), (900, 700))
    stores = []

    def open_(path):
        store = RecordStore.open(path)
        stores.append(store)
        v.set_session(path, store)
        return store

    v.open = open_
    yield v
    v.shutdown()
    for store in stores:
        store.close()


def settled(qtbot, view) -> None:
    qtbot.waitUntil(lambda: view.report is not None and view.report_final and view.curve is not None and not view.busy,
                    timeout=WAIT_MS)


def expected_colours(path, state: str, unit: int, checkpoint: int | None = None):
    with rb.open_session(path) as s:
        replayed = s.replay(default_probe(s.corpus_text()), checkpoint)
    return state_scale(state).rgba(state_values(replayed, state)[:, unit])


def test_the_probe_is_coloured_by_the_top_unit_until_one_is_chosen(qtbot, view, sessions):
    view.open(sessions["lstm"])
    settled(qtbot, view)
    report = view.report
    assert report.checkpoint == 40 and view.slider.batch == 40 and view.slider.following
    with rb.open_session(sessions["lstm"]) as s:
        assert view.text_view.text == default_probe(s.corpus_text())
    top = view.unit_list.model.matches[0]
    assert abs(top.r) == pytest.approx(np.abs(report.correlations.r).max())
    np.testing.assert_array_equal(view.text_view.rgba, expected_colours(sessions["lstm"], top.state, top.unit))
    assert "the top of the ranking" in view.header.text()


def test_clicking_a_unit_selects_it_and_another_views_choice_is_shown(qtbot, view, sessions, selection):
    view.open(sessions["lstm"])
    settled(qtbot, view)
    table = view.unit_list.table
    rect = table.visualRect(view.unit_list.model.index(2, 0))
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    third = view.unit_list.model.matches[2]
    assert selection.unit == UnitChoice(third.state, third.unit)
    # The Dynamics view (or anything else) chooses a unit through the shared selection.
    selection.set_unit(UnitChoice("forget", 5))
    np.testing.assert_array_equal(view.text_view.rgba, expected_colours(sessions["lstm"], "forget", 5))
    assert view.unit_list.table.selectionModel().selectedRows()[0].row() == view.unit_list.model.row_of(selection.unit)
    assert "forget unit 5" in view.header.text() and "0 (closed) … 1 (open)" in view.legend.scale.label
    ringed = view.saturation.marker.getData()
    saturation = view.report.saturation["forget"]
    assert (ringed[0][0], ringed[1][0]) == (saturation.left[5], saturation.right[5])


def test_the_checkpoint_slider_and_the_shared_checkpoint(qtbot, view, sessions, selection):
    view.open(sessions["lstm"])
    settled(qtbot, view)
    selection.set_unit(UnitChoice("c", 2))
    selection.set_checkpoint(20)  # e.g. a click in the Dynamics view
    qtbot.waitUntil(lambda: view.report.checkpoint == 20 and view.report_final, timeout=WAIT_MS)
    assert view.slider.batch == 20 and "batch 20 (2 of 3)" in view.slider.label.text()
    np.testing.assert_array_equal(view.text_view.rgba, expected_colours(sessions["lstm"], "c", 2, 20))
    assert view.curve_plot.marker.value() == 20
    view.slider.slider.setValue(0)  # the user drags to the first checkpoint
    qtbot.waitUntil(lambda: selection.checkpoint == 0 and view.report.checkpoint == 0, timeout=WAIT_MS)
    view.slider.slider.setValue(2)  # the right end follows the newest checkpoint
    qtbot.waitUntil(lambda: selection.checkpoint is None and view.report.checkpoint == 40, timeout=WAIT_MS)


def test_a_typed_feature_is_added_and_a_bad_one_explained(qtbot, view, sessions):
    view.open(sessions["lstm"])
    settled(qtbot, view)
    edit = view.unit_list.feature_edit
    QTest.keyClicks(edit, "bad=(")
    QTest.keyClick(edit, Qt.Key.Key_Return)
    assert "bad regular expression" in view.unit_list.message.text() and view.unit_list.message.isVisible()
    edit.clear()
    QTest.keyClicks(edit, "brace={")
    QTest.keyClick(edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: view.report.correlations.features[-1] == "brace" and view.report_final, timeout=WAIT_MS)
    assert not view.unit_list.message.isVisible() and edit.text() == ""
    assert view.unit_list.rank_combo.findData("brace") >= 0
    view.unit_list.rank_combo.setCurrentIndex(view.unit_list.rank_combo.findData("brace"))
    ranked = view.unit_list.model.matches
    assert all(m.feature == "brace" for m in ranked)
    assert [abs(m.r) for m in ranked] == sorted((abs(m.r) for m in ranked), reverse=True)
    qtbot.waitUntil(lambda: view.curve is not None and "brace" in view.curve.features, timeout=WAIT_MS)


def test_hover_names_the_top_five_next_characters(qtbot, view, sessions):
    store = view.open(sessions["lstm"])
    settled(qtbot, view)
    text_view = view.text_view
    index = 7
    QTest.mouseMove(text_view.viewport(), text_view.cell_rect(index).center())
    qtbot.waitUntil(lambda: text_view.hovered_index == index, timeout=2000)
    shown = view.hover_label.text()
    probs = view.report.replay.probs[index]
    top = np.argsort(-probs)[:5]
    assert shown.count("%") == 5
    from rnnbow_desktop.gui.views.labels import visible_char
    assert "next: " + ", ".join(f"{visible_char(store.vocab[i])!r} {probs[i]:.0%}" for i in top) in shown
    QTest.mouseMove(text_view.viewport(), QPoint(text_view.viewport().width() - 2, text_view.viewport().height() - 2))
    qtbot.waitUntil(lambda: text_view.hovered_index is None, timeout=2000)


def test_ngram_difference_colours_the_predicted_character(qtbot, view, sessions):
    view.open(sessions["lstm"])
    settled(qtbot, view)
    view.colour_combo.setCurrentIndex(view.colour_combo.findData(NGRAM))
    gain = view.report.memory.gain
    expected = NGRAM_DIFFERENCE.rgba(np.concatenate(([np.nan], gain[:-1])))
    np.testing.assert_array_equal(view.text_view.rgba, expected)
    assert "model − 9-gram" in view.header.text()


def test_a_vanilla_rnn_has_no_saturation_and_no_checkpoints_says_so(qtbot, view, sessions):
    view.open(sessions["rnn"])
    settled(qtbot, view)
    assert view.report.correlations.states == ("h",)
    assert "no sigmoid gates" in view.saturation.note.text() and not view.saturation.scatters
    view.open(sessions["none"])
    qtbot.waitUntil(lambda: "no checkpoints yet" in view.empty.text(), timeout=WAIT_MS)
    assert view.pages.currentWidget() is view.empty


def test_a_probe_outside_the_vocabulary_is_named_and_the_last_good_one_kept(qtbot, view, sessions, tmp_path):
    view.open(sessions["lstm"])
    settled(qtbot, view)
    before = view.report
    bad = tmp_path / "p.txt"
    bad.write_text("x = Q@;")
    view.ask_probe_file = lambda: bad
    view._open_probe_file()
    qtbot.waitUntil(lambda: "outside the session's vocabulary: 'Q', '@'" in view.status.text(), timeout=WAIT_MS)
    assert view.report is before and not view.busy
    good = tmp_path / "q.c"
    good.write_text("while (x) { y = 0; }\n")
    view.ask_probe_file = lambda: good
    view._open_probe_file()
    qtbot.waitUntil(lambda: view.report is not before and view.report_final, timeout=WAIT_MS)
    assert view.text_view.text == good.read_text() and "q.c" in view.status.text()



def test_a_probe_file_that_is_not_text_is_named(view, tmp_path):
    path = tmp_path / "p.txt"
    path.write_bytes("caf\xe9".encode("latin-1"))
    view.ask_probe_file = lambda: path
    view._open_probe_file()
    assert view.status.text() == f"{path}: is not UTF-8 text (invalid byte 0xe9 at offset 3); convert it to UTF-8 first"


def test_follows_a_growing_session_as_checkpoints_arrive(qtbot, view, tmp_path):
    path = tmp_path / "live.h5"
    with growing_session(path, 15, TEXT, "loop", cell="gru", record_every=5, checkpoint_every=10) as run:
        view.poll_timer.setInterval(100)
        view.open(path)
        qtbot.waitUntil(lambda: view.report is not None and view.report.checkpoint == 10, timeout=WAIT_MS)
        for _ in range(20):
            run.step()
        run.writer.flush()
        qtbot.waitUntil(lambda: view.report.checkpoint == 30 and view.checkpoints == (0, 10, 20, 30), timeout=WAIT_MS)
        assert view.slider.following
    qtbot.waitUntil(lambda: not view.poll_timer.isActive(), timeout=WAIT_MS)  # complete now: polling ends


def test_text_layout_wraps_and_breaks_at_newlines():
    layout = TextLayout("ab\ncdefg\n\nxyz", 3)
    assert layout.n_rows == 5
    assert [layout.row_text(r) for r in range(5)] == ["ab ", "cde", "fg ", " ", "xyz"]
    assert layout.grid[1].tolist() == [3, 4, 5] and layout.grid[2].tolist() == [6, 7, 8]
    assert TextLayout("", 4).n_rows == 0


def test_main_window_dock_and_the_units_gradient_horizon(qtbot, make_window, sessions):
    window = make_window()
    menus = [action.menu() for action in window.menuBar().actions() if action.menu() is not None]
    assert window.units_dock.toggleViewAction() in [a for menu in menus for a in menu.actions()]
    window.units_dock.show()
    window.units_dock.raise_()
    assert window.open_session(sessions["lstm"])
    qtbot.waitUntil(lambda: window.units.report is not None, timeout=WAIT_MS)
    store, selection, horizon = window.store, window.selection, window.views.horizon
    index = int(np.flatnonzero(store.batches == 33)[0])  # a batch between the checkpoints 20 and 40
    selection.select(index)
    selection.set_unit(UnitChoice("c", 4))
    qtbot.waitUntil(lambda: horizon.unit_horizon is not None and horizon.unit_horizon.batch == 33, timeout=WAIT_MS)
    found = horizon.unit_horizon.gradients
    assert found.from_checkpoint == 30 // 20 * 20 and found.batches_retrained == 13
    with rb.open_session(sessions["lstm"]) as s:
        assert np.array_equal(found.values, s.unit_gradients(33).values)
    selection.set_hovered_loss(8)
    x, y0, height = horizon.drawn_bars()
    np.testing.assert_allclose(height, found.values[8, :9, 4])
    assert "unit 4" in horizon.header.text() and "13 batches re-trained" in horizon.header.text()
    selection.set_unit(UnitChoice("h", 6))  # another unit of the same batch: no re-training
    assert horizon.unit_horizon.unit == UnitChoice("h", 6)
    np.testing.assert_allclose(horizon.drawn_bars()[2], found.values[8, :9, 6])
    selection.set_unit(None)
    qtbot.waitUntil(lambda: horizon.unit_horizon is None, timeout=WAIT_MS)
    window.close()


def test_follows_training_in_the_window_as_checkpoints_arrive(qtbot, make_window, tmp_path):
    window = make_window()
    window.units_dock.show()
    window.units_dock.raise_()
    window.units.poll_timer.setInterval(200)
    window.panel.set_config(TrainConfig(cell="lstm", hidden_size=12, seq_length=12, record_every=5, checkpoint_every=40,
                                        seed=2))
    window.panel.set_out_path(tmp_path / "live.h5")
    window.picker.select_spec("brackets")
    window.start_training()
    qtbot.waitUntil(lambda: window.training, timeout=10_000)
    units = window.units
    qtbot.waitUntil(lambda: units.report is not None and units.report.checkpoint >= 80, timeout=WAIT_MS)
    seen = units.report.checkpoint
    assert units.slider.following  # the newest checkpoint is followed
    qtbot.waitUntil(lambda: units.report.checkpoint > seen, timeout=WAIT_MS)  # a newer checkpoint was replayed
    window.stop_training(wait=True)
    qtbot.waitUntil(lambda: not window.training, timeout=10_000)
    window.close()
    assert not units.worker.isRunning()


def test_the_curve_advances_while_other_jobs_keep_arriving(qtbot, sessions, monkeypatch):
    # Found by hand on a file growing fast: a new checkpoint look or report was nearly always waiting, and the
    # curve stepped aside at its first progress report of every turn, so it never got past its cache.
    from rnnbow_desktop.gui.units.worker import CURVE, Job, UnitsWorker

    worker = UnitsWorker()
    monkeypatch.setattr(worker, "_waiting_besides", lambda kind: True)  # another job is always waiting
    done = []
    worker.finishedJob.connect(lambda outcome: done.append(outcome) if outcome.kind == CURVE else None)
    worker.submit(Job(CURVE, 1, sessions["lstm"]))
    try:
        qtbot.waitUntil(lambda: bool(done), timeout=WAIT_MS)
    finally:
        worker.stop()
    with rb.open_session(sessions["lstm"]) as s:
        assert tuple(int(b) for b in done[0].value.batches) == s.checkpoints
