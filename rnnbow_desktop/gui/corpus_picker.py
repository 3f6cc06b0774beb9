"""The corpus picker: bundled samples, the running Python's own code, or the user's files, with size, vocabulary and a preview."""

from __future__ import annotations

import concurrent.futures
import html
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFileDialog, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QTreeWidget,
    QTreeWidgetItem, QVBoxLayout, QWidget,
)

from ..core.corpus import BUILTIN_CORPORA, Corpus, builtin_unavailable, load_corpus
from ..core.errors import RnnbowError
from ..core.samples import DEFAULT_SAMPLE, SAMPLES
from .live_panels import monospace_font

PREVIEW_CHARS = 3000
BUILTIN_TITLES = {"python-c-headers": "C headers of this Python", "python-stdlib": "Python standard library"}
_SPEC_ROLE = Qt.ItemDataRole.UserRole
_CACHE_SIZE = 3  # loaded corpora kept, so switching back and forth is instant (stdlib: ~20 MB)


@dataclass(frozen=True)
class LoadedCorpus:
    """A corpus and the facts the picker shows about it."""

    spec: str
    corpus: Corpus
    size_bytes: int


def _load(spec: str) -> LoadedCorpus:
    """Runs on a pool thread: reading the 4 MB standard library takes about a second."""
    corpus = load_corpus(spec, min_length=2)
    path = Path(corpus.source) if corpus.source else None
    if path is not None and path.is_file():
        size = path.stat().st_size
    else:  # a folder or the standard library: the text that was actually read
        size = len(corpus.text.encode("utf-8"))
    return LoadedCorpus(spec, corpus, size)


def format_size(size: int) -> str:
    for unit, factor in (("MB", 1e6), ("kB", 1e3)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} bytes"


