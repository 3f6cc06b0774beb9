"""The Dynamics view: computed off the GUI thread, hover and click through the real mouse path, the shared selection,
a live session that grows, cancel, the main window's dock, and (c) of the comparison."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from tiny_sessions import growing_session, train_session
from rnnbow_desktop.gui.compare.window import CompareWindow
from rnnbow_desktop.gui.dynamics.view import DynamicsView
from rnnbow_desktop.gui.selection import UnitChoice
from rnnbow_desktop.storage import reader
from rnnbow_desktop.storage.reader import Session
from rnnbow_desktop.storage.record_store import RecordStore
from rnnbow_desktop.storage.session_dynamics import session_dynamics

TEXT = "if (x) { y = x->next; }\n\telse { y = 0; return buf[n]; }\n" * 60
WAIT_MS = 60_000  # a result: a few hundred milliseconds here, more on a loaded machine


def train(path, batches: int, **config) -> None:
    train_session(path, batches, TEXT, "loop", **(dict(record_every=5, checkpoint_every=5, seed=4) | config))


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    """lstm.h5 (12 checkpoints: batches 0, 5, …, 55), gru.h5 (the same), none.h5 (no checkpoints)."""
    folder = tmp_path_factory.mktemp("dynamics-view")
    paths = {}
    for name, config in (("lstm", dict(cell="lstm")), ("gru", dict(cell="gru")), ("none", dict(checkpoint_every=0))):
        paths[name] = folder / f"{name}.h5"
        train(paths[name], 60, **config)
    return paths


@pytest.fixture
def view(shown, selection):
    v = shown(DynamicsView(selection), (900, 500))
    yield v
    v.shutdown()


@pytest.fixture
def opened():
    """Factory: a RecordStore over a session file, as the window opens one; closed after the test."""
    stores = []

    def open_store(path) -> RecordStore:
        stores.append(RecordStore.open(path))
        return stores[-1]

    yield open_store
    for store in stores:
        store.close()


def drawn_points(item) -> int:
    x, _ = item.getData()
    return 0 if x is None else len(x)


def computed(qtbot, view) -> None:
    qtbot.waitUntil(lambda: view.dynamics is not None and not view.busy, timeout=WAIT_MS)


def scene_point(view, checkpoint: int, point: int):
    """Where point `point` of checkpoint `checkpoint` is on the scatter's widget."""
    x, y = view.dynamics.embedding[checkpoint, point]
    widget = view.scatter.plot_widget
    return widget, widget.mapFromScene(view.scatter.plot.vb.mapViewToScene(QPointF(x, y)))


def isolated_point(view) -> tuple[int, int]:
    """A (checkpoint, point) whose nearest neighbour is far enough on screen for the mouse to pick it alone."""
    d = view.dynamics
    xy = d.embedding.reshape(-1, 2)
    pixel = np.array(view.scatter.plot.vb.viewPixelSize())
    on_screen = xy / pixel
    gaps = np.linalg.norm(on_screen[:, None] - on_screen[None], axis=2) + np.eye(len(xy)) * 1e9
    best = int(np.argmax(gaps.min(axis=1)))
    return divmod(best, d.embedding.shape[1])


def test_computes_off_the_gui_thread_and_draws_scatter_and_curves(qtbot, view, sessions, opened, monkeypatch):
    handles = []
    monkeypatch.setattr(reader.Session, "__init__", lambda self, *a, _init=reader.Session.__init__, **k:
                        (handles.append(a), _init(self, *a, **k))[1])
    view.set_store(opened(sessions["lstm"]))
    assert view.busy  # started at once for a visible view, in a thread
    computed(qtbot, view)
    d = view.dynamics
    assert d.embedding.shape == (12, 8, 2) and d.interslice_knn == 3
    np.testing.assert_array_equal(d.checkpoints, np.arange(0, 60, 5))
    assert len(view.scatter.points.data) == 12 * 8
    # The curves beside it are the result's.
    spread_x, spread_y = view.curves.spread_curves[0].getData()
    np.testing.assert_array_equal(spread_x, d.checkpoints)
    np.testing.assert_allclose(spread_y, d.curves.spread)
    np.testing.assert_array_equal(view.curves.community_curves[0].getData()[1], d.curves.communities)
    # The same numbers as the CLI's path computes.
    with Session(sessions["lstm"]) as session:
        _, direct = session_dynamics(session)
    np.testing.assert_allclose(direct.embedding, d.embedding)
    # The view read through the store's own handle: a second one in this process would read a growing file stale.
    assert len(handles) == 2  # the store's, and the one opened just above for the comparison
    assert "12 checkpoints" in view.status.text() and "interslice_knn 3" in view.status.text()
    assert view.state_combo.isVisible()  # an LSTM has a cell state to choose
    assert not view.progress.isVisible()


