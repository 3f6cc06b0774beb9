"""The four linked gradient views of the paper's Figure 5 with their option bar, as one embeddable widget."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSignalBlocker, QSize
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QVBoxLayout, QWidget

from .export import export_widget
from .option_bar import OptionBar
from .views import palette
from .views.horizon import HorizonView
from .views.labels import LabelsView
from .views.overview import OverviewView
from .views.stacked_bars import StackedBarsView
from .views.step_range import StepRangeStrip


class GradientViews(QWidget):
    """Labels and bars (x-linked), horizon and truncation error, overview; all driven by one SelectionModel."""

    def __init__(self, selection, parent=None):
        super().__init__(parent)
        self.selection = selection
        self.store = None
        palette.light_palette(self)

        self.labels = LabelsView(selection)
        self.bars = StackedBarsView(selection)
        self.horizon = HorizonView(selection)
        self.overview = OverviewView(selection)
        self.steps = StepRangeStrip(selection)  # shown for sequences longer than 64 steps
        self.labels.plot.setXLink(self.bars.plot)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(6)
        layout.addWidget(self._build_toolbar())
        column = QVBoxLayout()
        column.setSpacing(0)  # labels sit directly on their bars
        column.addWidget(self.labels)
        column.addWidget(self.bars, 1)
        column.addWidget(self.steps)
        layout.addLayout(column, 5)
        layout.addWidget(self.horizon, 3)
        layout.addWidget(self.overview, 3)

        selection.modeChanged.connect(self._sync_controls)
        selection.horizonKChanged.connect(self._sync_controls)
        selection.scaleChanged.connect(self._sync_controls)
        selection.gateChanged.connect(self._sync_controls)
        selection.followLiveChanged.connect(self._sync_controls)
        selection.layerChanged.connect(self._show_layer)
        self._sync_controls()

    # -- option bar ------------------------------------------------------------------------------------
    def _build_toolbar(self) -> OptionBar:
        bar = self.options = OptionBar()
        self.mode_combo, self.k_spin, self.scale_combo = bar.mode_combo, bar.k_spin, bar.scale_combo
        bar.modeChosen.connect(self.selection.set_mode)
        bar.horizonKChosen.connect(self.selection.set_horizon_k)
        bar.scaleChosen.connect(self.selection.set_scale)

        self.gate_label = QLabel("gate")
        self.gate_combo = QComboBox()
        self.gate_label.setBuddy(self.gate_combo)
        self.gate_combo.currentIndexChanged.connect(self._gate_chosen)
        bar.add_option(self.gate_label)
        bar.add_option(self.gate_combo)
        # Sessions recorded from a PyTorch module with several layers: one layer's weight_hh at a time.
        self.layer_label = QLabel("layer")
        self.layer_combo = QComboBox()
        self.layer_label.setBuddy(self.layer_combo)
        self.layer_combo.setToolTip("whose itemized gradients are shown: weight_hh_l{k} of layer k (0: the layer nearest the input)")
        self.layer_combo.currentIndexChanged.connect(self._layer_chosen)
        bar.add_option(self.layer_label)
        bar.add_option(self.layer_combo)

        self.follow_box = QCheckBox("Follow live")
        self.follow_box.setToolTip("show each new batch as it is trained")
        self.follow_box.toggled.connect(self.selection.set_follow_live)
        bar.add_right(self.follow_box)
        self._fill_gates()
        return bar

    def _fill_gates(self) -> None:
        with QSignalBlocker(self.gate_combo):
            self.gate_combo.clear()
            self.gate_combo.addItem("All gates", None)
            names = self.store.gate_names if self.store is not None else ()
            for g, name in enumerate(names):
                self.gate_combo.addItem(name, g)
        gated = self.store is not None and self.store.n_gates > 1
        self.gate_label.setVisible(gated)
        self.gate_combo.setVisible(gated)

    def _fill_layers(self) -> None:
        layers = self.store.layers if self.store is not None else 1
        with QSignalBlocker(self.layer_combo):
            self.layer_combo.clear()
            for k in range(layers):
                where = " (input)" if k == 0 else " (top)" if k == layers - 1 else ""
                self.layer_combo.addItem(f"{k}{where}", k)
        self.layer_label.setVisible(layers > 1)
        self.layer_combo.setVisible(layers > 1)

    def _layer_chosen(self, i: int) -> None:
        if i >= 0:
            self.selection.set_layer(self.layer_combo.itemData(i))

    def _show_layer(self, layer: int) -> None:
        """The selection's layer changed: the store reads that layer, and every view draws it."""
        with QSignalBlocker(self.layer_combo):
            self.layer_combo.setCurrentIndex(max(0, self.layer_combo.findData(layer)))
        if self.store is None or layer >= self.store.layers or layer == self.store.layer:
            return
        self.store.set_layer(layer)
        self.overview.records_appended()
        for view in (self.labels, self.bars, self.horizon, self.overview):
            view.refresh()

    def _gate_chosen(self, i: int) -> None:
        self.selection.set_gate(self.gate_combo.itemData(i) if i >= 0 else None)

    def _sync_controls(self, *_) -> None:
        """Selection → controls (the other direction is wired in `_build_toolbar`)."""
        s = self.selection
        self.options.show_values(s.mode, s.horizon_k, s.scale)
        with QSignalBlocker(self.gate_combo):
            self.gate_combo.setCurrentIndex(max(0, self.gate_combo.findData(s.gate)))
        with QSignalBlocker(self.follow_box):
            self.follow_box.setChecked(s.follow_live)
        with QSignalBlocker(self.layer_combo):
            self.layer_combo.setCurrentIndex(max(0, self.layer_combo.findData(s.layer)))

    # -- the contract with the main window ---------------------------------------------------------------
    def set_store(self, store) -> None:
        """Show a new session (or none): views reset, the last record is selected, previews and hovers cleared."""
        self.store = store
        s = self.selection
        s.set_preview(None)
        s.set_hovered_loss(None)
        if store is not None:
            n = store.config.seq_length
            self.k_spin.setMaximum(n)
            if s.horizon_k > n:
                s.set_horizon_k(n)
        if s.gate is not None and (store is None or s.gate >= store.n_gates):
            s.set_gate(None)
        self._fill_gates()
        self._fill_layers()
        if store is not None and s.layer < store.layers:
            store.set_layer(s.layer)  # the layer shown stays the same from one session to the next
        else:
            s.set_layer(0)
        self._sync_controls()
        s.set_step_range(None)  # a new session starts with all its steps in view
        for view in (self.labels, self.bars, self.horizon, self.overview):
            view.set_store(store)
        self.steps.set_store(store)
        last = len(store) - 1 if store is not None and len(store) else None
        before = s.shown
        s.select(last, user=False)
        if s.shown == before:
            # Same index as the previous session's: no signal fired, but the data behind it changed.
            for view in (self.labels, self.bars, self.horizon, self.overview):
                view.refresh()

    def parts(self) -> dict[str, QWidget]:
        """The four views by the names `rnnbow render --view` gives them."""
        return {"labels": self.labels, "bars": self.bars, "horizon": self.horizon, "overview": self.overview}

    def records_appended(self) -> None:
        """The store grew: extend the overview (call at most ~30 times a second)."""
        self.overview.records_appended()

    def info_text(self) -> str:
        return self.overview.info_text()

    # -- export --------------------------------------------------------------------------------------------
    def export(self, path) -> Path:
        """Write all four views as they look now to a PNG or SVG file (chosen by the suffix)."""
        return export_widget(self, path, "RNNbow gradient views", self.info_text())

    def sizeHint(self) -> QSize:
        return QSize(1400, 900)

