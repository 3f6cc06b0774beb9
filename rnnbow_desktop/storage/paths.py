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


IMAGE_SUFFIXES = (".png", ".svg")


def check_image_path(path, overwrite: bool = True) -> Path:
    """`path` as a Path if an image can be written there: a .png or .svg name in an existing folder
    (and, unless `overwrite`, no file of that name yet); RnnbowError saying why not otherwise."""
    from ..core.errors import RnnbowError

    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise RnnbowError(f"{path}: unknown image type {path.suffix or '(none)'!r}; use .png or .svg")
    return check_new_file(path, overwrite)


def check_new_file(path, overwrite: bool = True) -> Path:
    """`path` as a Path if a file can be written there: its folder exists and, unless `overwrite`,
    no file of that name yet; RnnbowError saying why not otherwise."""
    from ..core.errors import RnnbowError

    path = Path(path)
    if path.exists() and not overwrite:
        raise RnnbowError(f"{path}: already exists (use --force to overwrite it)")
    if not path.parent.is_dir():
        raise RnnbowError(f"{path}: folder {path.parent} does not exist")
    return path
