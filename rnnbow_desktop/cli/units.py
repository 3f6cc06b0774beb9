"""`rnnbow units`: what the hidden units of a session's model track over a probe text — the best unit per feature,
gate saturation, the model against an n-gram — at one checkpoint or over all of them."""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

from .args import nonnegative_int

BUILTIN_HELP = "line_position, bracket_depth, in_quotes, in_comment, indent"


def add_parser(sub) -> None:
    units = sub.add_parser(
        "units", help="which hidden units track brackets, quotes, line position, …; gate saturation; model vs n-gram",
        description="Replay a checkpoint of the session's model over a probe text (default: about 2,000 characters "
                    "from the end of the corpus) and report, per text feature, the unit (of h, c or a gate) whose "
                    f"activation correlates best with it (Pearson r). Built-in features: {BUILTIN_HELP}.",
    )
    units.add_argument("session", type=Path, metavar="SESSION.h5")
    units.add_argument("--checkpoint", type=nonnegative_int, default=None, metavar="B",
                       help="the checkpointed batch to replay (default: the last checkpoint)")
    units.add_argument("--text", type=Path, default=None, metavar="FILE",
                       help="a UTF-8 probe text (default: the end of the session's corpus)")
    units.add_argument("--feature", action="append", default=[], metavar="NAME=REGEX",
                       help="a feature of your own: 1 inside the regular expression's matches, 0 outside (repeatable)")
    units.add_argument("--top", type=nonnegative_int, default=3, metavar="K",
                       help="units listed per feature in the table (default: 3)")
    units.add_argument("--ngram-order", type=nonnegative_int, default=9, metavar="N",
                       help="order of the n-gram baseline counted on the corpus minus the probe (default: 9; 0: none)")
    units.add_argument("--over-training", action="store_true",
                       help="the best |r| per feature at every checkpoint: when each feature's unit appeared")
    units.add_argument("--json", action="store_true", help="print one JSON object")
    units.add_argument("--csv", type=Path, default=None, metavar="FILE",
                       help="write r of every unit and feature (with --over-training: the best |r| per checkpoint) as CSV")
    units.add_argument("--out", type=Path, default=None, metavar="PICTURE.png|.svg",
                       help="draw the probe coloured by the best unit of each feature")
    units.add_argument("--rows", type=nonnegative_int, default=10, help="text rows per feature in --out (default: 10)")
    units.add_argument("--force", action="store_true", help="overwrite existing --csv and --out files")
    units.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..analysis.probe import read_probe_file
    from ..analysis.text_features import parse_feature_spec
    from ..api.session import OpenSession
    from ..api.units import last_checkpoint, probe_text
    from ..core.errors import ConfigError
    from ..storage.paths import check_image_path

    features = dict(parse_feature_spec(spec) for spec in args.feature)
    if len(features) != len(args.feature):
        raise ConfigError("two --feature options have the same name")
    if args.over_training and args.out is not None:
        raise ConfigError("--out draws one checkpoint; leave out --over-training, or choose it with --checkpoint")
    if args.over_training and args.checkpoint is not None:
        raise ConfigError("--over-training covers every checkpoint; leave out --checkpoint")
    if args.out is not None:
        check_image_path(args.out, overwrite=args.force)
    if args.csv is not None:
        _check_csv_path(args.csv, args.force)
    text = None if args.text is None else read_probe_file(args.text)
    with OpenSession(args.session) as session:
        probe = probe_text(session, text)
        source = "the end of the corpus" if text is None else str(args.text)
        if args.over_training:
            return _over_training(session, probe, source, features, args)
        checkpoint = last_checkpoint(session) if args.checkpoint is None else args.checkpoint
        if checkpoint not in session.checkpoints:
            near = ", ".join(f"{b:,}" for b in _nearest(session.checkpoints, checkpoint))
            raise ConfigError(f"no checkpoint at batch {checkpoint:,}; nearest checkpoints: {near}")
        return _one_checkpoint(session, probe, source, checkpoint, features, args)


