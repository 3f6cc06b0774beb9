"""The ranked unit list of the Units view: units by how well one feature explains them; click to select, type a regex to add a feature."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton, QTableView, QVBoxLayout,
    QWidget,
)

from ...analysis.text_features import parse_feature_spec
from ...analysis.unit_finder import FeatureCorrelations, UnitMatch, best_units, unit_ranking
from ...core.errors import ConfigError
from ..selection import UnitChoice
from ..views import palette

BEST_FEATURE = None  # the rank-by choice "each unit's best feature"
COLUMNS = ("state", "unit", "feature", "r")


class UnitTableModel(QAbstractTableModel):
    """Rows of (state, unit, feature, r), best first."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.matches: tuple[UnitMatch, ...] = ()

    def set_matches(self, matches: tuple[UnitMatch, ...]) -> None:
        self.beginResetModel()
        self.matches = matches
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.matches)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        match = self.matches[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (match.state, str(match.unit), match.feature, f"{match.r:+.2f}")[column]
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (1, 3):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and column == 3:
            return QColor("#b2182b" if match.r > 0 else "#2166ac")
        return None

    def row_of(self, choice: UnitChoice | None) -> int | None:
        if choice is None:
            return None
        for row, match in enumerate(self.matches):
            if match.state == choice.state and match.unit == choice.unit:
                return row
        return None


class UnitList(QWidget):
    """Rank by a feature (or each unit's best one); a click selects a unit; NAME=REGEX adds a feature."""

    unitClicked = Signal(object)  # UnitChoice
    featureAdded = Signal(str, str)  # name, regular expression
    rankChanged = Signal(object)  # the feature units are ranked by, or None (each unit's best feature)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.correlations: FeatureCorrelations | None = None
        self.rank_combo = QComboBox()
        self.rank_combo.setToolTip("rank the units by how well this feature explains their activation (|r|)")
        self.rank_combo.addItem("each unit's best feature", BEST_FEATURE)
        self.rank_combo.currentIndexChanged.connect(self._rank_chosen)
        self.model = UnitTableModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 4)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.clicked.connect(self._clicked)
        self.table.activated.connect(self._clicked)
        self.feature_edit = QLineEdit()
        self.feature_edit.setPlaceholderText("add a feature: NAME=REGEX, e.g. digit=[0-9]")
        self.feature_edit.returnPressed.connect(self._add_feature)
        self.add_button = QPushButton("Add")
        self.add_button.clicked.connect(self._add_feature)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet(f"color: {palette.WRONG}")
        self.message.hide()

        rank_row = QHBoxLayout()
        rank_row.addWidget(QLabel("rank by"))
        rank_row.addWidget(self.rank_combo, 1)
        add_row = QHBoxLayout()
        add_row.addWidget(self.feature_edit, 1)
        add_row.addWidget(self.add_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        layout.addLayout(rank_row)
        layout.addWidget(self.table, 1)
        layout.addLayout(add_row)
        layout.addWidget(self.message)

    @property
    def rank_feature(self) -> str | None:
        return self.rank_combo.currentData()

    def set_correlations(self, correlations: FeatureCorrelations | None) -> None:
        self.correlations = correlations
        features = () if correlations is None else correlations.features
        current = self.rank_feature
        with QSignalBlocker(self.rank_combo):
            self.rank_combo.clear()
            self.rank_combo.addItem("each unit's best feature", BEST_FEATURE)
            for name in features:
                self.rank_combo.addItem(name, name)
            self.rank_combo.setCurrentIndex(max(0, self.rank_combo.findData(current)))
        self._fill()

    def ranked(self) -> tuple[UnitMatch, ...]:
        c = self.correlations
        if c is None:
            return ()
        if self.rank_feature is None:
            return unit_ranking(c)
        return best_units(c, top=c.r.shape[0] * c.r.shape[1], feature=self.rank_feature)

    def show_unit(self, choice: UnitChoice | None) -> None:
        """Mark `choice` in the table (without emitting unitClicked)."""
        row = self.model.row_of(choice)
        selection = self.table.selectionModel()
        with QSignalBlocker(selection):
            if row is None:
                self.table.clearSelection()
            else:
                self.table.selectRow(row)
                self.table.scrollTo(self.model.index(row, 0), QAbstractItemView.ScrollHint.EnsureVisible)
        self.table.viewport().update()

    def _fill(self) -> None:
        self.model.set_matches(self.ranked())

    def _rank_chosen(self, _index: int) -> None:
        self._fill()
        self.rankChanged.emit(self.rank_feature)

    def _clicked(self, index: QModelIndex) -> None:
        if index.isValid():
            match = self.model.matches[index.row()]
            self.unitClicked.emit(UnitChoice(match.state, match.unit))

    def _add_feature(self) -> None:
        spec = self.feature_edit.text().strip()
        if not spec:
            return
        try:
            name, pattern = parse_feature_spec(spec)
            if self.correlations is not None and name in self.correlations.features:
                raise ConfigError(f"feature {name!r} is already defined; choose another name")
        except ConfigError as exc:
            self.message.setText(str(exc))
            self.message.show()
            return
        self.message.hide()
        self.feature_edit.clear()
        self.featureAdded.emit(name, pattern)
