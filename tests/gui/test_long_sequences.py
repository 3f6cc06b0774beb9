"""Views 1–3 for sequences up to n = 512: a strip of all steps, zooming to a range of steps, labels and ticks that thin out."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from rnnbow_desktop.gui.gradient_views import GradientViews
from rnnbow_desktop.gui.views.labels import label_stride
from rnnbow_desktop.gui.views.step_range import (
    MIN_STEPS,
    MIN_TICK_PIXELS,
    TICK_SPACINGS,
    clamp_steps,
    step_tick_spacing,
    visible_slice,
)
from rnnbow_desktop.storage.record_store import RecordStore

N = 512
SIZE = (1200, 800)


@pytest.fixture(scope="module")
def long_session(make_session):
    return make_session(batches=6, seq_length=N, hidden_size=8, seed=5)


@pytest.fixture
def long_views(make_views, long_session):
    store = RecordStore.open(long_session)
    yield make_views(store, SIZE)
    store.close()


def x_range(plot) -> tuple[float, float]:
    return tuple(plot.vb.viewRange()[0])


def wheel(widget, x_pixels: int, notches: int) -> None:
    """A wheel turn over a plot widget's viewport at horizontal pixel `x_pixels`, vertically centred."""
    viewport = widget.viewport()
    pos = QPointF(x_pixels, viewport.height() / 2)
    event = QWheelEvent(pos, QPointF(viewport.mapToGlobal(pos.toPoint())), QPoint(0, 0), QPoint(0, 120 * notches),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(viewport, event)


# -- the rules, without a window -----------------------------------------------------------------------------
def test_tick_spacing_keeps_labels_apart():
    for span, pixels in [(25, 1000), (128, 1000), (256, 900), (512, 1100), (512, 300), (12, 1000)]:
        major, minor = step_tick_spacing(-0.5, span - 0.5, pixels)
        assert major * pixels / span >= MIN_TICK_PIXELS or major == 500
        assert major % minor == 0
    assert step_tick_spacing(-0.5, 24.5, 1000) == (1, 1)  # n = 25 in a wide window: every step labelled
    assert step_tick_spacing(-0.5, 511.5, 1100)[0] == 20


def test_label_stride_leaves_room_for_each_glyph():
    assert label_stride(40.0, 14) == 1
    assert label_stride(2.1, 7) == 5  # n = 512 in 1,100 pixels: every fifth character
    for cell in (0.5, 1.0, 3.0, 9.0, 30.0):  # the smallest spacing that leaves room
        k = label_stride(cell, 7)
        smaller = [s for s in TICK_SPACINGS if s < k]
        assert k * cell >= 7 and all(s * cell < 7 for s in smaller)


def test_ranges_stay_inside_the_batch():
    assert clamp_steps(-40, 10, N) == (-0.5, 49.5)  # moved in, 50 steps wide still
    assert clamp_steps(500, 530, N) == (N - 0.5 - 30, N - 0.5)
    assert clamp_steps(100, 101, N) == (100, 100 + MIN_STEPS)
    assert clamp_steps(-10, 900, N) == (-0.5, N - 0.5)
    assert visible_slice(99.6, 140.2, N) == slice(100, 141)
    assert visible_slice(-0.5, N - 0.5, N) == slice(0, N)


# -- the views at n = 512 ---------------------------------------------------------------------------------
def test_a_long_batch_starts_whole_with_thinned_labels(long_views, selection):
    views = long_views
    assert views.steps.isVisible() and selection.step_range is None
    for plot in (views.bars.plot, views.labels.plot, views.horizon.plot):
        assert x_range(plot) == pytest.approx((-0.5, N - 0.5))
    assert views.steps.band_region() == pytest.approx((-0.5, N - 0.5))
    record = views.bars.record
    assert len(views.steps.bars.opts["x"]) == N
    np.testing.assert_allclose(views.steps.bars.opts["height"], record.step_gradient)
    cell = views.labels.plot.vb.width() / N
    assert label_stride(cell, views.labels.characters.font.pixelSize()) > 1
    major, _ = step_tick_spacing(-0.5, N - 0.5, views.bars.plot.vb.width())
    assert views.bars.plot.getAxis("bottom")._tickSpacing[0] == (major, 0)
    # e(k) over log k: the horizon line sits at log10(horizon), the curve's x at log10(1 … n).
    horizon = views.horizon
    assert horizon.log_k and horizon.horizon_line.value() == pytest.approx(np.log10(record.horizon))
    x, y = horizon.truncation_curve.getData()
    np.testing.assert_allclose(x, np.log10(np.arange(1, N + 1)))
    np.testing.assert_allclose(y, record.truncation_error)


def test_wheel_zooms_every_step_view_together(long_views, selection, qtbot):
    views = long_views
    bars = views.bars
    # Turn the wheel three notches over the bars, at the screen position of step 300.
    scene = bars.plot.vb.mapViewToScene(QPointF(300, 0))
    wheel(bars.plot_widget, bars.plot_widget.mapFromScene(scene).x(), 3)
    assert selection.step_range is not None
    lo, hi = selection.step_range
    assert lo < 300 < hi and hi - lo == pytest.approx(N * 0.8**3, rel=1e-6)
    for plot in (bars.plot, views.labels.plot, views.horizon.plot):
        assert x_range(plot) == pytest.approx((lo, hi))
    assert views.steps.band_region() == pytest.approx((lo, hi))
    # The bars fill the height: the y range fits the bars in view, not the whole batch.
    top, _ = bars.stack.totals()
    shown = visible_slice(lo, hi, N)
    assert bars.y_range()[1] == pytest.approx(float(top[shown].max()) * 1.04)
    # Wheeling back out returns to the whole batch.
    wheel(bars.plot_widget, bars.plot_widget.mapFromScene(scene).x(), -10)
    assert selection.step_range is None and x_range(bars.plot) == pytest.approx((-0.5, N - 0.5))


def test_dragging_the_band_chooses_the_steps(long_views, selection):
    views = long_views
    views.steps.band.setRegion((200, 264))
    assert selection.step_range == pytest.approx((200, 264))
    assert x_range(views.labels.plot) == pytest.approx((200, 264))
    assert "Steps 200 … 264 of 512" in views.steps.header.text()
    # Labels are drawn every step again when zoomed in that far.
    cell = views.labels.plot.vb.width() / 64
    assert label_stride(cell, views.labels.characters.font.pixelSize()) == 1
    # Hovering a loss shows its horizon within the same steps.
    record = views.bars.record
    t = 250
    selection.set_hovered_loss(t)
    x, _, _ = views.horizon.drawn_bars()
    assert len(x) == t + 1
    seen = np.asarray(views.horizon.values[t, 200 : t + 1])  # the steps in view, up to t
    assert views.horizon.plot.vb.viewRange()[1][1] == pytest.approx(float(seen.max()) * 1.08)
    assert record.batch == views.bars.record.batch
    # A new session starts whole again.
    views.set_store(views.store)
    assert selection.step_range is None


def test_short_sequences_show_no_strip_and_ignore_the_wheel(qtbot, selection, store):
    views = GradientViews(selection)
    qtbot.addWidget(views)
    views.resize(*SIZE)
    views.show()
    qtbot.waitExposed(views)
    views.set_store(store)
    assert not views.steps.isVisible() and not views.horizon.log_k
    n = store.config.seq_length
    wheel(views.bars.plot_widget, 300, 3)
    assert selection.step_range is None and x_range(views.bars.plot) == pytest.approx((-0.5, n - 0.5))