def test_hover_names_the_point_and_click_selects_unit_and_checkpoint(qtbot, view, sessions, selection, opened):
    view.set_store(opened(sessions["lstm"]))
    computed(qtbot, view)
    qtbot.wait(50)
    checkpoint, point = isolated_point(view)
    widget, where = scene_point(view, checkpoint, point)
    QTest.mouseMove(widget.viewport(), where)
    qtbot.waitUntil(lambda: view.scatter.hovered == (checkpoint, point), timeout=2000)
    batch = int(view.dynamics.checkpoints[checkpoint])
    assert f"unit <b>{point}</b>" in view.scatter.readout.text() and f"batch <b>{batch:,}</b>" in view.scatter.readout.text()

    with qtbot.waitSignals([selection.unitChanged, selection.checkpointChanged], order="strict"):
        QTest.mouseClick(widget.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, where)
    assert selection.unit == UnitChoice("h", point) and selection.checkpoint == batch
    # The clicked unit's trajectory is drawn bold, and its point at that checkpoint is ringed.
    np.testing.assert_allclose(np.column_stack(view.scatter.highlight.getData()), view.dynamics.embedding[:, point])
    np.testing.assert_allclose(view.scatter.mark.data["x"], [view.dynamics.embedding[checkpoint, point, 0]])
    assert view.curves.markers[0].value() == batch and view.curves.markers[0].isVisible()

    # Far from every point: nothing is hovered, a click selects nothing.
    corner = widget.mapFromScene(view.scatter.plot.vb.sceneBoundingRect().topLeft()) + QPointF(2, 2).toPoint()
    QTest.mouseMove(widget.viewport(), corner)
    qtbot.waitUntil(lambda: view.scatter.hovered is None, timeout=2000)


def test_a_unit_selected_elsewhere_highlights_its_trajectory(qtbot, view, sessions, selection, opened):
    view.set_store(opened(sessions["gru"]))
    computed(qtbot, view)
    assert not view.state_combo.isVisible()  # a GRU has only h
    selection.set_unit(UnitChoice("h", 5))
    np.testing.assert_allclose(np.column_stack(view.scatter.highlight.getData()), view.dynamics.embedding[:, 5])
    assert view.scatter.mark.data["x"].tolist() == [view.dynamics.embedding[-1, 5, 0]]  # no checkpoint: the last
    selection.set_checkpoint(20)
    assert view.scatter.mark.data["x"].tolist() == [view.dynamics.embedding[4, 5, 0]]
    selection.set_unit(None)
    assert drawn_points(view.scatter.highlight) == 0 and len(view.scatter.mark.data) == 0
    view.color_combo.setCurrentIndex(view.color_combo.findData("unit"))
    assert view.scatter.color_by == "unit" and "one colour per unit" in view.scatter.key.text()


def test_cell_state_is_computed_on_request(qtbot, view, sessions, opened):
    view.set_store(opened(sessions["lstm"]))
    computed(qtbot, view)
    h = view.dynamics
    view.state_combo.setCurrentIndex(view.state_combo.findData("c"))
    qtbot.waitUntil(lambda: view.dynamics is not None and view.dynamics.state == "c" and not view.busy, timeout=WAIT_MS)
    assert not np.allclose(view.dynamics.embedding, h.embedding)


def test_a_session_without_checkpoints_says_so(qtbot, view, sessions, opened):
    view.set_store(opened(sessions["none"]))
    assert "no checkpoints" in view.status.text() and "checkpoint_every = 0" in view.status.text()
    assert view.dynamics is None and not view.busy  # said at once, on the GUI thread: no job started
    assert "checked again" not in view.status.text()  # a complete file will not grow


def test_a_hidden_view_does_no_work(qtbot, selection, sessions, opened):
    v = DynamicsView(selection)
    qtbot.addWidget(v)
    v.set_store(opened(sessions["lstm"]))
    assert not v.busy
    v.show()
    qtbot.waitUntil(lambda: v.busy or v.dynamics is not None, timeout=2000)
    v.shutdown()
    assert not v.busy