def _one_checkpoint(session, probe, source, checkpoint, features, args) -> int:
    from ..api.units import checkpoint_report, probe_ngram

    ngram = probe_ngram(session, probe, args.ngram_order) if args.ngram_order else None
    report = checkpoint_report(session, probe, checkpoint, features, ngram)
    if args.csv is not None:
        _write_unit_csv(args.csv, report)
    if args.out is not None:
        from ..gui.units.render import render_unit_picture

        render_unit_picture(report, args.out, rows=max(1, args.rows),
                            title=f"{session.path.name}: {session.cell}, hidden {session.settings.hidden_size}, "
                                  f"checkpoint {checkpoint:,}")
    if args.json:
        print(json.dumps(_report_json(report, source, ngram), indent=2))
    else:
        print("\n".join(_report_lines(session, report, source, ngram, args.top)))
    if args.out is not None and not args.json:
        print(f"wrote {args.out}")
    return 0


def _over_training(session, probe, source, features, args) -> int:
    from ..analysis.unit_finder import first_appearance
    from ..api.units import over_training
    from .progress import Progress

    bar = Progress(len(session.checkpoints), "replaying checkpoints", enabled=not args.json)
    try:
        curve = over_training(session, probe, features,
                              progress=lambda fraction, text: bar.update(round(fraction * len(session.checkpoints)), text))
    finally:
        bar.close()
    appeared = {name: first_appearance(curve, name) for name in curve.features}
    if args.csv is not None:
        with _open_csv(args.csv) as out:
            writer = csv.writer(out)
            writer.writerow(["batch", "feature", "best_abs_r", "state", "unit"])
            for c, batch in enumerate(curve.batches):
                for f, name in enumerate(curve.features):
                    writer.writerow([int(batch), name, f"{curve.best_abs_r[c, f]:.6f}",
                                     curve.states[curve.best_state[c, f]], int(curve.best_unit[c, f])])
    if args.json:
        print(json.dumps({
            "checkpoints": [int(b) for b in curve.batches],
            "text": {"source": source, "characters": len(probe)},
            "features": [
                {
                    "name": name,
                    "best_abs_r": [round(float(v), 4) for v in curve.best_abs_r[:, f]],
                    "state": [curve.states[s] for s in curve.best_state[:, f]],
                    "unit": [int(u) for u in curve.best_unit[:, f]],
                    "appeared": None if appeared[name] is None else appeared[name].batch,
                }
                for f, name in enumerate(curve.features)
            ],
        }, indent=2))
        return 0
    width = max(len(name) for name in curve.features)
    lines = [f"{session.path.name} ({session.cell}, hidden {session.settings.hidden_size}): best |r| per feature "
             f"at each checkpoint, over {len(probe):,} characters of {source}",
             f"  {'batch':>9}  " + "  ".join(f"{name:>{max(6, len(name))}}" for name in curve.features)]
    for c, batch in enumerate(curve.batches):
        lines.append(f"  {int(batch):>9,}  " + "  ".join(
            f"{curve.best_abs_r[c, f]:>{max(6, len(name))}.2f}" for f, name in enumerate(curve.features)))
    lines.append("appeared (best |r| half-way from its first to its last value):")
    for f, name in enumerate(curve.features):
        found = appeared[name]
        where = f"{curve.states[curve.best_state[-1, f]]} unit {int(curve.best_unit[-1, f])}"
        if found is None:
            lines.append(f"  {name:<{width}}  never (|r| {curve.best_abs_r[0, f]:.2f} → {curve.best_abs_r[-1, f]:.2f})")
        else:
            lines.append(f"  {name:<{width}}  at batch {found.batch:,} (|r| {found.initial:.2f} → {found.final:.2f}, "
                         f"last best: {where})")
    print("\n".join(lines))
    return 0


# -- output ---------------------------------------------------------------------------------------------

def _number(value: float, digits: int = 4):
    """A float for JSON: rounded, None for NaN (JSON has no NaN)."""
    return None if not math.isfinite(value) else round(float(value), digits)


