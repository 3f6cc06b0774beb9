"""The "Compare sessions" window on three real small sessions (rnn, gru, lstm) recorded at different intervals."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (QAbstractButton, QAbstractSpinBox, QApplication, QComboBox, QLabel, QMessageBox,
                               QWidget)

from tiny_sessions import train_session
from rnnbow_desktop.core.errors import RnnbowError
from rnnbow_desktop.gui.compare import horizon_plot, profile_plot
from rnnbow_desktop.gui.compare.render import render_comparison
from rnnbow_desktop.gui.compare.window import CompareWindow
from rnnbow_desktop.gui.views.labels import visible_char
from rnnbow_desktop.analysis.compare import horizon_over_training, horizon_profile
from rnnbow_desktop.analysis.smoothing import moving_average
from rnnbow_desktop.analysis.training_phase import late_training_start
from rnnbow_desktop.storage.reader import Session

BATCHES = 60
# Different recording intervals, so that aligning by batch has to pick the nearest record.
CELLS = (("rnn", 1), ("gru", 3), ("lstm", 2))


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare")
    return [train_session(folder / f"tiny-{cell}.h5", BATCHES, cell=cell, record_every=every, seed=1)
            for cell, every in CELLS]


@pytest.fixture
def window(shown, paths):
    return shown(CompareWindow(paths), (1500, 1000))


def move_mouse(qtbot, graphics_view, vb, x, y):
    """Move the mouse over data point (x, y) of view box `vb`, through the real event path."""
    scene_pos = vb.mapViewToScene(QPointF(x, y))
    QTest.mouseMove(graphics_view.viewport(), graphics_view.mapFromScene(scene_pos))
    qtbot.wait(40)  # hover handlers sit behind a 60 Hz SignalProxy


def click(graphics_view, vb, x, y):
    point = graphics_view.mapFromScene(vb.mapViewToScene(QPointF(x, y)))
    QTest.mouseClick(graphics_view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)


def record_batch(window, i, index):
    return int(window.sessions[i].store.batches[index])


def assert_shows_batch(window, i, batch):
    """Session i's views 1, 2 and 4 draw the record of `batch`: labels, bars and the info line."""
    s, column = window.sessions[i], window.columns[i]
    assert record_batch(window, i, s.selection.shown) == batch
    record = s.store.record(s.selection.shown)
    vocab = s.store.vocab
    expected = [(visible_char(vocab[t]), visible_char(vocab[p])) for t, p in zip(record.targets, record.predictions)]
    assert [(true, predicted) for true, predicted, _ in column.labels.cells()] == expected
    assert column.bars.record.batch == batch
    np.testing.assert_allclose(column.bars.stack.values, np.tril(record.itemized))
    assert column.overview.info_text().startswith(f"batch {batch:,} ")


def test_every_place_names_the_session_by_file_and_cell(window):
    labels = ["tiny-rnn.h5 (rnn)", "tiny-gru.h5 (gru)", "tiny-lstm.h5 (lstm)"]
    assert window.windowTitle() == f"Compare: {', '.join(labels)} — RNNbow"
    assert [s.label for s in window.sessions] == labels
    for label, column in zip(labels, window.columns):
        assert label in column.header.text()
        assert label in window.legend.text()
    # One colour per session, the same in (a), (b), the legend and the column's overview strip.
    colors = [s.color for s in window.sessions]
    assert len(set(colors)) == 3
    for i, color in enumerate(colors):
        for curve in (window.profile_plot.curves[i], window.horizon_plot.curves[i], window.columns[i].overview.horizon_curve):
            assert curve.opts["pen"].color().name() == QColor(color).name()
        assert color in window.legend.text() and color in window.columns[i].header.text()


