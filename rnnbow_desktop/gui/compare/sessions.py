"""The sessions of a comparison: each with its records, its own selection model and its colour."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...storage.record_store import RecordStore
from ..selection import SelectionModel

# One colour per session, the same in every plot, the legend and the column headers. Mostly Okabe–Ito
# hues (told apart with the common colour-vision deficiencies); the first three avoid the views' greens.
SESSION_COLORS = ("#0072b2", "#d55e00", "#8e44ad", "#009e73", "#b8860b", "#555555")


def session_label(path, cell: str) -> str:
    """How a session is named everywhere in the comparison: its file name and its cell."""
    return f"{Path(path).name} ({cell})"


@dataclass(eq=False)
class ComparedSession:
    """One session of the comparison: its records, its own selection model and its colour."""

    path: Path
    store: RecordStore
    selection: SelectionModel
    color: str

    @property
    def cell(self) -> str:
        return self.store.config.cell

    @property
    def label(self) -> str:
        return session_label(self.path, self.cell)

