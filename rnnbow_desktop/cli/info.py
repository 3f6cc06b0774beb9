"""`rnnbow info`: what a session file holds, as text or JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

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
    if args.json:
        print(json.dumps(summary, indent=2))
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