def test_profile_curves_are_each_sessions_horizon_profile(window, paths, monkeypatch):
    plot = window.profile_plot
    assert plot.range_key() == "whole" and plot.log_box.isChecked()
    for path, curve in zip(paths, plot.curves):
        with Session(path) as session:
            expected = horizon_profile(session)
        x, y = curve.getOriginalDataset()
        np.testing.assert_array_equal(x, expected.distance)
        np.testing.assert_allclose(y, expected.relative)
        assert y[0] == pytest.approx(1.0)

    plot.set_range("last")  # batches from 80% of the training on: 48 of 60 trained, however often recorded
    for path, curve in zip(paths, plot.curves):
        with Session(path) as session:
            assert late_training_start(session.batches_trained) == 48
            expected = horizon_profile(session, first_batch=48)
        np.testing.assert_allclose(curve.getOriginalDataset()[1], expected.relative)
    assert "batches 48–" in plot.note.text()

    monkeypatch.setattr(profile_plot, "AROUND_BATCHES", 6)
    plot.set_range("around")
    window.link.select_batch(30)
    for path, curve, profile in zip(paths, plot.curves, plot.profiles):
        with Session(path) as session:
            expected = horizon_profile(session, 24, 36)
        assert profile.batch_range == expected.batch_range
        np.testing.assert_allclose(curve.getOriginalDataset()[1], expected.relative)

    plot.set_statistic("median")  # the typical batch: each record's own profile, then the median
    for path, curve in zip(paths, plot.curves):
        with Session(path) as session:
            expected = horizon_profile(session, 24, 36, statistic="median")
        np.testing.assert_allclose(curve.getOriginalDataset()[1], expected.relative)

    plot.log_box.setChecked(False)
    assert not plot.plot.getAxis("left").logMode


def test_horizon_curves_are_the_smoothed_horizon_of_each_session(qtbot, paths, monkeypatch):
    monkeypatch.setattr(horizon_plot, "SMOOTHING_DIVISIONS", 10)  # 60 batches: average over 6
    w = CompareWindow(paths)
    qtbot.addWidget(w)
    plot = w.horizon_plot
    assert plot.span_batches == 6
    assert plot.windows == [6, 2, 3]  # the same 6 batches: every record, every 3rd, every 2nd
    for path, window_size, curve, raw_curve in zip(paths, plot.windows, plot.curves, plot.raw_curves):
        with Session(path) as session:
            batches, horizon = horizon_over_training(session)
        x, y = curve.getOriginalDataset()
        np.testing.assert_array_equal(x, batches)
        np.testing.assert_allclose(y, moving_average(horizon, window_size))
        np.testing.assert_allclose(raw_curve.getOriginalDataset()[1], horizon)
        assert not raw_curve.isVisible()
    plot.raw_box.setChecked(True)
    assert all(c.isVisible() for c in plot.raw_curves)


def test_starts_aligned_on_the_last_batch_all_sessions_reached(window):
    # rnn recorded 59, gru 57, lstm 58: all align to 57 (lstm: 56 and 58 are equally near; the earlier wins).
    assert window.link.selected_batch == 57
    for i, batch in enumerate((57, 57, 56)):
        assert record_batch(window, i, window.sessions[i].selection.selected) == batch
        assert_shows_batch(window, i, batch)


def test_hovering_a_batch_in_one_overview_previews_the_nearest_record_everywhere(qtbot, window):
    overview = window.columns[0].overview
    move_mouse(qtbot, overview.graphics, overview.plot.vb, 32, 0)
    assert window.link.preview_batch == 32
    # rnn records every batch, gru every 3rd (33 is nearer than 30), lstm every 2nd.
    for i, batch in enumerate((32, 33, 32)):
        assert record_batch(window, i, window.sessions[i].selection.preview) == batch
        assert_shows_batch(window, i, batch)
        assert "(preview: click to select)" in window.columns[i].overview.info_text()
    assert window.horizon_plot.preview_line.isVisible() and window.horizon_plot.preview_line.value() == 32
    assert "batch 32" in window.horizon_plot.readout.text()

    QApplication.sendEvent(overview.graphics, QEvent(QEvent.Type.Leave))
    for i, batch in enumerate((57, 57, 56)):
        assert window.sessions[i].selection.preview is None
        assert_shows_batch(window, i, batch)
    assert not window.horizon_plot.preview_line.isVisible()


def test_clicking_a_batch_selects_it_in_every_session(qtbot, window):
    overview = window.columns[1].overview  # the gru session, recorded every 3rd batch
    click(overview.graphics, overview.plot.vb, 12, 0)
    assert window.link.selected_batch == 12
    for i in range(3):
        assert_shows_batch(window, i, 12)
    line = window.horizon_plot.selected_line
    assert line.isVisible() and line.value() == 12

    # (b) works the same way: hover previews and click selects in all sessions.
    plot = window.horizon_plot
    move_mouse(qtbot, plot.plot_widget, plot.plot.vb, 40, 3)
    assert [record_batch(window, i, s.selection.preview) for i, s in enumerate(window.sessions)] == [40, 39, 40]
    click(plot.plot_widget, plot.plot.vb, 40, 3)
    assert window.link.selected_batch == 40
    assert [record_batch(window, i, s.selection.selected) for i, s in enumerate(window.sessions)] == [40, 39, 40]