def test_follows_a_live_session_as_it_adds_checkpoints(qtbot, view, tmp_path, opened):
    path = tmp_path / "live.h5"
    with growing_session(path, 20, TEXT, "loop", cell="rnn", record_every=5, checkpoint_every=5) as run:
        view.poll_timer.setInterval(100)
        store = opened(path)
        view.set_store(store)
        view.set_live(True)  # as for the window's own training: the view refreshes the store's handle itself
        qtbot.waitUntil(lambda: view.dynamics is not None and not view.busy, timeout=WAIT_MS)
        assert len(view.dynamics.checkpoints) == 4
        assert "updated as the session adds checkpoints" in view.status.text()
        first = view.trace
        for _ in range(20):
            run.step()
        run.writer.flush()
        qtbot.waitUntil(lambda: view.dynamics is not None and len(view.dynamics.checkpoints) == 8 and not view.busy,
                        timeout=WAIT_MS)
        # The old checkpoints' slices were kept, not replayed.
        np.testing.assert_array_equal(view.trace.trace[:4], first.trace)
        view.set_live(False)  # what the window does before it swaps the handle of a finished run
    assert not view.busy


def test_cancel_stops_the_work_and_waits_for_compute(qtbot, view, tmp_path, opened):
    path = tmp_path / "big.h5"
    train(path, 200, cell="gru", hidden_size=48)  # 40 checkpoints: a few seconds of work
    view.set_store(opened(path))
    qtbot.waitUntil(lambda: view.busy and view.progress.value() > 0, timeout=WAIT_MS)
    view.cancel_button.click()
    qtbot.waitUntil(lambda: not view.busy, timeout=WAIT_MS)
    assert view.dynamics is None and "Cancelled" in view.status.text() and view.paused
    view._poll()
    assert not view.busy  # polling does not undo the cancel
    view.compute_button.click()
    assert view.busy
    view.shutdown()
    assert not view.busy


def test_switching_sessions_mid_computation_shows_only_the_new_one(qtbot, view, sessions, tmp_path, opened):
    path = tmp_path / "big.h5"
    train(path, 200, cell="gru", hidden_size=48)
    big = opened(path)
    view.set_store(big)
    qtbot.waitUntil(lambda: view.busy, timeout=WAIT_MS)
    view.set_store(opened(sessions["gru"]))
    big.close()  # as the window closes the old store: the cancelled job no longer reads it
    computed(qtbot, view)
    assert view.dynamics.embedding.shape == (12, 8, 2)
    qtbot.waitUntil(lambda: not view._retiring, timeout=WAIT_MS)


def test_main_window_has_the_dock_and_follows_the_opened_session(qtbot, make_window, sessions):
    window = make_window()
    dock = window.dynamics_dock
    menus = [action.menu() for action in window.menuBar().actions() if action.menu() is not None]
    assert dock.toggleViewAction() in [action for menu in menus for action in menu.actions()]
    dock.show()
    dock.raise_()
    assert window.open_session(sessions["lstm"])
    qtbot.waitUntil(lambda: window.dynamics.dynamics is not None, timeout=WAIT_MS)
    assert window.dynamics.store is window.store
    window.dynamics.scatter.pointClicked.emit((2, 3))
    assert window.selection.unit == UnitChoice("h", 3) and window.selection.checkpoint == 10
    window.close()
    assert not window.dynamics.busy


def test_compare_window_draws_each_sessions_curves(qtbot, sessions):
    w = CompareWindow([sessions["lstm"], sessions["gru"], sessions["none"]])
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    plot = w.dynamics_plot
    qtbot.waitUntil(lambda: len(plot.results) == 3 and plot.worker is None, timeout=WAIT_MS)
    assert "(c)" in plot.header.text()
    drawn = [c.getData()[0] for c in plot.curves.spread_curves if c.getData()[0] is not None and len(c.getData()[0])]
    assert len(drawn) == 2 and all(np.array_equal(x, np.arange(0, 60, 5)) for x in drawn)
    for curve in plot.curves.spread_curves[:2]:
        assert curve.getData()[1].max() == pytest.approx(1.0)  # each session's spread relative to its maximum
    assert "no checkpoints" in plot.note.text() and "12 checkpoints" in plot.note.text()
    w.close()
