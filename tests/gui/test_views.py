"""The four gradient views and their composite, checked on what they actually draw for a real small session."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from rnnbow_desktop.core.corpus import load_corpus
from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.core.errors import RnnbowError
from rnnbow_desktop.gui.gradient_views import GradientViews
from rnnbow_desktop.gui.views import palette
from rnnbow_desktop.gui.views.labels import describe_char, visible_char
from rnnbow_desktop.gui.views.stacked_bars import RECENT_WINDOW
from rnnbow_desktop.storage.record_store import RecordStore
from rnnbow_desktop.storage.reader import Session
from rnnbow_desktop.storage.run import TrainingRun

SIZE = (1200, 800)


@pytest.fixture
def views(make_views, store):
    return make_views(store, SIZE)


# -- helpers: the real mouse path (viewport → QGraphicsView → scene → SignalProxy → view) ----------------
def move_mouse(qtbot, graphics_view, vb, x, y):
    """Move the mouse over data point (x, y) of `vb`, as a user would; returns the scene position used."""
    scene_pos = vb.mapViewToScene(QPointF(x, y))
    QTest.mouseMove(graphics_view.viewport(), graphics_view.mapFromScene(scene_pos))
    qtbot.wait(40)  # the hover handlers sit behind a 60 Hz SignalProxy
    return scene_pos


def leave(graphics_view):
    QApplication.sendEvent(graphics_view, QEvent(QEvent.Type.Leave))


def rects(item):
    """(x, lower edge, upper edge) of every bar a BarGraphItem draws."""
    opts = item.opts
    x = np.atleast_1d(np.asarray(opts["x"], dtype=float))
    y0 = np.broadcast_to(np.asarray(0.0 if opts["y0"] is None else opts["y0"], dtype=float), x.shape)
    y1 = y0 + np.broadcast_to(np.asarray(opts["height"], dtype=float), x.shape)
    return x, np.minimum(y0, y1), np.maximum(y0, y1)


def loss_part(values, t, j):
    """Lower and upper edge of loss t's part of bar j, computed independently of the view's code."""
    column = np.tril(values)[:, j]
    v = column[t]
    if v >= 0:
        below = column[t + 1 :].clip(min=0).sum()
        return below, below + v
    below = column[t + 1 :].clip(max=0).sum()
    return below + v, below


# -- area 1 -----------------------------------------------------------------------------------------------
def test_visible_characters_for_whitespace_and_control():
    assert [visible_char(c) for c in " \n\t\x01\x7fa;"] == ["␣", "↵", "⇥", "·", "·", "a", ";"]
    assert "U+000A" in describe_char("\n") and "'\\n'" in describe_char("\n")
    assert "U+0020" in describe_char(" ") and "space" in describe_char(" ")


def test_labels_show_true_over_predicted_in_green_and_red(views, store, selection):
    # A record whose targets include a space, a newline or a tab, so stand-ins are exercised.
    index = next(i for i in range(len(store)) if {" ", "\n", "\t"} & set(store.decode(store.record(i).targets)))
    selection.select(index)
    record = store.record(index)
    cells = views.labels.cells()
    assert len(cells) == len(record.targets)
    for j, (true_glyph, predicted_glyph, color) in enumerate(cells):
        assert true_glyph == visible_char(store.vocab[record.targets[j]])
        assert predicted_glyph == visible_char(store.vocab[record.predictions[j]])
        right = record.predictions[j] == record.targets[j]
        assert color == (palette.CORRECT if right else palette.WRONG)
    assert any(glyph in "␣↵⇥" for cell in cells for glyph in cell[:2])


def test_label_tooltip_names_the_exact_characters_and_loss(qtbot, views, store, selection):
    record = store.record(selection.shown)
    labels = views.labels
    for j in (2, 7):
        move_mouse(qtbot, labels.plot_widget, labels.plot.vb, j, 1.0)
        qtbot.waitUntil(lambda: f"step j = {j}" in labels.plot.vb.toolTip(), timeout=1000)
        tip = labels.plot.vb.toolTip()
        assert describe_char(store.vocab[record.targets[j]]) in tip
        assert describe_char(store.vocab[record.predictions[j]]) in tip
        assert f"loss {float(record.loss[j]):.3f} nats/char" in tip  # one step's loss: one character's


def test_each_label_sits_above_its_bar(views):
    def screen_x(plot_widget, vb, j):
        local = plot_widget.mapFromScene(vb.mapViewToScene(QPointF(j, 0)))
        return plot_widget.mapToGlobal(local).x()

    for j in (0, 5, 11):
        label = screen_x(views.labels.plot_widget, views.labels.plot.vb, j)
        bar = screen_x(views.bars.plot_widget, views.bars.plot.vb, j)
        assert abs(label - bar) <= 1
    assert views.labels.plot.vb.viewRange()[0] == pytest.approx(views.bars.plot.vb.viewRange()[0])


# -- area 2 -----------------------------------------------------------------------------------------------
def test_bar_segments_are_the_itemized_parts_by_offset(views, store, selection):
    record = store.record(selection.shown)
    n, k = len(record.loss), selection.horizon_k
    itemized = np.asarray(record.itemized, dtype=float)
    bars = views.bars
    for d in range(k):
        x, lo, hi = rects(bars.segment_items[d])
        j = np.arange(n - d)
        assert np.array_equal(x, j)
        assert np.allclose(hi - lo, itemized[j + d, j], rtol=1e-6, atol=1e-9)
        # Outward from the axis by decreasing offset: below each part lie the parts of later losses.
        assert np.allclose(lo, [itemized[jj + d + 1 :, jj].sum() for jj in j], rtol=1e-6, atol=1e-9)
    x, lo, hi = rects(bars.remainder_item)
    far = np.array([itemized[j + k :, j].sum() for j in range(n)])
    heights = np.zeros(n)
    np.add.at(heights, x.astype(int), hi - lo)
    assert np.allclose(heights, far, rtol=1e-6, atol=1e-9)
    assert bars.remainder_item.isVisible()
    # Each bar as a whole is the step's Σ_t itemized[t, j].
    top = np.zeros(n)
    for item in bars.segment_items[:k] + [bars.remainder_item]:
        x, lo, hi = rects(item)
        np.maximum.at(top, x.astype(int), hi)
    assert np.allclose(top, itemized.sum(axis=0), rtol=1e-6)
    # Darkest first: offset 0 has the darkest brush, "≥ k" the lightest.
    colors = palette.offset_colors(k)
    assert [item.opts["brush"] for item in bars.segment_items[:k]] == colors[:k]
    assert bars.remainder_item.opts["brush"] == colors[k]


def test_k_changes_the_segments_and_the_spin_box(views, store, selection):
    n = store.config.seq_length
    selection.set_horizon_k(3)
    assert views.k_spin.value() == 3
    assert [item.isVisible() for item in views.bars.segment_items] == [True] * 3 + [False] * 2
    views.k_spin.setValue(n)
    assert selection.horizon_k == n
    assert sum(item.isVisible() for item in views.bars.segment_items) == n
    assert not views.bars.remainder_item.isVisible()
    assert views.k_spin.maximum() == n


def test_contribution_stacks_sum_to_the_step_gradient(views, store, selection):
    views.mode_combo.setCurrentIndex(views.mode_combo.findData("contribution"))
    assert selection.mode == "contribution"
    record = store.record(selection.shown)
    n = len(record.loss)
    signed = np.zeros(n)
    below_axis = 0
    for item in views.bars.segment_items[: selection.horizon_k] + [views.bars.remainder_item]:
        x, lo, hi = rects(item)
        assert np.all((lo >= -1e-9) | (hi <= 1e-9)), "a part straddles the axis"
        sign = np.where(lo >= -1e-9, 1.0, -1.0)  # parts below the axis are negative contributions
        below_axis += int(((sign < 0) & (hi > lo)).sum())
        np.add.at(signed, x.astype(int), sign * (hi - lo))
    assert np.allclose(signed, record.step_gradient, rtol=1e-4, atol=1e-4)
    assert views.bars.zero_line.isVisible()
    if (np.asarray(record.contribution) < 0).any():
        assert below_axis > 0 and views.bars.y_range()[0] < 0


def test_bar_scale_per_batch_global_and_recent(views, store, selection):
    index = len(store) // 2
    selection.select(index)
    record = store.record(index)
    stack_top = float(np.asarray(record.itemized, dtype=float).sum(axis=0).max())
    assert views.bars.y_range()[1] == pytest.approx(stack_top * 1.04, rel=1e-4)
    views.scale_combo.setCurrentIndex(views.scale_combo.findData("global"))
    assert selection.scale == "global"
    assert views.bars.y_range()[1] == pytest.approx(max(stack_top, float(store.max_gradient.max())) * 1.04, rel=1e-4)
    selection.set_scale("recent")
    assert views.scale_combo.currentData() == "recent"
    window = store.max_gradient[max(0, index - RECENT_WINDOW + 1) : index + 1]
    assert views.bars.y_range()[1] == pytest.approx(max(stack_top, float(window.max())) * 1.04, rel=1e-4)


@pytest.mark.parametrize("mode", ["magnitude", "contribution"])
def test_hovering_a_segment_highlights_every_part_of_that_loss(qtbot, views, store, selection, mode):
    selection.set_mode(mode)
    record = store.record(selection.shown)
    values = np.asarray(record.itemized if mode == "magnitude" else record.contribution, dtype=float)
    bars = views.bars
    # The local part of loss 9 (offset 0) and a part inside the "≥ k" block (offset 7 ≥ k = 5).
    for t, j in ((9, 9), (10, 3)):
        lo, hi = loss_part(values, t, j)
        assert hi - lo > 1e-6, "pick parts that are visible"
        move_mouse(qtbot, bars.plot_widget, bars.plot.vb, j, (lo + hi) / 2)
        qtbot.waitUntil(lambda: selection.hovered_loss == t, timeout=1000)
        x, y0, y1 = bars.highlighted_segments()
        assert np.array_equal(x, np.arange(t + 1))
        expected = np.array([loss_part(values, t, jj) for jj in range(t + 1)])
        assert np.allclose(y0, expected[:, 0], atol=1e-5) and np.allclose(y1, expected[:, 1], atol=1e-5)
        cx, clo, chi = rects(bars.cursor_item)
        assert cx.tolist() == [j] and clo[0] == pytest.approx(lo, abs=1e-5) and chi[0] == pytest.approx(hi, abs=1e-5)
        tip = bars.plot.vb.toolTip()
        assert f"t = {t}" in tip and f"j = {j}" in tip and f"t − j = {t - j}" in tip
        assert f"loss {float(record.loss[t]):.3f} nats/char" in tip
    leave(bars.plot_widget)
    assert selection.hovered_loss is None
    assert len(bars.highlighted_segments()[0]) == 0


def test_moving_off_the_bars_to_an_axis_clears_the_hover(qtbot, views, selection):
    selection.set_hovered_loss(4)
    vb = views.bars.plot.vb
    left_axis = views.bars.plot.getAxis("left")
    scene_pos = left_axis.mapToScene(left_axis.boundingRect().center())
    QTest.mouseMove(views.bars.plot_widget.viewport(), views.bars.plot_widget.mapFromScene(scene_pos))
    qtbot.waitUntil(lambda: selection.hovered_loss is None, timeout=1000)
    assert not vb.sceneBoundingRect().contains(scene_pos)


# -- area 3 -----------------------------------------------------------------------------------------------
def test_horizon_bars_are_the_hovered_losses_parts(views, store, selection):
    record = store.record(selection.shown)
    horizon = views.horizon
    assert horizon.hint.isVisible() and len(horizon.drawn_bars()[0]) == 0
    t = 8
    selection.set_hovered_loss(t)
    x, y0, height = horizon.drawn_bars()
    assert np.array_equal(x, np.arange(t + 1))
    assert np.allclose(height, record.itemized[t, : t + 1], rtol=1e-6)
    assert not horizon.hint.isVisible()
    assert f"t = {t}" in horizon.header.text()

    horizon.log_box.setChecked(True)
    x, y0, height = horizon.drawn_bars()
    row = np.asarray(record.itemized[t, : t + 1], dtype=float)
    keep = row > 10.0 ** y0[0]
    assert np.array_equal(x, np.arange(t + 1)[keep])
    assert np.allclose(y0 + height, np.log10(row[keep]), rtol=1e-6)
    assert horizon.plot.getAxis("left").logMode

    selection.set_mode("contribution")
    horizon.log_box.setChecked(False)
    assert np.allclose(horizon.drawn_bars()[2], record.contribution[t, : t + 1], rtol=1e-6)
    selection.set_hovered_loss(None)
    assert horizon.hint.isVisible()


def test_truncation_curve_is_the_records(views, store, selection):
    record = store.record(selection.shown)
    horizon = views.horizon
    k, e = horizon.truncation_curve.getData()
    assert np.array_equal(k, np.arange(1, len(record.loss) + 1))
    assert np.allclose(e, record.truncation_error)
    assert horizon.epsilon_line.value() == pytest.approx(store.config.horizon_epsilon)
    assert horizon.horizon_line.value() == record.horizon
    assert horizon.horizon_line.label.toPlainText() == f"horizon = {record.horizon}"
    assert horizon.epsilon_line.label.toPlainText() == f"ε = {store.config.horizon_epsilon:g}"


# -- area 4 -----------------------------------------------------------------------------------------------
def test_overview_draws_every_record(views, store):
    x, y = views.overview.max_curve.getOriginalDataset()  # the full series, before downsampling
    assert np.array_equal(x, store.batches) and np.allclose(y, store.max_gradient)
    x, y = views.overview.horizon_curve.getOriginalDataset()
    assert np.array_equal(x, store.batches) and np.array_equal(y, store.horizon)
    assert views.overview.max_curve.opts["fillLevel"] == 0
    # The store's summary already reduces the records to about two points per pixel; pyqtgraph's own
    # downsampling on top made every range change re-set the data (the overview repainted ~30 times a
    # second while training, benchmarks/bench_gui_latency.py).
    for curve in (views.overview.max_curve, views.overview.horizon_curve):
        assert not curve.opts["autoDownsample"] and not curve.opts["clipToView"]


def test_overview_log_scale_shows_the_max_gradient_in_decades(qtbot, views, store, selection):
    overview = views.overview
    overview.log_box.setChecked(True)
    qtbot.wait(50)  # auto range is applied on the next paint
    low, high = overview.plot.vb.viewRange()[1]
    peak, least = float(store.max_gradient.max()), float(store.max_gradient.min())
    # The view is now in log10 units: it spans the series' decades, not its raw values.
    assert low <= np.log10(least) + 1e-6 and np.log10(peak) - 1e-6 <= high < np.log10(peak) + 1
    assert overview.max_curve.opts["fillLevel"] is None and overview.plot.getAxis("left").logMode
    x, y = overview.max_curve.getData()
    assert np.allclose(y, np.log10(store.max_gradient[np.searchsorted(store.batches, x)]))
    # Hover still finds the exact record.
    overview.plot.setXRange(float(store.batches[10]), float(store.batches[20]), padding=0)
    move_mouse(qtbot, overview.graphics, overview.plot.vb, float(store.batches[14]), np.log10(peak))
    qtbot.waitUntil(lambda: selection.preview == 14, timeout=1000)
    leave(overview.graphics)
    overview.set_log_scale(False)
    assert not overview.log_box.isChecked() and overview.max_curve.opts["fillLevel"] == 0
    assert not overview.plot.getAxis("left").logMode


def test_overview_hover_previews_and_leaving_restores(qtbot, views, store, selection):
    overview = views.overview
    selected = selection.selected
    assert selected == len(store) - 1
    # Zoomed in, so a pixel is a fraction of a batch: hover must still hit the exact record.
    overview.plot.setXRange(float(store.batches[10]), float(store.batches[20]), padding=0)
    for target in (13, 17):
        move_mouse(qtbot, overview.graphics, overview.plot.vb, float(store.batches[target]), 0)
        qtbot.waitUntil(lambda: selection.preview == target, timeout=1000)
        record = store.record(target)
        assert views.bars.record.batch == record.batch
        assert views.labels.cells()[0][0] == visible_char(store.vocab[record.targets[0]])
        assert np.allclose(views.horizon.truncation_curve.getData()[1], record.truncation_error)
        assert overview.preview_lines[0].isVisible() and overview.preview_lines[0].value() == record.batch
        assert f"batch {record.batch:,}" in overview.info.text()
    leave(overview.graphics)
    assert selection.preview is None and selection.shown == selected
    assert views.bars.record.batch == store.record(selected).batch
    assert not overview.preview_lines[0].isVisible()


def test_overview_click_selects(qtbot, views, store, selection):
    overview = views.overview
    overview.plot.setXRange(float(store.batches[0]), float(store.batches[30]), padding=0)
    target = 21
    scene_pos = overview.plot.vb.mapViewToScene(QPointF(float(store.batches[target]), 0))
    QTest.mouseClick(overview.graphics.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     overview.graphics.mapFromScene(scene_pos))
    qtbot.waitUntil(lambda: selection.selected == target, timeout=1000)
    assert not selection.follow_live and not views.follow_box.isChecked()
    assert [line.value() for line in overview.selected_lines] == [store.batches[target]] * 2
    leave(overview.graphics)
    assert selection.shown == target and views.bars.record.batch == store.record(target).batch


def test_info_text_names_batch_range_gradient_loss_and_horizon(views, store, selection):
    record = store.record(selection.shown)
    text = views.info_text()
    n = len(record.loss)
    for part in (f"batch {record.batch:,}", f"{record.position:,} … {record.position + n:,}",
                 f"max gradient {record.max_gradient:.4g}", f"loss {record.loss.mean():.3f} nats/char",
                 f"horizon {record.horizon} steps"):
        assert part in text
    assert views.overview.info.text() == text


# -- composite --------------------------------------------------------------------------------------------
def test_toolbar_and_selection_agree_both_ways(views, selection):
    views.follow_box.setChecked(False)
    assert selection.follow_live is False
    selection.set_follow_live(True)
    assert views.follow_box.isChecked()
    selection.set_mode("contribution")
    assert views.mode_combo.currentData() == "contribution"
    assert not views.gate_combo.isVisible()  # the plain RNN has one gate


def test_gate_choice_draws_that_gates_norms(qtbot, selection, store):
    # A store of records with per-gate norms (what a gated cell records), built from the real records.
    live = RecordStore.live(store.config, store.vocab, "gated")
    live.n_gates, live.gate_names = 3, ("input", "forget", "output")
    rng = np.random.default_rng(0)
    for i in range(5):
        record = store.record(i)
        n = len(record.loss)
        gates = np.tril(rng.random((n, n)))[:, :, None] * np.array([1.0, 2.0, 3.0])  # (n, n, 3)
        live.append(dataclasses.replace(record, itemized_gate=gates))
    views = GradientViews(selection)
    qtbot.addWidget(views)
    views.show()
    views.set_store(live)
    assert views.gate_combo.isVisible() and views.gate_combo.count() == 4
    views.gate_combo.setCurrentIndex(views.gate_combo.findData(2))
    assert selection.gate == 2
    gates = live.record(selection.shown).itemized_gate
    x, lo, hi = rects(views.bars.segment_items[0])
    assert np.allclose(hi - lo, gates[x.astype(int), x.astype(int), 2])
    assert "gate: output" in views.bars.header.text()
    selection.set_mode("contribution")
    assert "all gates" in views.bars.header.text()
    views.set_store(store)  # a store without gates resets the choice
    assert selection.gate is None and not views.gate_combo.isVisible()


def test_live_store_grows_and_set_store_none_clears(qtbot, selection, store):
    live = RecordStore.live(store.config, store.vocab, "live")
    views = GradientViews(selection)
    qtbot.addWidget(views)
    views.set_store(live)
    assert selection.selected is None and views.bars.record is None
    assert views.info_text() == "no batch recorded yet"
    for i in range(3):
        live.append(store.record(i))
        views.records_appended()
        selection.select(len(live) - 1, user=False)
    assert len(views.overview.max_curve.getOriginalDataset()[0]) == 3
    assert views.bars.record.batch == store.record(2).batch
    views.set_store(None)
    assert views.bars.record is None and views.labels.cells() == []
    assert views.info_text() == "no session"


def test_live_store_reads_records_that_left_its_cache_back_from_the_growing_file(qtbot, selection, tmp_path, monkeypatch):
    # Found by a soak run of the real window: clicking an early batch of a live run, after its record
    # had left the memory cache, raised out of a view because the file's reader (opened when the run
    # began, with no records) was never refreshed.
    monkeypatch.setattr(RecordStore, "CACHE", 8)
    corpus = load_corpus("c-like")
    config = TrainConfig(hidden_size=8, seq_length=10, checkpoint_every=0, sample_every=0)
    with TrainingRun(corpus, config, tmp_path / "live.h5") as run:
        live = RecordStore.live(config, corpus.vocab, "live")
        live.attach_session(Session(run.path))
        assert live.session.n_records == 0
        views = GradientViews(selection)
        qtbot.addWidget(views)
        views.set_store(live)
        for _ in range(30):
            live.append(run.step().record)
        run.writer.flush()
        views.records_appended()
        selection.select(0)  # long gone from the cache of 8
        assert views.bars.record is not None and views.bars.record.batch == 0
        assert views.labels.record.batch == 0 and views.info_text().startswith("batch 0 ")
        # A record that cannot be read is shown as nothing, with the reason, never raised into Qt.
        monkeypatch.setattr(live.session, "record", lambda index, layer=0: (_ for _ in ()).throw(RnnbowError("damaged chunk")))
        selection.select(1)
        assert views.bars.record is None and views.labels.cells() == []
        assert views.info_text() == "record 1 cannot be read: damaged chunk"
        live.session.close()


def test_export_png_and_svg(tmp_path, views):
    png = views.export(tmp_path / "views.png")
    image = QImage(str(png))
    assert (image.width(), image.height()) == SIZE
    drawn = {image.pixelColor(x, y).name() for x in range(0, SIZE[0], 5) for y in range(0, SIZE[1], 5)}
    assert palette.offset_colors(views.selection.horizon_k)[0] in drawn  # the darkest bar segments are in it
    svg = views.export(tmp_path / "views.svg")
    text = svg.read_text(encoding="utf-8")
    assert "<svg" in text and f'viewBox="0 0 {SIZE[0]} {SIZE[1]}"' in text
    assert f'width="{SIZE[0] / 96 * 25.4:.6g}mm"' in text  # 96 dpi: shown at 1200 CSS pixels
    with pytest.raises(RnnbowError, match="use .png or .svg"):
        views.export(tmp_path / "views.jpg")
