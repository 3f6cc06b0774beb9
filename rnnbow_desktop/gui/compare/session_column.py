"""One column of the comparison: views 1–4 of one session under a header naming it."""

from __future__ import annotations

import html

import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from ..views import palette
from ..views.horizon import HorizonView
from ..views.labels import LabelsView
from ..views.overview import OverviewView
from ..views.stacked_bars import StackedBarsView
from .sessions import ComparedSession


def _let_fill_row(layout, label: QLabel) -> bool:
    """Give a view's heading the spare width of its row (a wrapped label otherwise takes only its hint)."""
    if layout.indexOf(label) >= 0:
        layout.setStretchFactor(label, 10)  # against the row's stretch (1) that pushes the options right
        return True
    return any(
        _let_fill_row(layout.itemAt(i).layout(), label)
        for i in range(layout.count()) if layout.itemAt(i).layout() is not None
    )


class SessionColumn(QWidget):
    """Views 1–4 of one session (labels, bars, horizon of one loss, overview) under a header naming it."""

    def __init__(self, session: ComparedSession, parent=None):
        super().__init__(parent)
        self.session = session
        store, selection = session.store, session.selection
        cfg = store.config
        every = f"every {cfg.record_every} batches" if cfg.record_every > 1 else "every batch"
        self.header = QLabel(
            f'<span style="color:{session.color}; font-size:large">■</span> '
            f'<b style="color:{session.color}">{html.escape(session.label)}</b>'
            f'&nbsp; <span style="color:{palette.MUTED}">hidden {cfg.hidden_size} · n = {cfg.seq_length} · '
            f"{len(store):,} records</span>"
        )
        self.header.setToolTip(f"{session.path}\nrecorded {every}")
        self.header.setWordWrap(True)
        self.labels = LabelsView(selection)
        self.bars = StackedBarsView(selection)
        self.horizon = HorizonView(selection)
        self.overview = OverviewView(selection)
        self.labels.plot.setXLink(self.bars.plot)
        # In this session's colour, so its strip matches its curve in the plot above.
        self.overview.horizon_curve.setPen(pg.mkPen(session.color, width=1))
        # Narrow columns: long header and info lines wrap instead of widening the window.
        self.bars.legend.hide()  # one colour key for all columns sits in the window's option bar
        # The overview's strips are too low here for their rotated axis names; the heading names them.
        self.overview.header.setText(palette.header_html(
            "4 · Overview: max gradient, horizon", "hover previews, click selects (all sessions)"))
        for plot in (self.overview.plot, self.overview.horizon_plot):
            plot.getAxis("left").showLabel(False)
        for label in (self.overview.info, self.bars.header, self.horizon.header,
                      self.horizon.truncation_header, self.overview.header, self.labels.header):
            label.setWordWrap(True)
        for view in (self.bars, self.horizon):
            _let_fill_row(view.layout(), view.header)
        # Two lines kept for the hovered loss's longer heading, so hovering does not shift the plots.
        self.horizon.header.setMinimumHeight(2 * self.horizon.header.fontMetrics().lineSpacing())
        # The views' size hints ask for a whole window each; here the stretch factors below share the height.
        self.labels.setFixedHeight(self.labels.minimumSizeHint().height())
        for view in (self.bars, self.horizon, self.overview):
            view.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Ignored)
        self.overview.graphics.setMinimumHeight(90)
        # Narrow plots: a shorter hint, and the ε label moved in from the right edge, where it was cut.
        self.horizon.hint.setText("hover a bar segment above")
        self.horizon.epsilon_line.label.setPosition(0.7)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.setSpacing(4)
        layout.addWidget(self.header)
        layout.addWidget(self.labels)
        layout.addWidget(self.bars, 5)
        layout.addWidget(self.horizon, 3)
        layout.addWidget(self.overview, 3)

        n = cfg.seq_length
        if selection.horizon_k > n:
            selection.set_horizon_k(n)
        for view in (self.labels, self.bars, self.horizon, self.overview):
            view.set_store(store)
        self.labels.setFixedHeight(self.labels.minimumSizeHint().height())  # word labels take more than characters
        selection.select(len(store) - 1, user=False)

