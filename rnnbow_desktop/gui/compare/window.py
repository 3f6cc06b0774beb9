"""The "Compare sessions" window: the columns of every session under the two overlaid plots, its menus and its export."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QFrame, QHBoxLayout, QLabel, QMainWindow, QSplitter, QVBoxLayout, QWidget

from ...core.errors import RnnbowError
from ...storage.multi import open_stores
from ..dialogs.errors import show_error_dialog
from ..export import EXPORT_FILTERS, export_widget
from ..option_bar import OptionBar
from ..selection import SelectionModel
from ..views import palette
from ..views.stacked_bars import legend_html as bar_legend_html
from .batch_link import BatchLink
from .dynamics_plot import DynamicsComparePlot
from .horizon_plot import HorizonTrainingPlot
from .profile_plot import ProfilePlot
from .session_column import SessionColumn
from .sessions import SESSION_COLORS, ComparedSession

TOP_SHARE = 35  # percent of the height given to the two overlaid plots


def legend_html(sessions: list[ComparedSession]) -> str:
    """The key to both plots and the columns: one colour per session, named by file and cell."""
    items = [
        f'<span style="color:{s.color}; font-size:x-large">▬</span>&nbsp;<b>{html.escape(s.label)}</b>'
        for s in sessions
    ]
    return "&nbsp;&nbsp;&nbsp;&nbsp; ".join(items)


class CompareWindow(QMainWindow):
    """Two or more sessions side by side with linked hover and selection, under (a) the horizon profiles
    and (b) the effective horizon over training of all of them."""

    def __init__(self, paths, parent=None, profile_over: str = "whole", profile_statistic: str = "mean"):
        super().__init__(parent)
        self.errors: list[str] = []
        self.sessions: list[ComparedSession] = []
        self.columns: list[SessionColumn] = []
        self.link: BatchLink | None = None
        self.profile_plot: ProfilePlot | None = None
        self.horizon_plot: HorizonTrainingPlot | None = None
        self.dynamics_plot: DynamicsComparePlot | None = None
        self._shown = False

        paths = [Path(p) for p in paths]
        stores, problems = open_stores(paths)
        for i, store in enumerate(stores):
            selection = SelectionModel(self)
            selection.set_follow_live(False)
            path = Path(store.session.path)
            self.sessions.append(ComparedSession(path, store, selection, SESSION_COLORS[i % len(SESSION_COLORS)]))

        self.content = QWidget()
        palette.light_palette(self.content)
        self.setCentralWidget(self.content)
        self._build_menus()
        if len(self.sessions) >= 2:
            self._build(profile_over, profile_statistic)
        else:
            self._build_empty(len(paths))
        self._set_title()
        self.resize(1600, 1000)

        if problems:
            skipped = "\n".join(f"• {p}" for p in problems)
            opened = len(self.sessions)
            if opened >= 2:
                self.show_error(f"Skipped {len(problems)} of {len(paths)} sessions:\n{skipped}",
                                "Some sessions could not be opened")
            else:
                self.show_error(f"{skipped}\n\nComparing needs at least two readable sessions; "
                                f"{opened} could be opened.", "Not enough sessions to compare")
        elif len(self.sessions) < 2:
            self.show_error(f"Comparing needs at least two sessions; {len(self.sessions)} given.",
                            "Not enough sessions to compare")

    # -- building ------------------------------------------------------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.export_action = self._action(file_menu, "&Export Image…", self.export_dialog, QKeySequence("Ctrl+E"))
        file_menu.addSeparator()
        self._action(file_menu, "&Close", self.close, QKeySequence.StandardKey.Close)
        go = self.menuBar().addMenu("&Go")
        self.prev_action = self._action(go, "&Previous Batch (all sessions)", lambda: self._step(-1), Qt.Key.Key_Left)
        self.next_action = self._action(go, "&Next Batch (all sessions)", lambda: self._step(1), Qt.Key.Key_Right)
        self._action(go, "&First Batch", lambda: self._end(False), Qt.Key.Key_Home)
        self._action(go, "&Last Batch", lambda: self._end(True), Qt.Key.Key_End)

    def _action(self, menu, text, slot, shortcut) -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_toolbar(self) -> OptionBar:
        """Display options shared by every column (each session's own selection model gets them)."""
        bar = OptionBar("all sessions: show")
        self.mode_combo, self.k_spin, self.scale_combo = bar.mode_combo, bar.k_spin, bar.scale_combo
        bar.modeChosen.connect(lambda mode: self._for_all(lambda s: s.set_mode(mode)))
        self.k_spin.setRange(1, min(s.store.config.seq_length for s in self.sessions))
        self.k_spin.setValue(min(5, self.k_spin.maximum()))
        bar.horizonKChosen.connect(lambda k: self._for_all(lambda s: s.set_horizon_k(k)))
        bar.horizonKChosen.connect(self._update_bar_key)
        bar.scaleChosen.connect(lambda scale: self._for_all(lambda s: s.set_scale(scale)))
        self.bar_key = QLabel()
        self.bar_key.setToolTip("the colours of the bars in view 2: which loss (how many steps t − j later) each part comes from")
        bar.add_right(self.bar_key)
        self._update_bar_key()
        return bar

    def _update_bar_key(self, *_) -> None:
        n = min(s.store.config.seq_length for s in self.sessions)
        self.bar_key.setText("bars: " + bar_legend_html(self.k_spin.value(), n))

    def _for_all(self, change) -> None:
        for s in self.sessions:
            change(s.selection)

    def _build(self, profile_over: str, profile_statistic: str) -> None:
        # Columns first: each selects its own last record, before the link would echo that to the others.
        for s in self.sessions:
            self.columns.append(SessionColumn(s))
        self.link = BatchLink(self.sessions, self)
        self.profile_plot = ProfilePlot()
        self.profile_plot.set_range(profile_over)
        self.profile_plot.set_statistic(profile_statistic)
        self.horizon_plot = HorizonTrainingPlot(self.link)
        self.profile_plot.set_sessions(self.sessions)
        self.horizon_plot.set_sessions(self.sessions)
        self.link.selectedBatchChanged.connect(self.profile_plot.set_selected_batch)
        self.dynamics_plot = DynamicsComparePlot()
        self.dynamics_plot.set_sessions(self.sessions)
        self.link.selectedBatchChanged.connect(self.dynamics_plot.curves.set_marker)

        self.legend = QLabel(legend_html(self.sessions))
        self.legend.setWordWrap(True)
        self.legend.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.legend.setToolTip(
            "hover or click a batch in any overview or in (b): every session shows its record nearest that batch; "
            "←/→ step all sessions together"
        )
        plots = QHBoxLayout()
        plots.setSpacing(16)
        plots.addWidget(self._titled("a", self.profile_plot), 1)
        plots.addWidget(self._titled("b", self.horizon_plot), 1)
        plots.addWidget(self._titled("c", self.dynamics_plot), 1)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.setSpacing(2)
        top_layout.addWidget(self.legend)
        top_layout.addLayout(plots, 1)

        bottom = QWidget()
        bottom_layout = QHBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.setSpacing(0)
        for i, column in enumerate(self.columns):
            if i:
                rule = QFrame()
                rule.setFrameShape(QFrame.Shape.VLine)
                rule.setStyleSheet("color: #d0d0d0")
                bottom_layout.addWidget(rule)
            bottom_layout.addWidget(column, 1)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)
        self.splitter = splitter

        layout = QVBoxLayout(self.content)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(6)
        layout.addWidget(self._build_toolbar())
        layout.addWidget(splitter, 1)

        # Start aligned: the last batch every session has reached.
        self.link.select_batch(min(int(s.store.batches[-1]) for s in self.sessions), user=False)

    @staticmethod
    def _titled(letter: str, widget: QWidget) -> QWidget:
        """Prefix the plot's header with its letter, so the README and help can refer to (a) and (b)."""
        widget.header.setText(widget.header.text().replace("<b>", f"<b>({letter}) ", 1))
        return widget

    def _build_empty(self, given: int) -> None:
        layout = QVBoxLayout(self.content)
        self.empty_label = QLabel(
            f"<p align='center'>Comparing needs at least two readable sessions; "
            f"{len(self.sessions)} of the {given} given could be opened.</p>"
            "<p align='center'>Choose two or more session files (for example the same corpus trained with "
            "rnn, lstm and gru).</p>"
        )
        self.empty_label.setWordWrap(True)
        layout.addWidget(self.empty_label, 1)
        self.export_action.setEnabled(False)

    def _set_title(self) -> None:
        names = ", ".join(s.label for s in self.sessions) or "no sessions"
        self.setWindowTitle(f"Compare: {names} — RNNbow")

    # -- actions ---------------------------------------------------------------------------------------------
    def _step(self, delta: int) -> None:
        if self.link is not None:
            self.link.step(delta)

    def _end(self, last: bool) -> None:
        if self.link is not None:
            self.link.select_end(last)

    def show_error(self, message: str, title: str = "Cannot compare these sessions"):
        """Tell the user in a (non-blocking) dialog; the message is kept in `errors` too."""
        self.errors.append(message)
        return show_error_dialog(self, title, message)

    def export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export comparison", "comparison.png", ";;".join(EXPORT_FILTERS))
        if not path:
            return
        try:
            self.export(path)
        except RnnbowError as exc:
            self.show_error(str(exc), "Export failed")

    def export(self, path) -> Path:
        """Write the window's content (plots and columns, without the menu bar) to a PNG or SVG file."""
        return export_widget(self.content, path, "RNNbow comparison", self.windowTitle())

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.columns and not self._shown:
            # Only now is the height known; sizes set earlier are replaced by the size hints.
            self._shown = True
            height = self.splitter.height()
            self.splitter.setSizes([height * TOP_SHARE // 100, height - height * TOP_SHARE // 100])
            self.dynamics_plot.start()  # off the GUI thread; a picture drawn to a file computed it already

    def closeEvent(self, event) -> None:
        self.close_sessions()
        super().closeEvent(event)

    def close_sessions(self) -> None:
        if self.dynamics_plot is not None:
            self.dynamics_plot.shutdown()  # its job reads a session file: stopped before the files close
        for s in self.sessions:
            s.store.close()

    def sizeHint(self) -> QSize:
        return QSize(1600, 1000)


def open_comparison(paths, owner) -> CompareWindow:
    """File › Compare Sessions of the main window `owner`: show `paths` side by side in a window of their own.

    `owner.compare_windows` keeps it alive while it is open (nothing else holds it); closing deletes it
    and drops the reference. Problems with single files are reported in its own dialogs.
    """
    from PySide6.QtWidgets import QApplication

    owner.statusBar().showMessage(f"Opening {len(paths)} sessions to compare…")
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        window = CompareWindow(paths)
    finally:
        QApplication.restoreOverrideCursor()
        owner.statusBar().clearMessage()
    window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    owner.compare_windows.append(window)
    window.destroyed.connect(lambda *_: owner.compare_windows.remove(window) if window in owner.compare_windows else None)
    window.show()
    window.raise_()
    window.activateWindow()
    return window


def run_compare_window(paths, profile_over: str = "whole", profile_statistic: str = "mean", batch: int | None = None,
                       hover_step: int | None = None, size: tuple[int, int] | None = None) -> int:
    """Show the comparison of `paths` as the application's window (`rnnbow compare`, `rnnbow demo`) until it is closed.

    The caller has checked that there is a display. `batch` aligns every session on that training
    batch; `hover_step` shows that loss step hovered (its horizon in every column's view 3).
    """
    from ..app import application, report_unexpected_errors, schedule_test_quit

    app = application()
    window = CompareWindow(paths, profile_over=profile_over, profile_statistic=profile_statistic)
    if size is not None:
        window.resize(*size)
    if batch is not None and window.link is not None:
        window.link.select_batch(batch, user=False)
    if hover_step is not None and window.link is not None:
        window.sessions[0].selection.set_hovered_loss(hover_step)  # the link repeats it in the others
    report_unexpected_errors(window)
    window.show()
    failures = schedule_test_quit(app, window)  # RNNBOW_QUIT_AFTER_MS / RNNBOW_SCREENSHOT, as for `rnnbow gui`
    code = app.exec()
    return 1 if failures else code

