"""The findings list: the shown session's interesting batches, best first; clicking one selects its batch."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from ...analysis.findings import KINDS, Finding
from . import palette

COLUMNS = ("batch", "kind", "score", "why")
_FINDING_ROLE = Qt.ItemDataRole.UserRole


class FindingsPanel(QWidget):
    """A FindingsTracker's shown findings as a sortable table, linked to the selection both ways.

    Clicking a row (or moving to it with the keys) selects the record of that batch; selecting a batch
    elsewhere that has a finding highlights its row. `step(±1)` jumps to the next or previous finding
    in batch order from the selected batch (the window's keys).
    """

    def __init__(self, selection, tracker, parent=None):
        super().__init__(parent)
        self.selection = selection
        self.tracker = tracker
        self.store = None
        self.labels = dict(KINDS)

        self.status = QLabel()
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        self.table.setSortingEnabled(True)
        header = self.table.horizontalHeader()
        for column in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.sortByColumn(COLUMNS.index("score"), Qt.SortOrder.DescendingOrder)
        # The current finding's reason in full: the table's last column is usually cut short.
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.detail)

        self._filling = False
        self.table.currentCellChanged.connect(self._row_chosen)
        self.table.currentCellChanged.connect(lambda *_: self._show_detail())
        self.table.cellClicked.connect(lambda row, _column: self._row_chosen(row))
        tracker.changed.connect(self.refill)
        tracker.statusChanged.connect(self._show_status)
        selection.selectedChanged.connect(self._follow_selection)
        self.refill()

    def set_store(self, store) -> None:
        self.store = store
        self._follow_selection()

    # -- the table ---------------------------------------------------------------------------------------
    def refill(self) -> None:
        """Rows for the tracker's shown findings, keeping the sort order and the current finding."""
        current = self.current_finding()
        self._filling = True
        table = self.table
        table.setSortingEnabled(False)
        findings = self.tracker.shown()
        table.setRowCount(len(findings))
        for row, finding in enumerate(findings):
            color = QColor(palette.FINDING_STYLES[finding.kind][0])
            glyph = palette.FINDING_GLYPHS[palette.FINDING_STYLES[finding.kind][1]]
            items = (_NumberItem(finding.batch, f"{finding.batch:,}"), QTableWidgetItem(f"{glyph} {self.labels[finding.kind]}"),
                     _NumberItem(finding.score, f"{finding.score:.1f}"), QTableWidgetItem(finding.reason))
            items[1].setForeground(color)
            for column, item in enumerate(items):
                item.setData(_FINDING_ROLE, finding)
                item.setToolTip(f"batch {finding.batch:,}, {self.labels[finding.kind]}: {finding.reason}")
                table.setItem(row, column, item)
        table.setSortingEnabled(True)
        self._select_finding(current)
        self._filling = False
        self._show_status()

    def _show_status(self) -> None:
        self.status.setText(self.tracker.status())

    def _show_detail(self) -> None:
        finding = self.current_finding()
        self.detail.setText("" if finding is None else
                            f"<b>batch {finding.batch:,}</b>, {self.labels[finding.kind]}: {finding.reason}")

    def rows(self) -> list[Finding]:
        """The findings in the order the table shows them."""
        return [self.table.item(row, 0).data(_FINDING_ROLE) for row in range(self.table.rowCount())]

    def current_finding(self) -> Finding | None:
        row = self.table.currentRow()
        item = self.table.item(row, 0) if row >= 0 else None
        return item.data(_FINDING_ROLE) if item is not None else None

    def _select_finding(self, finding: Finding | None) -> None:
        """Make `finding`'s row current (none if it is not listed), without selecting its batch again."""
        filling, self._filling = self._filling, True
        rows = self.rows()
        if finding in rows:
            row = rows.index(finding)
            self.table.setCurrentCell(row, 0)
            self.table.scrollToItem(self.table.item(row, 0))
        else:
            self.table.setCurrentCell(-1, -1)
        self._filling = filling

    def _row_chosen(self, row: int, *_) -> None:
        if self._filling or row < 0 or self.table.item(row, 0) is None:
            return
        self.go_to(self.table.item(row, 0).data(_FINDING_ROLE))

    # -- the selection -------------------------------------------------------------------------------------
    def go_to(self, finding: Finding) -> None:
        """Select the record of `finding`'s batch (the nearest record when that batch was not recorded)."""
        if self.store is None or not len(self.store):
            return
        index = self.store.nearest_index(finding.batch)
        self.selection.select(index, user=True)
        self._select_finding(finding)

    def _record_of(self, finding: Finding) -> int | None:
        return self.store.nearest_index(finding.batch) if self.store is not None else None

    def _follow_selection(self, *_) -> None:
        """The selected record has a finding (the best one there, if several): make its row current."""
        index = self.selection.selected
        current = self.current_finding()
        if self.store is None or index is None or (current is not None and self._record_of(current) == index):
            return
        here = [f for f in self.tracker.shown() if self._record_of(f) == index]
        self._select_finding(max(here, key=lambda f: f.score) if here else None)

    def step(self, direction: int) -> Finding | None:
        """Go to the next (+1) or previous (−1) shown finding in batch order from the selected record."""
        if self.store is None or not len(self.store):
            return None
        index = self.selection.selected
        by_record = sorted(((self._record_of(f), -f.score, f.batch, f) for f in self.tracker.shown()), key=lambda r: r[:3])
        if direction > 0:
            ahead = [r for r in by_record if index is None or r[0] > index]
            target = ahead[0] if ahead else None
        else:
            behind = [r for r in by_record if index is None or r[0] < index]
            # The best finding of the nearest record before: the last record, its first entry.
            target = next((r for r in behind if r[0] == behind[-1][0]), None) if behind else None
        if target is None:
            return None
        self.go_to(target[3])
        return target[3]


class _NumberItem(QTableWidgetItem):
    """A cell that shows formatted text and sorts by its number."""

    def __init__(self, value: float, text: str):
        super().__init__(text)
        self.value = value

    def __lt__(self, other) -> bool:
        return self.value < other.value if isinstance(other, _NumberItem) else super().__lt__(other)