def _report_json(report, source: str, ngram) -> dict:
    out = {
        "checkpoint": report.checkpoint,
        "text": {"source": source, "characters": len(report.text)},
        # A feature constant over the text (no strings in it, say) explains nothing: r = 0 for every unit.
        "features": [{"name": m.feature, "unit": m.unit, "state": m.state, "r": _number(m.r),
                      "constant": report.is_constant(m.feature)} for m in report.best],
        "saturation": {
            gate: {"left": [_number(v) for v in s.left], "right": [_number(v) for v in s.right]}
            for gate, s in report.saturation.items()
        },
        "ngram": None,
    }
    if report.memory is not None:
        overall = report.memory.overall
        out["ngram"] = {
            "order": report.ngram_order,
            "model_loss": _number(overall.model_loss),
            "ngram_loss": _number(overall.ngram_loss),
            "held_out": ngram.held_out,
            "classes": [{"name": c.name, "count": c.count, "model_loss": _number(c.model_loss),
                         "ngram_loss": _number(c.ngram_loss)} for c in report.memory.classes],
        }
    return out


def _report_lines(session, report, source: str, ngram, top: int) -> list[str]:
    from ..analysis.unit_finder import best_units

    r = report.correlations
    lines = [f"{session.path.name} ({session.cell}, hidden {session.settings.hidden_size}) at checkpoint "
             f"{report.checkpoint:,}: {len(report.text):,} characters of {source}"]
    width = max(len(name) for name in r.features)
    lines.append(f"best units per feature (Pearson r of a unit's activation with the feature; states: {', '.join(r.states)})")
    for name in r.features:
        if report.is_constant(name):
            lines.append(f"  {name:<{width}}  constant over this text: nothing to correlate with")
            continue
        matches = best_units(r, top=max(1, top), feature=name)
        best, others = matches[0], matches[1:]
        rest = ", ".join(f"{m.state} {m.unit} ({m.r:+.2f})" for m in others)
        lines.append(f"  {name:<{width}}  {best.state:>6} unit {best.unit:<4}  r {best.r:+.2f}" + (f"   then {rest}" if rest else ""))
    if report.saturation:
        lines.append("gate saturation (fraction of characters with the gate < 0.1 / > 0.9; mean over units, "
                     "and units saturated more than half the time):")
        for gate, s in report.saturation.items():
            lines.append(f"  {gate:<8}  left {s.left.mean():.2f}  right {s.right.mean():.2f}   "
                         f"mostly shut {int((s.left > 0.5).sum())}, mostly open {int((s.right > 0.5).sum())} "
                         f"of {len(s.left)} units")
    if report.memory is not None:
        overall = report.memory.overall
        held = "held out of its counts" if ngram.held_out else "the probe is the whole corpus, so the n-gram has seen it"
        lines.append(f"model vs {report.ngram_order}-gram over the probe ({held}): {overall.model_loss:.3f} vs "
                     f"{overall.ngram_loss:.3f} nats per character ({overall.gain:+.3f})")
        lines.append("  by the class of the predicted character (negative: the model's memory beats the n-gram):")
        for c in report.memory.classes:
            if c.count:
                lines.append(f"    {c.name:<17} {c.count:>6,}  {c.model_loss:6.3f} vs {c.ngram_loss:6.3f}  ({c.gain:+.3f})")
    return lines


def _write_unit_csv(path: Path, report) -> None:
    r = report.correlations
    with _open_csv(path) as out:
        writer = csv.writer(out)
        writer.writerow(["state", "unit", *r.features])
        for s, state in enumerate(r.states):
            for u in range(r.r.shape[1]):
                writer.writerow([state, u, *(f"{v:.6f}" for v in r.r[s, u])])


# -- inputs -----------------------------------------------------------------------------------------------

def _check_csv_path(path: Path, force: bool) -> None:
    from ..core.errors import ConfigError

    if path.exists() and not force:
        raise ConfigError(f"{path}: already exists (use --force to overwrite it)")
    if not path.parent.is_dir():
        raise ConfigError(f"{path}: folder {path.parent} does not exist")


def _open_csv(path: Path):
    from ..core.errors import ConfigError

    try:
        return open(path, "w", newline="", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be written ({exc.strerror or exc})") from None


def _nearest(batches, batch: int, count: int = 2) -> list[int]:
    return sorted(sorted(batches, key=lambda b: (abs(b - batch), b))[:count])