def test_hovering_a_loss_step_in_one_session_highlights_it_in_all(qtbot, window):
    bars = window.columns[2].bars  # lstm
    height = bars.stack.top - bars.stack.bottom  # (n, n) [t, j]
    height[:3] = 0  # a loss late enough to reach back over several bars
    t, j = np.unravel_index(np.argmax(height), height.shape)  # its tallest part: easy to hit with the mouse
    y = (bars.stack.bottom[t, j] + bars.stack.top[t, j]) / 2
    move_mouse(qtbot, bars.plot_widget, bars.plot.vb, j, y)
    for s, column in zip(window.sessions, window.columns):
        assert s.selection.hovered_loss == t
        x, _, _ = column.bars.highlighted_segments()
        np.testing.assert_array_equal(x, np.arange(t + 1))  # every part loss t caused, bars j = 0 … t
        assert f"Horizon of loss t = {t}" in column.horizon.header.text()
    # A new batch clears it everywhere.
    window.link.select_batch(20)
    assert all(s.selection.hovered_loss is None for s in window.sessions)


def test_arrow_keys_step_all_sessions_together(qtbot, window):
    window.link.select_batch(30)
    window.activateWindow()
    qtbot.waitActive(window)
    QTest.keyClick(window, Qt.Key.Key_Right)
    assert window.link.selected_batch == 31  # the next batch any session recorded (rnn: every batch)
    assert [record_batch(window, i, s.selection.selected) for i, s in enumerate(window.sessions)] == [31, 30, 30]
    QTest.keyClick(window, Qt.Key.Key_Left)
    QTest.keyClick(window, Qt.Key.Key_Left)
    assert window.link.selected_batch == 29
    QTest.keyClick(window, Qt.Key.Key_Home)
    assert window.link.selected_batch == 0
    QTest.keyClick(window, Qt.Key.Key_Left)  # nothing before the first batch
    assert window.link.selected_batch == 0
    QTest.keyClick(window, Qt.Key.Key_End)
    assert window.link.selected_batch == 59


def test_toolbar_options_apply_to_every_session(window):
    window.k_spin.setValue(3)
    window.mode_combo.setCurrentIndex(window.mode_combo.findData("contribution"))
    for s, column in zip(window.sessions, window.columns):
        assert s.selection.horizon_k == 3 and s.selection.mode == "contribution"
        assert column.bars.stack.k == 3


def test_export_png_and_svg(tmp_path, window):
    png = window.export(tmp_path / "compare.png")
    image = QImage(str(png))
    assert (image.width(), image.height()) == (window.content.width(), window.content.height())
    svg = window.export(tmp_path / "compare.svg")
    assert svg.read_text(encoding="utf-8").lstrip().startswith("<?xml") and "<svg" in svg.read_text(encoding="utf-8")
    with pytest.raises(RnnbowError, match="unknown image type"):
        window.export(tmp_path / "compare.bmp")


def test_overview_headings_stay_one_line_beside_their_log_box(shown, paths):
    # 1,600 px for two columns, as `rnnbow compare` draws: the log-scale box once squeezed each heading
    # into four lines, and the overview plot under it shrank to a sliver.
    w = shown(CompareWindow(paths[:2]), (1600, 1000))
    for column in w.columns:
        header = column.overview.header
        assert header.height() < 2 * header.fontMetrics().lineSpacing()
        assert column.overview.graphics.height() > 4 * header.height()


def test_render_comparison_draws_the_requested_size(qapp, tmp_path, paths):
    out = render_comparison(paths, tmp_path / "c.png", size=(1200, 800))
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1200, 800)
    # Not a blank picture: the sessions' colours are in it.
    pixels = {image.pixelColor(x, y).name() for x in range(0, 1200, 3) for y in range(0, 800, 3)}
    assert len(pixels) > 20
    with pytest.raises(RnnbowError, match="already exists"):
        render_comparison(paths, out)
    render_comparison(paths, out, size=(1000, 700), force=True, profile_over="last", batch=20)
    assert QImage(str(out)).width() == 1000
    with pytest.raises(RnnbowError, match="at least two"):
        render_comparison(paths[:1], tmp_path / "one.png")
    with pytest.raises(RnnbowError, match="hover step 10 is out of range"):
        render_comparison(paths, tmp_path / "h.png", hover_step=10)
    with pytest.raises(RnnbowError, match="unknown profile statistic"):
        render_comparison(paths, tmp_path / "s.png", profile_statistic="mode")


