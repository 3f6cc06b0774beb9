"""Small real sessions for tests: the real trainer on a short C-like text for a few dozen batches, written to a file."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.core.corpus import Corpus
from rnnbow_desktop.storage.run import TrainingRun

TINY_TEXT = "if (x) { y = x->next; }\n\telse { y = 0; return buf[n]; }\n" * 30
# Small enough that a session of 60 batches trains in a fraction of a second; no checkpoints or samples unless asked.
TINY_SETTINGS = dict(hidden_size=8, seq_length=10, checkpoint_every=0, sample_every=0)


def train_session(path: Path, batches: int, text: str = TINY_TEXT, name: str = "tiny", **settings) -> Path:
    """Train `batches` batches on `text` into the session file `path` with TINY_SETTINGS changed by `settings`."""
    with growing_session(path, batches, text, name, **settings):
        pass
    return path


@contextlib.contextmanager
def growing_session(path: Path, batches: int, text: str = TINY_TEXT, name: str = "tiny",
                    **settings) -> Iterator[TrainingRun]:
    """A session still being written: `batches` batches trained into `path` and flushed, then the run, to train
    on while a reader follows the file; closed (complete) at the end of the `with` block."""
    config = TrainConfig(**(TINY_SETTINGS | settings))
    with TrainingRun(Corpus(name, text), config, path) as run:
        for _ in range(batches):
            run.step()
        run.writer.flush()
        yield run
