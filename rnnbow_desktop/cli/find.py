"""`rnnbow find`: the batches of a session worth a look — spikes, plateaus that end, horizon shifts, conflicts,
corpus changes — best first."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..analysis.findings import KINDS
from .args import positive_int

KIND_NAMES = tuple(name for name, _label in KINDS)


def add_parser(sub) -> None:
    find = sub.add_parser(
        "find", help="list the batches worth a look: spikes, plateaus ending, horizon shifts, conflicts, corpus changes",
        description="Rank a session's interesting batches. Each finding compares a batch with the run before it "
                    "(a robust score against a trailing window), not with a global threshold.",
    )
    find.add_argument("session", type=Path, metavar="SESSION.h5")
    find.add_argument("--kind", action="append", choices=KIND_NAMES, default=None,
                      help="only this kind (repeat for several; default: all)")
    find.add_argument("--top", type=positive_int, default=20, help="at most N findings (default: 20)")
    find.add_argument("--window", type=positive_int, default=2000,
                      help="trailing window in records (default: 2000; short runs use half their length)")
    find.add_argument("--json", action="store_true", help='print one JSON array of {"batch", "kind", "score", "reason"}')
    find.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..analysis.findings import find_interesting
    from ..storage.reader import Session
    from ..storage.run_series import read_run_series

    with Session(args.session) as session:
        series = read_run_series(session)
    findings = find_interesting(series, kinds=args.kind, top=args.top, window=args.window) if len(series) else []
    if args.json:
        print(json.dumps([{"batch": f.batch, "kind": f.kind, "score": round(f.score, 3), "reason": f.reason}
                          for f in findings], indent=2))
        return 0
    if not findings:
        print(f"{args.session}: nothing stands out in {len(series):,} records")
        return 0
    labels = dict(KINDS)
    width = max(len(labels[f.kind]) for f in findings)
    print(f"{args.session}: {len(findings)} finding{'s' if len(findings) != 1 else ''} in {len(series):,} records, best first")
    for f in findings:
        print(f"  batch {f.batch:>9,}  {labels[f.kind]:<{width}}  score {f.score:6.1f}  {f.reason}")
    return 0
