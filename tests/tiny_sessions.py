"""Small real sessions for tests: the real trainer on a short C-like text for a few dozen batches, written to a file."""

from __future__ import annotations

from pathlib import Path

from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.core.corpus import Corpus
from rnnbow_desktop.storage.run import TrainingRun

TINY_TEXT = "if (x) { y = x->next; }\n\telse { y = 0; return buf[n]; }\n" * 30
# Small enough that a session of 60 batches trains in a fraction of a second; no checkpoints or samples unless asked.
TINY_SETTINGS = dict(hidden_size=8, seq_length=10, checkpoint_every=0, sample_every=0)


def train_session(path: Path, batches: int, text: str = TINY_TEXT, name: str = "tiny", **settings) -> Path:
    """Train `batches` batches on `text` into the session file `path` with TINY_SETTINGS changed by `settings`."""
    config = TrainConfig(**(TINY_SETTINGS | settings))
    with TrainingRun(Corpus(name, text), config, path) as run:
        for _ in range(batches):
            run.step()
    return path
