"""Unit analyses of an open session, shared by `rnnbow units` and the Units view: probe, n-gram baseline, reports."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..analysis.ngram import NgramModel, train_ngram
from ..analysis.probe import default_probe
from ..analysis.replay import encode
from ..analysis.unit_finder import TrainingCurve, best_over_training
from ..analysis.unit_report import NGRAM_ORDER, UnitReport, feature_report, ngram_corpus, unit_report
from ..core.errors import SessionFormatError
from .session import OpenSession


@dataclass(frozen=True)
class NgramBaseline:
    """The n-gram a probe's losses are compared with."""

    model: NgramModel
    held_out: bool  # the probe was cut out of the text the n-gram counted (False: the probe is the whole corpus)
    characters: int  # characters the n-gram counted


def probe_text(session: OpenSession, text: str | None = None) -> str:
    """`text`, or the default probe: about 2,000 characters from the end of the session's corpus."""
    return default_probe(session.corpus_text()) if text is None else text


def probe_ngram(session: OpenSession, probe: str, order: int = NGRAM_ORDER) -> NgramBaseline:
    """An interpolated Kneser–Ney n-gram of orders 1 … `order` counted on the corpus minus the probe."""
    text, held_out = ngram_corpus(session.corpus_text(), probe)
    model = train_ngram(encode(text, session.vocab), len(session.vocab), order)
    return NgramBaseline(model=model, held_out=held_out, characters=len(text))


def checkpoint_report(session: OpenSession, probe: str, checkpoint: int | None = None,
                      features: Mapping[str, str] | None = None, ngram: NgramBaseline | None = None) -> UnitReport:
    """The unit report of the model checkpointed at `checkpoint` (default: the last) over `probe`."""
    batch = last_checkpoint(session) if checkpoint is None else checkpoint
    replayed = session.replay(probe, batch)
    return unit_report(replayed, probe, batch, features, None if ngram is None else ngram.model)


def over_training(session: OpenSession, probe: str, features: Mapping[str, str] | None = None,
                  progress: Callable[[float, str], None] | None = None) -> TrainingCurve:
    """The best |r| per feature at every checkpoint: when in training each feature's unit appeared.

    `progress(fraction, text)` is called after each checkpoint and may raise core.errors.Cancelled.
    """
    batches = session.checkpoints
    if not batches:
        raise SessionFormatError(f"{session.path}: the session has no checkpoints")
    found = []
    for i, batch in enumerate(batches):
        found.append(feature_report(session.replay(probe, batch), probe, features)[1])
        if progress is not None:
            progress((i + 1) / len(batches), f"checkpoint {i + 1} of {len(batches)} (batch {batch:,})")
    return best_over_training(found, batches)


def last_checkpoint(session: OpenSession) -> int:
    """The batch of the session's last checkpoint; SessionFormatError when it has none."""
    batches = session.checkpoints
    if not batches:
        raise SessionFormatError(f"{session.path}: the session has no checkpoints")
    return batches[-1]
