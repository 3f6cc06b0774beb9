"""(a) of the comparison: the horizon profile of every session, over a chosen range of training."""

from __future__ import annotations

import html

import pyqtgraph as pg
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QWidget

from ...analysis.compare import horizon_profile
from ...analysis.training_phase import LATE_FRACTION, late_training_start
from ...core.errors import RnnbowError
from ..views import palette
from .overlay import header_label, overlay_panel
from .sessions import ComparedSession

AROUND_BATCHES = 500
PROFILE_RANGES = (
    ("whole", "whole training"),
    ("last", f"last {LATE_FRACTION:.0%} of training"),
    ("around", f"around the selected batch (±{AROUND_BATCHES} batches)"),
)
PROFILE_STATISTICS = (
    ("mean", "all gradient (pooled mean)"),
    ("median", "typical batch (median)"),
)
PROFILE_RECORDS = 2000  # records read per profile, however long the session


class ProfilePlot(QWidget):
    """(a) The horizon profile of every session: relative gradient magnitude against distance t − j."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.sessions: list[ComparedSession] = []
        self.profiles: list = []  # HorizonProfile | None per session, as drawn
        self.selected_batch: int | None = None

        self.header = header_label(
            "Horizon profile: how much of a loss's gradient reaches back t − j steps",
            "‖G[t, j]‖ at each distance, relative to the local loss's own part (t = j)",
        )
        self.range_combo = QComboBox()
        for key, text in PROFILE_RANGES:
            self.range_combo.addItem(text, key)
        self.range_combo.setToolTip("which recorded batches the profile averages over")
        self.range_combo.currentIndexChanged.connect(self.refresh)
        self.statistic_combo = QComboBox()
        for key, text in PROFILE_STATISTICS:
            self.statistic_combo.addItem(text, key)
        self.statistic_combo.setToolTip(
            "all gradient: the mean magnitude at each distance over all batches, relative to the mean local part "
            "(what the summed updates are made of; a few exploding batches can dominate it)\n"
            "typical batch: each batch's own profile, relative to its own local part; the median over batches"
        )
        self.statistic_combo.currentIndexChanged.connect(self.refresh)
        self.log_box = QCheckBox("log scale")
        self.log_box.setChecked(True)
        self.log_box.setToolTip("gradients fade roughly exponentially with distance: a log axis shows the rate")
        self.log_box.toggled.connect(self._apply_log)
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        for text, combo in (("profile over", self.range_combo), ("of", self.statistic_combo)):
            label = QLabel(text)
            label.setBuddy(combo)  # hidden with its combo box when the comparison is rendered
            controls.addWidget(label)
            controls.addWidget(combo)
        controls.addStretch(1)
        controls.addWidget(self.log_box)

        self.plot_widget, self.plot, self.note = overlay_panel(
            self, self.header, controls, "distance t − j (steps back)", "relative magnitude (1 = local loss)")
        self.curves: list[pg.PlotDataItem] = []

    def set_sessions(self, sessions: list[ComparedSession]) -> None:
        self.sessions = list(sessions)
        for s in self.sessions:
            curve = pg.PlotDataItem(pen=pg.mkPen(s.color, width=2), name=s.label)
            self.plot.addItem(curve)
            self.curves.append(curve)
        self.refresh()

    def range_key(self) -> str:
        return self.range_combo.currentData()

    def set_range(self, key: str) -> None:
        index = self.range_combo.findData(key)
        if index < 0:
            raise ValueError(f"unknown profile range {key!r}; choose {', '.join(k for k, _ in PROFILE_RANGES)}")
        self.range_combo.setCurrentIndex(index)

    def statistic(self) -> str:
        return self.statistic_combo.currentData()

    def set_statistic(self, key: str) -> None:
        index = self.statistic_combo.findData(key)
        if index < 0:
            raise ValueError(f"unknown statistic {key!r}; choose {', '.join(k for k, _ in PROFILE_STATISTICS)}")
        self.statistic_combo.setCurrentIndex(index)

    def set_selected_batch(self, batch) -> None:
        self.selected_batch = batch
        if self.range_key() == "around":
            self.refresh()

    def batch_range(self, s: ComparedSession) -> tuple[int | None, int | None]:
        """First and last batch the profile of session `s` averages over, for the chosen range."""
        key = self.range_key()
        if key == "last":
            return late_training_start(s.store.session.batches_trained), None
        if key == "around" and self.selected_batch is not None:
            return self.selected_batch - AROUND_BATCHES, self.selected_batch + AROUND_BATCHES
        return None, None

    def refresh(self, *_) -> None:
        self.profiles = []
        notes = []
        ranges = set()
        for s, curve in zip(self.sessions, self.curves):
            first, last = self.batch_range(s)
            try:
                profile = horizon_profile(s.store.session, first, last, max_records=PROFILE_RECORDS,
                                          statistic=self.statistic())
            except RnnbowError:
                profile = None
            self.profiles.append(profile)
            if profile is None:
                curve.setData([], [])
                notes.append(f'<span style="color:{s.color}">■</span> {html.escape(s.cell)}: no records in this range')
                continue
            curve.setData(profile.distance.astype(float), profile.relative)
            lo, hi = profile.batch_range
            ranges.add((lo, hi, profile.records_used))
            notes.append(
                f'<span style="color:{s.color}">■</span> {html.escape(s.cell)}: batches {lo:,}–{hi:,} '
                f"({profile.records_used:,} records)"
            )
        # The statistic is named here too: a rendered figure has no combo box to say it.
        statistic = html.escape(dict(PROFILE_STATISTICS)[self.statistic()])
        if len(ranges) == 1 and all(p is not None for p in self.profiles):
            lo, hi, used = ranges.pop()  # the usual case: sessions trained alike
            text = f"{statistic}, averaged over batches {lo:,}–{hi:,} ({used:,} records each)"
        else:
            text = f"{statistic}, averaged over: " + " &nbsp; ".join(notes)
        self.note.setText(f'<span style="color:{palette.MUTED}">{text}</span>')
        self._apply_log()

    def _apply_log(self, *_) -> None:
        self.plot.setLogMode(False, self.log_box.isChecked())
        self.plot.enableAutoRange()

