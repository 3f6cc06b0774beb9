"""`rnnbow info`: what a session file holds, as text or JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..analysis.smoothing import session_smooth_loss
from ..core.loss_smoothing import loss_text, per_character
from .args import PROG


def add_parser(sub) -> None:
    info = sub.add_parser("info", help="summarize a session file")
    info.add_argument("session", type=Path, metavar="SESSION.h5")
    info.add_argument("--json", action="store_true", help="print a JSON object")
    info.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..storage.reader import Session

    with Session(args.session) as session:
        summary = session.summary()
        if session.info.has_model and session.batches_trained:
            cfg = session.info.config
            smooth = session_smooth_loss(len(session.info.vocab), cfg.seq_length, session.training_loss())
            summary["smooth_loss_per_char"] = per_character(smooth, cfg.seq_length)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    if summary.get("source") == "torch":
        print("\n".join(module_lines(summary)))
        return 0
    c = summary["corpus"]
    lines = [
        f"{summary['path']} ({summary['cell']})",
        f"  format        rnnbow-session v{summary['format_version']} (written by {PROG} {summary['app_version']})"
        + ("" if summary["complete"] else "  [incomplete: still being written, or interrupted]"),
        f"  cell          {summary['cell']}, hidden {summary['hidden_size']}, sequence length {summary['seq_length']}, lr {summary['learning_rate']}, seed {summary['seed']}",
        f"  corpus        {c['name']}: {c['characters']:,} characters, vocabulary {c['vocab_size']}, sha256 {c['sha256'][:12]}…",
        f"  trained       {summary['batches_trained']:,} batches",
        f"  records       {summary['records']:,} (every {summary['record_every']} batch{'es' if summary['record_every'] > 1 else ''})",
        f"  checkpoints   {summary['checkpoints']:,}",
        f"  samples       {summary['samples']:,}",
    ]
    if summary.get("smooth_loss_per_char") is not None:
        lines.append(f"  loss          {loss_text(summary['smooth_loss_per_char'])} (the smooth loss after the last batch)")
    if summary["median_horizon"] is not None:
        lines.append(f"  horizon       median {summary['median_horizon']:g} steps (ε = {summary['horizon_epsilon']})")
    env = summary.get("environment") or {}
    if env:
        machine = ", ".join(str(env[k]) for k in ("cpu", "os") if env.get(k))
        libraries = ", ".join(f"{k} {env[k]}" for k in ("python", "numpy", "blas") if env.get(k))
        lines.append(f"  trained on    {machine}" + (f" ({libraries})" if libraries else ""))
    lines += [f"  note          {note}" for note in summary["notes"]]
    print("\n".join(lines))
    return 0


def module_lines(summary: dict) -> list[str]:
    """`rnnbow info` of a session recorded from a PyTorch module: the module instead of a corpus and settings."""
    module = summary["module"]
    vocab = summary["vocab_size"]
    lines = [
        f"{summary['path']} ({module['summary'].split(',')[0]})",
        f"  format        rnnbow-session v{summary['format_version']} (recorded by {PROG} {summary['app_version']} "
        "from a PyTorch model)" + ("" if summary["complete"] else "  [incomplete: still being written, or interrupted]"),
        f"  module        {module['text']}",
        f"                {module['summary'].removeprefix('torch ')}, batch_first={module['batch_first']}",
        f"  sequences     length {summary['seq_length']}, losses reduced over the batch by {summary['reduction']}",
        f"  labels        " + (f"a vocabulary of {vocab:,} tokens" if vocab else "token ids (no vocabulary given)"),
        f"  trained       {summary['batches_trained']:,} batches",
        f"  records       {summary['records']:,} (every {summary['record_every']} batch"
        f"{'es' if summary['record_every'] > 1 else ''}), each with all {summary['layers']} layers",
        f"  checkpoints   {summary['checkpoints']:,} of the module's state_dict",
    ]
    medians = summary["median_horizon_per_layer"]
    if medians and medians[0] is not None:
        per_layer = ", ".join(f"layer {k}: {m:g}" for k, m in enumerate(medians))
        lines.append(f"  horizon       median {per_layer} steps (ε = {summary['horizon_epsilon']})")
    env = summary.get("environment") or {}
    if env:
        machine = ", ".join(str(env[k]) for k in ("gpu", "cpu", "os") if env.get(k))
        libraries = ", ".join(f"{k} {env[k]}" for k in ("python", "torch", "numpy") if env.get(k))
        lines.append(f"  trained on    {machine}" + (f" ({libraries})" if libraries else ""))
    lines += [f"  note          {note}" for note in summary["notes"]]
    return lines
