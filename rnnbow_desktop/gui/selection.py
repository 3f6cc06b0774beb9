"""The one selection model every view listens to: which record is selected, previewed and hovered.

Views never call each other. A view that wants to change what is shown sets a property here; every
view redraws from the resulting signals. Indices are record indices into the window's RecordStore.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from dataclasses import dataclass

from ..analysis.view_options import MODES, SCALES


@dataclass(frozen=True)
class UnitChoice:
    """A hidden unit of one state: `state` is "h", "c" or a gate name; `unit` its index (0 … H-1)."""

    state: str
    unit: int


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
    # What the network has learned (Units and Dynamics views): one unit of one state at one checkpoint.
    unitChanged = Signal(object)  # UnitChoice | None
    checkpointChanged = Signal(object)  # int | None: a checkpointed batch; None = the last one
    layerChanged = Signal(int)  # recorded layer shown by the gradient views (sessions with several layers)
    # Long sequences: the steps j views 1–3 show, (first, last) in step units (bar centres at integers), or None for all.
    stepRangeChanged = Signal(object)

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
        self._unit: UnitChoice | None = None
        self._checkpoint: int | None = None
        self._layer = 0
        self._step_range: tuple[float, float] | None = None

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

    # -- units, checkpoints, layers -------------------------------------------------------------------
    @property
    def unit(self) -> UnitChoice | None:
        return self._unit

    def set_unit(self, unit: UnitChoice | None) -> None:
        if unit != self._unit:
            self._unit = unit
            self.unitChanged.emit(unit)

    @property
    def checkpoint(self) -> int | None:
        return self._checkpoint

    def set_checkpoint(self, batch: int | None) -> None:
        if batch != self._checkpoint:
            self._checkpoint = batch
            self.checkpointChanged.emit(batch)

    @property
    def layer(self) -> int:
        return self._layer

    def set_layer(self, layer: int) -> None:
        if layer != self._layer:
            self._layer = layer
            self.layerChanged.emit(layer)

    # -- steps shown of a long sequence ------------------------------------------------------------------
    @property
    def step_range(self) -> tuple[float, float] | None:
        return self._step_range

    def set_step_range(self, steps: tuple[float, float] | None) -> None:
        steps = None if steps is None else (float(steps[0]), float(steps[1]))
        if steps != self._step_range:
            self._step_range = steps
            self.stepRangeChanged.emit(steps)
