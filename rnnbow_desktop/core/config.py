"""Training settings: one frozen dataclass that the trainer, the session file and every front end share."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from .cells import make_cell
from .errors import ConfigError


# The longest sequence a trainer accepts: the itemized pass of one batch grows as n²·H·GH in time and
# n²·GH in memory (about 1 s and 330 MB for a vanilla RNN at n = 512, H = 256;
# benchmarks/bench_long_sequences.py). Sessions written with longer sequences still open.
MAX_SEQ_LENGTH = 512


@dataclass(frozen=True)
class TrainConfig:
    """Training settings; the defaults mirror the paper's use case (min-char-rnn)."""

    cell: str = "rnn"
    hidden_size: int = 100
    seq_length: int = 25
    learning_rate: float = 0.1
    record_every: int = 1
    checkpoint_every: int = 1000  # 0: no checkpoints
    seed: int = 0
    horizon_epsilon: float = 0.05
    clip: float = 5.0
    sample_every: int = 500  # 0: no samples
    sample_length: int = 200

    def validate(self) -> "TrainConfig":
        make_cell(self.cell)
        for name in ("hidden_size", "seq_length", "record_every", "sample_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{name.replace('_', ' ')} must be a positive whole number, not {value!r}")
        for name in ("checkpoint_every", "sample_every", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ConfigError(f"{name.replace('_', ' ')} must be 0 or a positive whole number, not {value!r}")
        for name in ("learning_rate", "clip"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ConfigError(f"{name.replace('_', ' ')} must be a positive finite number, not {value!r}")
        if not (math.isfinite(self.horizon_epsilon) and 0 < self.horizon_epsilon < 1):
            raise ConfigError(f"horizon epsilon must be between 0 and 1, not {self.horizon_epsilon!r}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})
