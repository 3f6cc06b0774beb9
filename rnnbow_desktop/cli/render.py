"""`rnnbow render`: the four views of one recorded batch drawn to PNG or SVG, without a window."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..analysis.view_options import MODES, VIEW_SIZES, VIEWS
from .args import nonnegative_int, positive_int


def add_parser(sub) -> None:
    render = sub.add_parser("render", help="draw the views of one recorded batch to PNG or SVG")
    render.add_argument("session", type=Path, metavar="SESSION.h5")
    render.add_argument("--batch", type=nonnegative_int, default=None, help="recorded batch to draw (default: the last one)")
    render.add_argument("--hover-step", type=nonnegative_int, default=None, metavar="T", help="show the horizon of the loss at step T")
    render.add_argument("--mode", choices=MODES, default="magnitude",
                        help="magnitude: ‖G[t, j]‖ as in the paper; contribution: each part's share of the real update")
    render.add_argument("--horizon", type=positive_int, default=5, metavar="K", help="loss offsets drawn as separate segments (default: 5)")
    render.add_argument("--layer", type=nonnegative_int, default=0,
                        help="of a session recorded from a PyTorch model with several layers: which one (default: 0)")
    render.add_argument("--view", choices=VIEWS, default="all",
                        help="all four views (default), or one alone: labels, bars, horizon or overview")
    sizes = ", ".join(f"{view} {w}×{h}" for view, (w, h) in VIEW_SIZES.items())
    render.add_argument("--width", type=positive_int, default=None, help=f"picture width in pixels (default: {sizes})")
    render.add_argument("--height", type=positive_int, default=None, help="picture height in pixels (default: as above)")
    render.add_argument("--out", required=True, type=Path, metavar="FILE.png|FILE.svg")
    render.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    render.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..gui.render import render_session

    default_width, default_height = VIEW_SIZES[args.view]
    size = (args.width or default_width, args.height or default_height)
    render_session(
        args.session, args.out, batch=args.batch, hover_step=args.hover_step, mode=args.mode,
        horizon=args.horizon, size=size, force=args.force, view=args.view, layer=args.layer,
    )
    print(f"wrote {args.out}")
    return 0
