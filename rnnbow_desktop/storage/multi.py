"""Opening several sessions at once, as a comparison does: every readable one, and a message for each that is not."""

from __future__ import annotations

from collections.abc import Iterable
from os import PathLike
from pathlib import Path

from ..core.errors import RnnbowError
from .record_store import RecordStore


def open_stores(paths: Iterable[str | PathLike]) -> tuple[list[RecordStore], list[str]]:
    """Open every session that can be read; one message per file that cannot (which is skipped)."""
    stores: list[RecordStore] = []
    problems: list[str] = []
    for given in paths:
        path = Path(given)
        try:
            store = RecordStore.open(path)
        except RnnbowError as exc:
            problems.append(str(exc))
            continue
        except OSError as exc:  # the file vanished or cannot be read at all
            problems.append(f"{path}: {exc.strerror or exc}")
            continue
        if not len(store):
            problems.append(f"{path}: no batch was recorded in this session")
            store.close()
            continue
        stores.append(store)
    return stores, problems


def check_sessions(paths: Iterable[str | PathLike], hover_step: int | None = None) -> None:
    """Raise RnnbowError naming the first of `paths` that cannot be compared (missing, not a session, no
    records), or if there are fewer than two, or if `hover_step` is not a step of every session's batches.

    A script gets the first problem as a one-line error, not the dialog the window would show.
    """
    paths = [Path(p) for p in paths]
    if len(paths) < 2:
        given = f"only {paths[0]} given" if paths else "none given"
        raise RnnbowError(f"comparing needs at least two session files; {given}")
    stores, problems = open_stores(paths)
    n = min((store.config.seq_length for store in stores), default=0)
    for store in stores:
        store.close()
    if problems:
        raise RnnbowError(problems[0])
    if hover_step is not None and not 0 <= hover_step < n:
        raise RnnbowError(f"hover step {hover_step} is out of range: these sessions' batches have steps 0–{n - 1}")
