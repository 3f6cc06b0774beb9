"""The ways the gradient views can show a batch, named once for the window, the renderer and the command line."""

from __future__ import annotations

# What a part G[t, j] of a bar is drawn as.
MODES = ("magnitude", "contribution")
MODE_ITEMS = (("magnitude", "magnitude ‖G[t, j]‖"), ("contribution", "contribution (signed, sums to the step)"))
# The height the bars are scaled to: this batch's, every batch's, or the recent records'.
SCALES = ("batch", "global", "recent")
SCALE_ITEMS = (("batch", "per batch"), ("global", "global"), ("recent", "recent window"))
# What a rendered picture holds: the four views, or one of them alone (`rnnbow render --view`), and its size in
# pixels when none is asked for, in that view's own proportions.
VIEWS = ("all", "labels", "bars", "horizon", "overview")
VIEW_SIZES = {"all": (1400, 900), "labels": (1400, 130), "bars": (1400, 500), "horizon": (1400, 420),
              "overview": (1400, 420)}
