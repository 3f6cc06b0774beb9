"""What each unit does over one probe text at one checkpoint: the finder's best units, gate saturation and the n-gram comparison.

This puts the pieces of issue 14 together for the command line (`rnnbow units`) and the Units view:
a replay of the probe (replay.py) gives every unit's states; text_features.py gives the features;
unit_finder.py correlates the two; saturation.py and ngram.py add Karpathy et al.'s two other
measurements. Everything here is computed from arrays; reading a session is the caller's part.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..core.records import frozen_array
from .ngram import MemoryGain, NgramModel, memory_gain
from .replay import Replay
from .saturation import GateSaturation, gate_saturation
from .text_features import text_features
from .unit_finder import FeatureCorrelations, UnitMatch, best_units, feature_correlations

NGRAM_ORDER = 9  # Karpathy et al. compared with n-grams up to order 9; ngram.py measured its smoothing there


@dataclass(frozen=True)
class UnitReport:
    """One checkpoint's model over one probe text, and what its units track."""

    checkpoint: int  # the checkpointed batch whose parameters were replayed
    text: str
    replay: Replay
    features: Mapping[str, np.ndarray]  # name -> (T,) feature value after reading character t
    correlations: FeatureCorrelations  # r[s, u, f] for every state s ("h", "c", gate names), unit u, feature f
    best: tuple[UnitMatch, ...]  # per feature (in `features` order), the state and unit with the largest |r|
    saturation: Mapping[str, GateSaturation]  # sigmoid gate name -> left/right fractions per unit; {} for rnn
    ngram_order: int | None  # None: no n-gram comparison
    ngram_loss: np.ndarray | None  # (T,) −ln P_ngram(text[t + 1] | …text[t]) in nats; NaN at T − 1
    memory: MemoryGain | None  # model loss − n-gram loss per character and by class of character

    def is_constant(self, feature: str) -> bool:
        """Whether `feature` has one value over the whole text (no strings in it, say): then it explains
        nothing, every unit's r with it is 0, and its "best unit" means nothing."""
        values = self.features[feature]
        return bool(values.min() == values.max())


def unit_states(replay: Replay) -> dict[str, np.ndarray]:
    """Every state a unit has over the text, name -> (T, H): "h", "c" (LSTM only), then each gate.

    A vanilla RNN's only gate is its hidden state itself, so it is not listed twice.
    """
    states = {"h": replay.h}
    if replay.c is not None:
        states["c"] = replay.c
    if replay.cell != "rnn":
        states.update(replay.gates)
    return states


def state_values(replay: Replay, state: str) -> np.ndarray:
    """The (T, H) values of one state named as in `unit_states`; KeyError naming the choices otherwise."""
    states = unit_states(replay)
    if state not in states:
        raise KeyError(f"no state {state!r} in a {replay.cell} replay; choose from {', '.join(states)}")
    return states[state]


def ngram_corpus(corpus_text: str, probe: str) -> tuple[str, bool]:
    """(text to train the n-gram on, whether the probe was held out of it).

    Every occurrence of the probe is cut out of the corpus, so the n-gram is scored on text it never
    counted (the default probe is the corpus's tail). A probe that is the whole corpus (a corpus no
    longer than the probe) leaves nothing: then the n-gram trains on the whole corpus and says so.
    The few k-grams that span a cut are counted as if the pieces were adjacent.
    """
    if not probe:
        return corpus_text, True
    rest = "".join(corpus_text.split(probe))
    if not rest:
        return corpus_text, False
    return rest, True


def feature_report(replay: Replay, text: str, extra_features: Mapping[str, str] | None = None
                   ) -> tuple[dict[str, np.ndarray], FeatureCorrelations]:
    """The probe's features (built-in, then the user's NAME → regex) and every unit's r with each."""
    if len(text) != len(replay.ids):
        raise ValueError(f"the replay has {len(replay.ids)} characters, the text {len(text)}")
    features = text_features(text, extra_features)
    return features, feature_correlations(unit_states(replay), features)


def unit_report(replay: Replay, text: str, checkpoint: int, extra_features: Mapping[str, str] | None = None,
                ngram: NgramModel | None = None) -> UnitReport:
    """Features, correlations, the best unit per feature, gate saturation and (with `ngram`) where memory helps."""
    features, correlations = feature_report(replay, text, extra_features)
    saturation = gate_saturation(replay.gates) if replay.cell != "rnn" else {}
    ngram_loss, memory = None, None
    if ngram is not None:
        ngram_loss = frozen_array(ngram.loss(replay.ids))
        memory = memory_gain(replay.loss, ngram_loss, text)
    return UnitReport(
        checkpoint=checkpoint,
        text=text,
        replay=replay,
        features=features,
        correlations=correlations,
        best=best_units(correlations, top=1),
        saturation=saturation,
        ngram_order=None if ngram is None else ngram.order,
        ngram_loss=ngram_loss,
        memory=memory,
    )


def top_predictions(probs: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The k most likely next tokens of one distribution (V,), most likely first: (ids (k,), probabilities (k,))."""
    k = min(k, len(probs))
    ids = np.argpartition(-probs, k - 1)[:k]
    ids = ids[np.argsort(-probs[ids], kind="stable")]
    return ids, probs[ids]
