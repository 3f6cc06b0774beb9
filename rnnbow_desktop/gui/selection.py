"""The one selection model every view listens to: which record is selected, previewed and hovered.

Views never call each other. A view that wants to change what is shown sets a property here; every
view redraws from the resulting signals. Indices are record indices into the window's RecordStore.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from ..analysis.view_options import MODES, SCALES


class SelectionModel(QObject):
    # Emitted with the record index that views 1–3 should draw (preview if any, else selection).
    shownChanged = Signal(object)
    selectedChanged = Signal(object)  # int | None
    previewChanged = Signal(object)  # int | None: the overview bar under the mouse
    hoveredLossChanged = Signal(object)  # int | None: loss step t whose horizon is highlighted
    modeChanged = Signal(str)  # "magnitude" | "contribution"
    horizonKChanged = Signal(int)  # loss offsets drawn as separate segments
    scaleChanged = Signal(str)  # "batch" | "global" | "recent"
    gateChanged = Signal(object)  # None = all gates, else a gate index
    followLiveChanged = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._selected: int | None = None
        self._preview: int | None = None
        self._hovered_loss: int | None = None
        self._mode = "magnitude"
        self._k = 5
        self._scale = "batch"
        self._gate: int | None = None
        self._follow_live = True

    # -- records ------------------------------------------------------------------------------------
    @property
    def selected(self) -> int | None:
        return self._selected

    @property
    def preview(self) -> int | None:
        return self._preview

    @property
    def shown(self) -> int | None:
        return self._preview if self._preview is not None else self._selected

    def select(self, index: int | None, user: bool = True) -> None:
        """Select a record. A user's choice stops following the live record; `user=False` does not."""
        if user and self._follow_live:
            self._follow_live = False
            self.followLiveChanged.emit(False)
        if index == self._selected:
            return
        before = self.shown
        self._selected = index
        self.selectedChanged.emit(index)
        self.set_hovered_loss(None)  # a loss step of another batch means nothing here
        if self.shown != before:
            self.shownChanged.emit(self.shown)

    def set_preview(self, index: int | None) -> None:
        if index == self._preview:
            return
        before = self.shown
        self._preview = index
        self.previewChanged.emit(index)
        if self.shown != before:
            self.shownChanged.emit(self.shown)

    # -- hover within a batch ---------------------------------------------------------------------------
    @property
    def hovered_loss(self) -> int | None:
        return self._hovered_loss

    def set_hovered_loss(self, t: int | None) -> None:
        if t != self._hovered_loss:
            self._hovered_loss = t
            self.hoveredLossChanged.emit(t)

    # -- display options ----------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        if mode != self._mode:
            self._mode = mode
            self.modeChanged.emit(mode)

    @property
    def horizon_k(self) -> int:
        return self._k

    def set_horizon_k(self, k: int) -> None:
        k = max(1, int(k))
        if k != self._k:
            self._k = k
            self.horizonKChanged.emit(k)

    @property
    def scale(self) -> str:
        return self._scale

    def set_scale(self, scale: str) -> None:
        if scale not in SCALES:
            raise ValueError(f"unknown scale {scale!r}")
        if scale != self._scale:
            self._scale = scale
            self.scaleChanged.emit(scale)

    @property
    def gate(self) -> int | None:
        return self._gate

    def set_gate(self, gate: int | None) -> None:
        if gate != self._gate:
            self._gate = gate
            self.gateChanged.emit(gate)

    @property
    def follow_live(self) -> bool:
        return self._follow_live

    def set_follow_live(self, follow: bool) -> None:
        if follow != self._follow_live:
            self._follow_live = follow
            self.followLiveChanged.emit(follow)
