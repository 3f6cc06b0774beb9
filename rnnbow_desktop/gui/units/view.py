"""The Units view: a probe text coloured by one hidden unit, the units ranked by the features they track, gate
saturation and the finder over training — for an open session or a live run (issue 14).

It listens to the shared SelectionModel (unit, checkpoint) and sets them, so another view can choose a unit or a
checkpoint too. Every computation runs on its UnitsWorker thread; results are drawn on the GUI thread.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox, QFileDialog, QHBoxLayout, QInputDialog, QLabel, QMenu, QProgressBar, QPushButton, QSplitter,
    QStackedWidget, QTabWidget, QToolButton, QVBoxLayout, QWidget,
)

from ...analysis.probe import read_probe_file
from ...analysis.unit_finder import TrainingCurve
from ...analysis.unit_report import NGRAM_ORDER, UnitReport, state_values, top_predictions
from ...core.errors import CorpusError
from ..selection import UnitChoice
from ..views import palette
from ..views.labels import visible_char
from .checkpoint_slider import CheckpointSlider
from .colours import NGRAM_DIFFERENCE, state_scale
from .legend import ColourLegend
from .saturation_plot import SaturationPlot
from .text_view import UnitTextView
from .training_curve import TrainingCurvePlot
from .unit_horizon import UnitHorizonSource
from .unit_list import UnitList
from .worker import CHECKPOINTS, CURVE, GRADIENTS, REPORT, CheckpointList, Job, UnitsWorker

POLL_MS = 2000  # how often a growing session is asked for new checkpoints
UNIT, NGRAM = "unit", "ngram"  # the two colourings of the text
EMPTY_TEXT = "Open a session, or train one with checkpoints, to see what its hidden units respond to."


class UnitsView(QWidget):
    """The dock's widget. `set_session` shows a session; `shutdown` ends its worker thread."""

    unitHorizonChanged = Signal(object)  # UnitHorizon | None, for the horizon view

    def __init__(self, selection, parent=None):
        super().__init__(parent)
        self.selection = selection
        self.path: Path | None = None
        self.store = None
        self.live = False
        self.enabled = False
        self.complete = True
        self.checkpoints: tuple[int, ...] = ()
        self.report: UnitReport | None = None
        self.report_final = False
        self.curve: TrainingCurve | None = None
        self.probe: str | None = None  # None: the default probe (the end of the corpus)
        self.probe_source = "the end of the corpus"
        self._shown_probe: tuple[str | None, str] = (None, self.probe_source)  # that of the report on show
        self.features: dict[str, str] = {}
        self.generations = {kind: 0 for kind in (CHECKPOINTS, REPORT, CURVE)}
        self._dirty = False  # the session changed while the view was hidden
        self._curve_due = False
        self._report_due = False
        self._report_status = ""  # what the status line says about the report on show
        self._looking = self._look_again = False  # a look at the file's checkpoints is on its way / is due after it
        self._first_look = 0  # CHECKPOINTS generations up to this one belong to an earlier session
        self.busy = False  # a report or the curve is on its way
        self._outstanding: set[str] = set()
        palette.light_palette(self)

        self.worker = UnitsWorker(self)
        self.worker.finishedJob.connect(self._finished)
        self.worker.failed.connect(self._failed)
        self.worker.progressed.connect(self._progressed)
        self.worker.cancelledJob.connect(self._cancelled)
        self.horizon_source = UnitHorizonSource(selection, self.worker, self)
        self.horizon_source.changed.connect(self.unitHorizonChanged)
        self.horizon_source.status.connect(self._say)

        self._build()
        self.poll_timer = QTimer(self)
        self.poll_timer.setInterval(POLL_MS)
        self.poll_timer.timeout.connect(self._poll)

        selection.unitChanged.connect(self._unit_changed)
        selection.checkpointChanged.connect(self._checkpoint_changed)

    # -- layout -----------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.slider = CheckpointSlider()
        self.slider.chosen.connect(self.selection.set_checkpoint)
        self.colour_combo = QComboBox()
        self.colour_combo.addItem("colour: the unit's activation", UNIT)
        self.colour_combo.addItem("colour: model − n-gram loss", NGRAM)
        self.colour_combo.setToolTip("what each character's background shows")
        self.colour_combo.currentIndexChanged.connect(lambda _i: self._recolour())
        self.probe_button = QToolButton()
        self.probe_button.setText("Probe text")
        self.probe_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.probe_button)
        menu.addAction("The end of the corpus (default)", lambda: self.set_probe(None))
        menu.addAction("Open a text file…", self._open_probe_file)
        menu.addAction("Paste text…", self._paste_probe)
        self.probe_button.setMenu(menu)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(120)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        controls = QHBoxLayout()
        controls.addWidget(self.colour_combo)
        controls.addWidget(self.probe_button)
        controls.addStretch(1)
        controls.addWidget(self.progress)
        controls.addWidget(self.cancel_button)

        self.header = QLabel()
        self.header.setWordWrap(True)
        self.text_view = UnitTextView()
        self.text_view.hovered.connect(self._hovered)
        self.legend = ColourLegend()
        self.hover_label = QLabel(" ")
        self.hover_label.setWordWrap(True)
        self.hover_label.setTextFormat(Qt.TextFormat.PlainText)
        text_panel = QWidget()
        text_layout = QVBoxLayout(text_panel)
        text_layout.setContentsMargins(0, 0, 0, 0)
        text_layout.setSpacing(2)
        text_layout.addWidget(self.header)
        text_layout.addWidget(self.text_view, 1)
        text_layout.addWidget(self.legend)
        text_layout.addWidget(self.hover_label)

        self.unit_list = UnitList()
        self.unit_list.unitClicked.connect(self.selection.set_unit)
        self.unit_list.featureAdded.connect(self.add_feature)
        self.unit_list.rankChanged.connect(lambda _f: self._unit_changed(self.selection.unit))
        self.saturation = SaturationPlot()
        self.saturation.unitClicked.connect(self.selection.set_unit)
        self.curve_plot = TrainingCurvePlot()
        self.curve_plot.checkpointClicked.connect(self._curve_clicked)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.curve_plot, "Over training")
        self.tabs.addTab(self.saturation, "Gate saturation")
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.unit_list)
        lower.addWidget(self.tabs)
        lower.setSizes([240, 300])
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(text_panel)
        self.splitter.addWidget(lower)
        self.splitter.setSizes([400, 300])

        content = QWidget()
        content_layout = QVBoxLayout(content)
        content_layout.setContentsMargins(0, 0, 0, 0)
        content_layout.setSpacing(4)
        content_layout.addWidget(self.slider)
        content_layout.addLayout(controls)
        content_layout.addWidget(self.splitter, 1)
        self.empty = QLabel(EMPTY_TEXT)
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.empty)
        self.pages.addWidget(content)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setStyleSheet(f"color: {palette.MUTED}")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.status)

    # -- the contract with the main window --------------------------------------------------------------
    def set_session(self, path: Path | None, store, live: bool = False) -> None:
        """Show the units of the session at `path` (None: none). `live`: a run in this window writes it."""
        self.path = None if path is None else Path(path)
        self.store = store
        self.enabled = store is not None and store.has_model
        self.live = live
        self.complete = False  # until the first look at the file says otherwise
        self.checkpoints, self.report, self.curve = (), None, None
        self.report_final = False
        self._report_due = self._curve_due = False
        self._looking = self._look_again = False
        self._first_look = self.generations[CHECKPOINTS] + 1
        self.probe, self.probe_source = None, "the end of the corpus"
        for kind in self.generations:
            self.generations[kind] += 1
        self.horizon_source.set_session(self.path, store, self.enabled)
        self.horizon_source.live = live
        self.slider.set_checkpoints((), None)
        self.text_view.set_text("")
        self.unit_list.set_correlations(None)
        self.saturation.set_saturation({}, None)
        self.curve_plot.set_curve(None)
        self.header.setText("")
        self.legend.set_scale(None)
        self._outstanding.clear()
        self._busy()
        if self.path is None or not self.enabled:
            self.empty.setText(EMPTY_TEXT if self.path is None else
                               "This session was recorded from a PyTorch module: RNNbow has no model of it to replay.")
            self.pages.setCurrentWidget(self.empty)
            self.poll_timer.stop()
            self._say("")
            return
        self.empty.setText("Reading the session's checkpoints…")
        self.pages.setCurrentWidget(self.empty)
        self._dirty = True
        self.poll_timer.start()
        self._refresh_if_shown()

    def set_live(self, live: bool) -> None:
        """Training into the shown session started or ended; when it ends, one last look at the (now complete) file."""
        self.live = live
        self.horizon_source.live = live
        if self.path is None or not self.enabled:
            return
        self.poll_timer.start()
        if not live:
            self._submit(CHECKPOINTS)

    def take_snapshot(self, snapshot) -> None:
        """Training in this window: its new checkpoints, straight from the trainer (the file is not read for them)."""
        if not snapshot.checkpoints or self.path is None or not self.enabled:
            return
        self.worker.add_checkpoints(self.path, snapshot.checkpoints)
        if self.isVisible():
            self._submit(CHECKPOINTS)
        else:
            self._dirty = True

    def shutdown(self) -> None:
        """Stop timers and the worker thread (waits for its current step). Idempotent."""
        self.poll_timer.stop()
        self.worker.stop()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._refresh_if_shown()

    # -- asking the worker --------------------------------------------------------------------------------
    def _refresh_if_shown(self) -> None:
        """Computing happens only while the view is on screen: a hidden tab costs nothing."""
        if not self.isVisible() or self.path is None or not self.enabled:
            return
        if self._dirty:
            self._dirty = False
            self._submit(CHECKPOINTS)
        if self._report_due:
            self.request_report()
        if self._curve_due and self.checkpoints:
            self._curve_due = False
            self._submit(CURVE)

    def _poll(self) -> None:
        if self.path is None or not self.enabled:
            return
        if self.complete and not self.live:
            self.poll_timer.stop()
            return
        if self.isVisible():
            self._submit(CHECKPOINTS)
        else:
            self._dirty = True

    def _submit(self, kind: str) -> None:
        if kind == CHECKPOINTS:
            # One look at a time: asked again meanwhile, one more follows it. Polls and snapshots come
            # faster than a busy worker answers; each newer request would otherwise make the last one's
            # answer stale, and none would ever be shown.
            if self._looking:
                self._look_again = True
                return
            self._looking = True
        self.generations[kind] += 1
        job = Job(kind, self.generations[kind], self.path, checkpoint=self.selection.checkpoint, text=self.probe,
                  features=tuple(self.features.items()), ngram_order=NGRAM_ORDER)
        if kind != CHECKPOINTS:
            self._outstanding.add(kind)
            self._busy()
        self.worker.submit(job)

    def _checkpoints_looked(self) -> None:
        self._looking = False
        if self._look_again:
            self._look_again = False
            self._submit(CHECKPOINTS)

    def request_report(self) -> None:
        """Recompute the report for the selection's checkpoint, probe and features (the curve follows);
        while the view is hidden, once it is shown."""
        self._report_due = not self.isVisible()
        if self.path is not None and self.enabled and self.checkpoints and not self._report_due:
            self._submit(REPORT)

    def cancel(self) -> None:
        for kind in (REPORT, CURVE):
            self.generations[kind] += 1
            self.worker.cancel(kind, self.generations[kind])
        self.horizon_source.generation += 1
        self.worker.cancel(GRADIENTS, self.horizon_source.generation)
        self._outstanding.clear()
        self._busy()
        self._say("Cancelled. Move the slider or add a feature to compute again.")

    # -- what the user changes -----------------------------------------------------------------------------
    def set_probe(self, text: str | None, source: str = "") -> None:
        """Use `text` as the probe (None: the end of the corpus) and recompute."""
        self.probe = text
        self.probe_source = source or ("the end of the corpus" if text is None else "pasted text")
        self.request_report()
        self._curve_due = True

    def add_feature(self, name: str, pattern: str) -> None:
        self.features[name] = pattern
        self.request_report()
        self._curve_due = True

    def ask_probe_file(self) -> Path | None:
        """A dialog choosing a text file (tests replace it)."""
        path, _ = QFileDialog.getOpenFileName(self, "Open a probe text", "", "Text files (*);;All files (*)")
        return Path(path) if path else None

    def ask_probe_paste(self) -> str | None:
        """A dialog to paste a probe text into (tests replace it)."""
        text, ok = QInputDialog.getMultiLineText(self, "Paste a probe text", "Text the model is run over:")
        return text if ok and text else None

    def _open_probe_file(self) -> None:
        path = self.ask_probe_file()
        if path is None:
            return
        try:
            text = read_probe_file(path)
        except CorpusError as exc:
            self._say(str(exc))
            return
        self.set_probe(text, path.name)

    def _paste_probe(self) -> None:
        text = self.ask_probe_paste()
        if text:
            self.set_probe(text, "pasted text")

    def _curve_clicked(self, batch: int) -> None:
        self.selection.set_checkpoint(None if self.checkpoints and batch == self.checkpoints[-1] else batch)

    # -- results ---------------------------------------------------------------------------------------------
    def _finished(self, outcome) -> None:
        if outcome.path != self.path or outcome.kind not in self.generations:
            return
        if outcome.kind == CHECKPOINTS:
            # Any look at the file is news, even if another was asked for since (see _submit).
            self._checkpoints_looked()
            if outcome.generation > self._first_look:
                self._checkpoints_arrived(outcome.value)
            return
        if outcome.generation != self.generations[outcome.kind]:
            return  # a newer request of this kind is on its way
        if outcome.kind == REPORT:
            self._show_report(outcome.value, outcome.final, outcome.seconds)
        else:
            self._done(CURVE)
            self.curve = outcome.value
            constant = () if self.report is None else tuple(f for f in self.report.features if self.report.is_constant(f))
            self.curve_plot.set_curve(self.curve, constant)
            self.curve_plot.show_checkpoint(None if self.report is None else self.report.checkpoint)
            self._say(self._report_status)

    def _checkpoints_arrived(self, found: CheckpointList) -> None:
        self.complete = found.complete
        if not found.has_model:
            self.set_session(self.path, None)
            return
        if not found.checkpoints:
            self.empty.setText("This session has no checkpoints yet. Train with checkpoints "
                               "(Checkpoint every > 0) to see what the units do.")
            self.pages.setCurrentWidget(self.empty)
            return
        grown = found.checkpoints != self.checkpoints
        self.checkpoints = found.checkpoints
        if not grown and self.report is not None:
            return
        self.pages.setCurrentIndex(1)
        wanted = self.selection.checkpoint
        self.slider.set_checkpoints(self.checkpoints, wanted)
        if wanted is not None and wanted not in self.checkpoints:
            self.selection.set_checkpoint(None)  # emits; the slot requests the report
            return
        if self.report is None or wanted is None:
            self.request_report()  # the newest checkpoint is followed
        self._curve_due = True

    def _show_report(self, report: UnitReport, final: bool, seconds: float) -> None:
        text_changed = self.report is None or self.report.text != report.text
        self.report, self.report_final = report, final
        self._shown_probe = (self.probe, self.probe_source)
        if final:
            self._done(REPORT)
        if text_changed:
            self.text_view.set_text(report.text)
        self.unit_list.set_correlations(report.correlations)
        self.saturation.set_saturation(report.saturation, report.replay.cell)
        self.curve_plot.show_checkpoint(report.checkpoint)
        self._unit_changed(self.selection.unit)
        what = f"checkpoint {report.checkpoint:,}: {len(report.text):,} characters of {self.probe_source}"
        if report.memory is not None:
            o = report.memory.overall
            what += (f"; loss {o.model_loss:.3f} nats per character, {report.ngram_order}-gram "
                     f"{o.ngram_loss:.3f}")
        elif not final:
            what += "; counting the n-gram…"
        self._report_status = f"{what} (computed in {seconds:.2f} s)"
        self._say(self._report_status)
        self._refresh_if_shown()

    def _failed(self, failure) -> None:
        if failure.kind == CHECKPOINTS:
            self._checkpoints_looked()
        if failure.kind not in self.generations or failure.generation != self.generations[failure.kind]:
            return
        self._done(failure.kind)
        message = failure.message.splitlines()[0] if failure.message else "unknown error"
        if failure.kind == REPORT and self.report is not None:
            # A probe the model cannot read (characters outside its vocabulary): keep the one on show.
            self.probe, self.probe_source = self._shown_probe
        self._say(message)

    def _cancelled(self, what) -> None:
        kind, generation = what
        if kind == CHECKPOINTS:
            self._checkpoints_looked()
        if kind in self.generations and generation == self.generations[kind]:
            self._done(kind)

    def _progressed(self, what) -> None:
        kind, generation, fraction, text = what
        current = self.generations.get(kind) if kind != GRADIENTS else self.horizon_source.generation
        if generation != current or kind == CHECKPOINTS:
            return
        if kind == GRADIENTS:  # the horizon view waits for it; the status line says how far it got
            self._say(f"{text[:1].upper()}{text[1:]} ({fraction:.0%})…")
            return
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.progress.setValue(int(round(100 * fraction)))
        self._say(text[:1].upper() + text[1:] + "…")

    # -- selection ------------------------------------------------------------------------------------------
    def _checkpoint_changed(self, batch) -> None:
        with QSignalBlocker(self.slider.slider):
            self.slider.set_checkpoints(self.checkpoints, batch)
        self.request_report()

    def shown_unit(self) -> tuple[UnitChoice | None, bool]:
        """The unit the text is coloured by, and whether the user chose it (else: the top of the ranking)."""
        chosen = self.selection.unit
        report = self.report
        if report is None:
            return None, False
        if chosen is not None and chosen.state in report.correlations.states and chosen.unit < report.replay.h.shape[1]:
            return chosen, True
        ranked = self.unit_list.ranked()
        return (UnitChoice(ranked[0].state, ranked[0].unit), False) if ranked else (None, False)

    def _unit_changed(self, _choice) -> None:
        self.unit_list.show_unit(self.selection.unit)
        self.saturation.show_unit(self.selection.unit)
        self._recolour()

    def _recolour(self) -> None:
        report = self.report
        if report is None:
            self.text_view.set_colours(None)
            self.legend.set_scale(None)
            return
        mode = self.colour_combo.currentData()
        if mode == NGRAM:
            if report.memory is None:
                self.header.setText(palette.header_html("Model − n-gram loss", "the n-gram is being counted…"))
                self.text_view.set_colours(None)
                self.legend.set_scale(NGRAM_DIFFERENCE)
                return
            # Entry t of the gain is about the character after t: colour the character that was predicted.
            values = np.concatenate(([np.nan], report.memory.gain[:-1]))
            self.text_view.set_colours(NGRAM_DIFFERENCE.rgba(values))
            self.legend.set_scale(NGRAM_DIFFERENCE)
            o = report.memory.overall
            self.header.setText(palette.header_html(
                f"Where memory helps: model − {report.ngram_order}-gram loss",
                f"{o.model_loss:.3f} vs {o.ngram_loss:.3f} nats per character"))
            return
        choice, chosen = self.shown_unit()
        if choice is None:
            self.text_view.set_colours(None)
            return
        scale = state_scale(choice.state)
        self.text_view.set_colours(scale.rgba(state_values(report.replay, choice.state)[:, choice.unit]))
        self.legend.set_scale(scale)
        r = report.correlations.r[report.correlations.states.index(choice.state), choice.unit]  # (F,)
        best = int(np.abs(r).argmax())
        note = (f"best explained by {report.correlations.features[best]} (r = {r[best]:+.2f})"
                + ("" if chosen else " — the top of the ranking; click a unit to choose another"))
        self.header.setText(palette.header_html(f"{choice.state} unit {choice.unit}", note))

    def _hovered(self, index) -> None:
        report = self.report
        if index is None or report is None or not 0 <= index < len(report.text):
            self.hover_label.setText(" ")
            return
        text, vocab = report.text, self._vocab()
        parts = [f"{visible_char(text[index])!r} at {index:,}"]
        choice, _ = self.shown_unit()
        if choice is not None:
            value = state_values(report.replay, choice.state)[index, choice.unit]
            parts.append(f"{choice.state} {choice.unit} = {value:+.3f}")
        if vocab is not None:
            ids, probs = top_predictions(report.replay.probs[index], 5)
            parts.append("next: " + ", ".join(f"{visible_char(vocab[i])!r} {p:.0%}" for i, p in zip(ids, probs)))
        if index + 1 < len(text):
            parts.append(f"came {visible_char(text[index + 1])!r} ({report.replay.loss[index]:.2f} nats)")
        if report.memory is not None and index >= 1:
            parts.append(f"model − n-gram here: {report.memory.gain[index - 1]:+.2f} nats")
        self.hover_label.setText(" · ".join(parts))

    def _vocab(self):
        return None if self.store is None else self.store.vocab

    # -- status ----------------------------------------------------------------------------------------------
    def _done(self, kind: str) -> None:
        self._outstanding.discard(kind)
        self._busy()

    def _busy(self) -> None:
        """Show the progress bar and Cancel while a report or the curve is on its way."""
        busy = self.busy = bool(self._outstanding)
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if not busy:
            self.progress.setValue(0)

    def _say(self, text: str) -> None:
        self.status.setText(text)
