"""`train(corpus, **settings)`: headless training into a session file, as `rnnbow train` does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

from ..core.config import TrainConfig
from ..core.corpus import Corpus, load_corpus
from ..core.errors import ConfigError
from ..core.records import StepResult
from ..storage.paths import default_session_path
from ..storage.run import TrainingRun

SETTINGS = tuple(f.name for f in fields(TrainConfig))


def train(corpus: str | Path | Corpus, out: str | Path | None = None, batches: int = 1000, *, force: bool = False,
          progress: Callable[[StepResult], None] | None = None, should_stop: Callable[[], bool] | None = None,
          **settings) -> Path:
    """Train `batches` batches on `corpus` and write the session to `out`; returns its path.

    corpus: a text file, a folder, a bundled sample name ("c-like", "long-range", "brackets"), or a Corpus.
    out: the session file (default: a new file in the per-user sessions folder). An existing file is
    replaced only with `force`. settings: any TrainConfig field (cell, hidden_size, seq_length,
    learning_rate, record_every, checkpoint_every, seed, horizon_epsilon, clip, sample_every, sample_length).
    progress(result) is called after every batch; should_stop() before every batch ends training early
    with a complete file. Raises the core's RnnbowError subclasses for a user's mistake.
    """
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise ConfigError(f"unknown setting {', '.join(unknown)}; choose from {', '.join(SETTINGS)}")
    if not isinstance(batches, int) or batches <= 0:
        raise ConfigError(f"batches must be a positive whole number, not {batches!r}")
    config = TrainConfig(**settings).validate()
    if not isinstance(corpus, Corpus):
        corpus = load_corpus(corpus, min_length=config.seq_length + 1)
    out = Path(out) if out is not None else default_session_path(corpus.name, config.cell)
    with TrainingRun(corpus, config, out, force=force) as run:
        while run.batch < batches and not (should_stop is not None and should_stop()):
            result = run.step()
            if progress is not None:
                progress(result)
    return out
