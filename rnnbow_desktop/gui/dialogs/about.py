"""Help › About: the version, the license and the paper this app is built on."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ...core.version import __version__
from ..icon import app_icon

# The journal version (arXiv:1907.12545); the earlier workshop paper lists four of these authors.
CITATION = (
    "D. Cashman, G. Patterson, A. Mosca, N. Watts, S. Robinson, R. Chang. "
    "RNNbow: Visualizing Learning via Backpropagation Gradients in RNNs. "
    "IEEE Computer Graphics and Applications 38(6), 2018."
)
LICENSE = "MIT"


def about_html() -> str:
    return (
        f"<h2>RNNbow Desktop {__version__}</h2>"
        "<p>Watch a recurrent network learn: train a character-level network and see, batch by batch, "
        "which predictions its gradients come from and how far back in the text they reach.</p>"
        f"<p>License: {LICENSE}.</p>"
        "<p>Based on the paper:<br>"
        f"<i>{CITATION}</i></p>"
    )


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("About RNNbow Desktop")
        icon = QLabel()
        icon.setPixmap(app_icon().pixmap(96, 96))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.text = QLabel(about_html())
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setMinimumWidth(420)
        row = QHBoxLayout()
        row.addWidget(icon)
        row.addWidget(self.text, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(buttons)