def test_render_comparison_with_a_hovered_loss_draws_its_horizon_in_every_column(qapp, tmp_path, paths, monkeypatch):
    seen = []
    original = CompareWindow.export

    def export(self, path):  # look at the window as it is drawn
        seen.append([(s.selection.hovered_loss, c.horizon.bars.opts["x"]) for s, c in zip(self.sessions, self.columns)])
        return original(self, path)

    monkeypatch.setattr(CompareWindow, "export", export)
    render_comparison(paths, tmp_path / "h.png", batch=30, hover_step=7)
    for hovered, x in seen[0]:
        assert hovered == 7
        np.testing.assert_array_equal(x, np.arange(8))  # the parts of loss 7 at steps j = 0 … 7


def test_render_comparison_draws_plots_titles_and_legends_but_no_controls(qapp, tmp_path, paths, monkeypatch):
    seen = []
    original = CompareWindow.export

    def export(self, path):
        seen.append((
            [type(w).__name__ for w in self.findChildren(QWidget)
             if isinstance(w, (QAbstractButton, QComboBox, QAbstractSpinBox)) and w.isVisible()],
            "\n".join(label.text() for label in self.findChildren(QLabel) if label.isVisible()),
        ))
        return original(self, path)

    monkeypatch.setattr(CompareWindow, "export", export)
    render_comparison(paths, tmp_path / "c.png", profile_statistic="median")
    [(controls, labels)] = seen
    assert controls == []  # not the option bar's, not "profile over … of …", not "log scale", "show every record"
    for text in ("Horizon profile", "Effective horizon over training", "tiny-rnn.h5", "tiny-gru.h5", "bars: ",
                 "t − j = 0 (local loss)", "1 · Labels", "4 · Overview", "averaged over"):
        assert text in labels, text
    assert "profile over" not in labels and "all sessions: show" not in labels and "bar scale" not in labels
    # The choice the hidden combo box made is still said: which statistic the profile shows.
    assert "typical batch (median)" in labels


def test_render_comparison_refuses_an_unreadable_file(qapp, tmp_path, paths):
    broken = tmp_path / "broken.h5"
    broken.write_text("not a session")
    with pytest.raises(RnnbowError, match="broken.h5"):
        render_comparison([paths[0], broken], tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


def _dialog_texts(window) -> list[str]:
    return [box.informativeText() for box in window.findChildren(QMessageBox) if box.isVisible()]


def test_an_unreadable_file_is_reported_and_skipped(qtbot, tmp_path, paths):
    broken = tmp_path / "broken.h5"
    broken.write_text("not a session")
    missing = tmp_path / "missing.h5"
    w = CompareWindow([paths[0], broken, paths[2], missing])
    qtbot.addWidget(w)
    w.show()
    assert w.windowTitle() == "Compare: tiny-rnn.h5 (rnn), tiny-lstm.h5 (lstm) — RNNbow"
    assert len(w.columns) == 2
    assert len(w.errors) == 1
    message = w.errors[0]
    assert "Skipped 2 of 4" in message and "broken.h5" in message and "missing.h5" in message
    assert any("broken.h5" in text for text in _dialog_texts(w))


def test_fewer_than_two_readable_sessions_is_said_plainly(qtbot, tmp_path, paths):
    broken = tmp_path / "broken.h5"
    broken.write_text("not a session")
    w = CompareWindow([broken, paths[1]])
    qtbot.addWidget(w)
    w.show()
    assert w.link is None and not w.columns
    assert "at least two readable sessions" in w.errors[0] and "broken.h5" in w.errors[0]
    assert "1 of the 2 given" in w.empty_label.text()
    assert w.windowTitle() == "Compare: tiny-gru.h5 (gru) — RNNbow"
    assert not w.export_action.isEnabled()
    QTest.keyClick(w, Qt.Key.Key_Right)  # nothing to step: no error
