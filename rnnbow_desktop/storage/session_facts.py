"""The facts about an open session that `rnnbow info --json` prints (Session.summary)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..core.labels import IdLabels

if TYPE_CHECKING:
    from .reader import Session


def session_facts(session: Session) -> dict:
    """The settings, counts, corpus, median horizon, environment and notes of `session`."""
    cfg, info = session.info.config, session.info
    horizons = session.column("horizon")
    if info.module is not None:
        return _module_facts(session, horizons)
    return {
        "path": str(session.path),
        "format_version": info.format_version,
        "app_version": info.app_version,
        "cell": cfg.cell,
        "hidden_size": cfg.hidden_size,
        "seq_length": cfg.seq_length,
        "learning_rate": cfg.learning_rate,
        "seed": cfg.seed,
        "record_every": cfg.record_every,
        "checkpoint_every": cfg.checkpoint_every,
        "horizon_epsilon": cfg.horizon_epsilon,
        "records": session.n_records,
        "batches_trained": session.batches_trained,
        "checkpoints": session.n_checkpoints,
        "samples": session.n_samples,
        "complete": info.complete,
        "corpus": {
            "name": info.corpus_name,
            "sha256": info.corpus_sha256,
            "characters": info.corpus_length,
            "vocab_size": len(info.vocab),
        },
        "median_horizon": float(np.median(horizons)) if len(horizons) else None,
        "environment": dict(info.environment),
        "notes": list(session.notes),
    }


def _module_facts(session: Session, horizons: np.ndarray) -> dict:
    """The facts of a session recorded from a PyTorch module: its description instead of a corpus and settings."""
    info, cfg = session.info, session.info.config
    module = info.module
    medians = [float(np.median(session.column("horizon", layer=k))) if len(horizons) else None
               for k in range(info.layers)]
    return {
        "path": str(session.path),
        "format_version": info.format_version,
        "app_version": info.app_version,
        "source": info.source,
        "cell": cfg.cell,
        "hidden_size": cfg.hidden_size,
        "seq_length": cfg.seq_length,
        "layers": info.layers,
        "module": {"kind": module.kind, "input_size": module.input_size, "nonlinearity": module.nonlinearity,
                   "batch_first": module.batch_first, "bias": module.bias, "dtype": module.dtype,
                   "device": module.device, "text": module.text, "summary": module.summary()},
        "reduction": info.reduction,
        "vocab_size": None if isinstance(info.vocab, IdLabels) else len(info.vocab),
        "record_every": cfg.record_every,
        "checkpoint_every": cfg.checkpoint_every,
        "horizon_epsilon": cfg.horizon_epsilon,
        "records": session.n_records,
        "batches_trained": session.batches_trained,
        "checkpoints": session.n_module_checkpoints,
        "complete": info.complete,
        "median_horizon": medians[0],
        "median_horizon_per_layer": medians,
        "environment": dict(info.environment),
        "notes": list(session.notes),
    }
