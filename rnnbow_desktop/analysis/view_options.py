"""The ways the gradient views can show a batch, named once for the window, the renderer and the command line."""

from __future__ import annotations

# What a part G[t, j] of a bar is drawn as.
MODES = ("magnitude", "contribution")
MODE_ITEMS = (("magnitude", "magnitude ‖G[t, j]‖"), ("contribution", "contribution (signed, sums to the step)"))
# The height the bars are scaled to: this batch's, every batch's, or the recent records'.
SCALES = ("batch", "global", "recent")
SCALE_ITEMS = (("batch", "per batch"), ("global", "global"), ("recent", "recent window"))