class CorpusPicker(QWidget):
    """Choose what to train on. Loading happens off the GUI thread; `corpusChanged` reports the result."""

    corpusChanged = Signal(object)  # Corpus, or None while nothing is loaded
    loadFailed = Signal(str, str)  # spec, message

    def __init__(self, parent=None):
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self._samples_group = self._group("Samples bundled with RNNbow")
        for name, info in SAMPLES.items():
            self._add_item(self._samples_group, info.title, name, info.description)
        self._builtin_group = self._group("Real code from this Python")
        for name, description in BUILTIN_CORPORA.items():
            title = BUILTIN_TITLES.get(name, name)
            why_not = builtin_unavailable(name)
            if why_not is None:
                self._add_item(self._builtin_group, title, name, description)
            else:  # e.g. the standalone app: listed, greyed out, with the reason
                item = self._add_item(self._builtin_group, f"{title} (not available)", name, f"{description}: {why_not}")
                item.setFlags(Qt.ItemFlag.NoItemFlags)
        self._files_group = self._group("Your files")
        self._files_group.setHidden(True)
        self.tree.expandAll()
        self._fit_tree_height()

        self.open_file_button = QPushButton("Open file…")
        self.open_file_button.setToolTip("Train on a UTF-8 text file")
        self.open_file_button.clicked.connect(self.choose_file)
        self.open_folder_button = QPushButton("Open folder…")
        self.open_folder_button.setToolTip("Train on every text file below a folder, in sorted order")
        self.open_folder_button.clicked.connect(self.choose_folder)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_file_button)
        buttons.addWidget(self.open_folder_button)

        self.facts = QLabel("Choose a corpus.")
        self.facts.setWordWrap(True)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color: #505050;")
        self.preview = QPlainTextEdit()
        self.preview.setReadOnly(True)
        self.preview.setFont(monospace_font())
        self.preview.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.preview.setPlaceholderText("A preview of the text appears here.")
        self.preview.setMinimumHeight(90)
        self.preview.setToolTip("The beginning of the corpus")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree)
        layout.addLayout(buttons)
        layout.addWidget(self.facts)
        layout.addWidget(self.description)
        layout.addWidget(self.preview, 1)

        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="corpus-load")
        self._future: concurrent.futures.Future | None = None
        self._pending_spec: str | None = None
        self._cache: OrderedDict[str, LoadedCorpus] = OrderedDict()
        self._current: LoadedCorpus | None = None
        self._busy_cursor = False
        # The pool thread never touches Qt: the GUI polls its future from this timer.
        self._poll = QTimer(self)
        self._poll.setInterval(25)
        self._poll.timeout.connect(self._check_load)
        self.tree.currentItemChanged.connect(self._on_current_item)

    # -- tree ---------------------------------------------------------------------------------------
    def _group(self, title: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem(self.tree, [title])
        item.setFlags(Qt.ItemFlag.ItemIsEnabled)
        font = item.font(0)
        font.setBold(True)
        item.setFont(0, font)
        return item

    def _fit_tree_height(self) -> None:
        """Exactly as tall as its rows: the list is short, and the space is better spent on the preview."""
        groups = (self._samples_group, self._builtin_group, self._files_group)
        rows = sum(1 + g.childCount() for g in groups if not g.isHidden())
        row_height = self.tree.sizeHintForRow(0) if self.tree.topLevelItemCount() else 20
        self.tree.setFixedHeight(rows * max(row_height, 16) + 2 * self.tree.frameWidth() + 4)

    def _add_item(self, group: QTreeWidgetItem, title: str, spec: str, tooltip: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem(group, [title])
        item.setData(0, _SPEC_ROLE, spec)
        item.setData(0, Qt.ItemDataRole.UserRole + 1, tooltip)
        item.setToolTip(0, tooltip)
        return item

    def _find_item(self, spec: str) -> QTreeWidgetItem | None:
        for group in (self._samples_group, self._builtin_group, self._files_group):
            for i in range(group.childCount()):
                if group.child(i).data(0, _SPEC_ROLE) == spec:
                    return group.child(i)
        return None

    def _on_current_item(self, item: QTreeWidgetItem | None, _previous=None) -> None:
        spec = None if item is None else item.data(0, _SPEC_ROLE)
        if spec is None:
            return
        self.description.setText(item.data(0, Qt.ItemDataRole.UserRole + 1) or "")
        self._start_load(spec)

    # -- public -------------------------------------------------------------------------------------
    @property
    def current_spec(self) -> str | None:
        item = self.tree.currentItem()
        return None if item is None else item.data(0, _SPEC_ROLE)

    @property
    def corpus(self) -> Corpus | None:
        """The loaded corpus of the current choice, or None while it loads (or failed)."""
        return None if self._current is None else self._current.corpus

    @property
    def loading(self) -> bool:
        return self._pending_spec is not None

    def select_spec(self, spec: str) -> None:
        """Choose a sample or built-in name, or a file/folder path (added under "Your files")."""
        spec = str(spec)
        item = self._find_item(spec)
        if item is None:
            path = Path(spec).expanduser()
            if path.exists():
                spec = str(path.resolve())
                item = self._find_item(spec)
            if item is None:
                label = f"{path.name or spec}{'/' if path.is_dir() else ''}"
                item = self._add_item(self._files_group, label, spec, spec)
                self._files_group.setHidden(False)
                self._files_group.setExpanded(True)
                self._fit_tree_height()
        if item is self.tree.currentItem():
            if self._current is None and not self.loading:
                self._start_load(spec)  # e.g. a retry after a failed load
            return
        self.tree.setCurrentItem(item)

    def select_default(self) -> None:
        self.select_spec(DEFAULT_SAMPLE)

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Train on a text file", "", "Text files (*.txt *.c *.h *.py *.md *.*)")
        if path:
            self.select_spec(path)

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Train on every text file in a folder")
        if path:
            self.select_spec(path)

    def shutdown(self) -> None:
        """Stop polling; a load already running is waited for (a second at most, for the standard library)."""
        self._poll.stop()
        self._set_busy(False)
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- loading ------------------------------------------------------------------------------------
    def _start_load(self, spec: str) -> None:
        cached = self._cache.get(spec)
        if cached is not None:
            self._cache.move_to_end(spec)
            self._pending_spec = None
            self._future = None
            self._poll.stop()
            self._set_busy(False)
            self._show(cached)
            return
        self._current = None
        self._pending_spec = spec
        self.facts.setText("Loading…")
        self.preview.clear()
        self.corpusChanged.emit(None)
        self._set_busy(True)
        # A newer choice replaces an older one; the older result is dropped when it arrives.
        self._future = self._pool.submit(_load, spec)
        self._poll.start()

    def _check_load(self) -> None:
        future = self._future
        if future is None or not future.done():
            return
        self._future = None
        self._poll.stop()
        self._set_busy(False)
        spec, self._pending_spec = self._pending_spec, None
        if spec != self.current_spec:
            return
        try:
            loaded = future.result()
        except RnnbowError as exc:
            self._report_failure(spec, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 — an unreadable file must not crash the window
            self._report_failure(spec, f"{type(exc).__name__}: {exc}")
            return
        self._cache[spec] = loaded
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        self._show(loaded)

    def _report_failure(self, spec: str, message: str) -> None:
        self.facts.setText(f"<span style='color:#b00020'>Cannot use this corpus: {html.escape(message)}</span>")
        self.loadFailed.emit(spec, message)

    def _show(self, loaded: LoadedCorpus) -> None:
        self._current = loaded
        corpus = loaded.corpus
        facts = (f"<b>{html.escape(corpus.name)}</b>: {format_size(loaded.size_bytes)}, {len(corpus.text):,} characters, "
                 f"vocabulary of {corpus.vocab_size} characters")
        if corpus.skipped:
            facts += f" ({html.escape(corpus.skipped_summary())})"
        self.facts.setText(facts)
        self.preview.setPlainText(corpus.text[:PREVIEW_CHARS])
        self.corpusChanged.emit(corpus)

    def _set_busy(self, busy: bool) -> None:
        # A busy (not wait) cursor: the window stays usable while a big corpus loads.
        if busy and not self._busy_cursor:
            QGuiApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)
        elif not busy and self._busy_cursor:
            QGuiApplication.restoreOverrideCursor()
        self._busy_cursor = busy
