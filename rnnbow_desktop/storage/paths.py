"""Where sessions go by default: a per-user data folder, one file per run named after corpus and time."""

from __future__ import annotations

import re
import time
from pathlib import Path


def sessions_dir() -> Path:
    import platformdirs

    folder = Path(platformdirs.user_data_dir("rnnbow", appauthor=False)) / "sessions"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def default_session_path(corpus_name: str, cell: str = "rnn", folder: Path | None = None) -> Path:
    """A new, not yet existing file name such as `c-like-rnn-20261122-101500.h5`."""
    folder = folder or sessions_dir()
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", corpus_name).strip("._") or "corpus"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = folder / f"{stem}-{cell}-{stamp}.h5"
    counter = 2
    while path.exists():
        path = folder / f"{stem}-{cell}-{stamp}-{counter}.h5"
        counter += 1
    return path


PICTURE_SUFFIXES = (".png", ".svg")


def check_picture_path(out, force: bool) -> Path:
    """A picture file to write: .png or .svg, in a folder that exists, not replacing a file unless `force`."""
    from ..core.errors import RnnbowError

    out = Path(out)
    if out.suffix.lower() not in PICTURE_SUFFIXES:
        raise RnnbowError(f"{out}: unknown image type {out.suffix or '(none)'!r}; use .png or .svg")
    if out.exists() and not force:
        raise RnnbowError(f"{out}: already exists (use --force to overwrite it)")
    if not out.parent.is_dir():
        raise RnnbowError(f"{out}: folder {out.parent} does not exist")
    return out
