"""Bytes per record and headless training speed: compact records (format 2) against format 1, in the same run.

    python benchmarks/bench_file_size.py            # rnn, lstm, gru at n = 25, H = 100 (about 3 minutes)
    python benchmarks/bench_file_size.py --quick    # fewer batches and rounds

1. Bytes per record: a session trained for --batches batches (every batch recorded, no checkpoints or
   samples, so the file grows by records and batch losses only), written once with compact records
   and once as format 1 (`SessionWriter(compact=False)`); bytes per record = (file size − size of the
   same session with no batch) / records.
2. Compressors: the compact layout's columns of those records in chunks of 48 records, compressed by
   HDF5's own filters (shuffle + LZF, shuffle + deflate at levels 1, 4 and 6) and by the writer's
   encoder (shuffle + deflate of the exponent plane only, compressed_columns.py): bytes per record and
   CPU time to compress.
3. Speed: batches per second of headless training (Trainer + SessionWriter, as `rnnbow train` runs
   it) in interleaved rounds, format 1 and compact alternating, so load from other programs hits
   both alike; the ratio compact / format 1 is the figure to read (target ≥ 0.95).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # as the app does

import argparse  # noqa: E402
import io  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402

from rnnbow_desktop.core.config import TrainConfig  # noqa: E402
from rnnbow_desktop.core.corpus import load_corpus  # noqa: E402
from rnnbow_desktop.core.environment import describe_environment  # noqa: E402
from rnnbow_desktop.core.training import Trainer  # noqa: E402
from rnnbow_desktop.storage.compressed_columns import DEFLATE_LEVEL, shuffle_deflate  # noqa: E402
from rnnbow_desktop.storage.record_layout import pack_row  # noqa: E402
from rnnbow_desktop.storage.schema import COMPRESSED_FIELDS, TRIANGLE_FIELDS  # noqa: E402
from rnnbow_desktop.storage.writer import SessionWriter  # noqa: E402


def train(path: Path, config: TrainConfig, corpus, batches: int, compact: bool, keep: bool = False):
    """Train and write `batches` batches; returns (seconds, CPU seconds of all threads, records or None)."""
    trainer = Trainer(corpus, config)
    kept = [] if keep else None
    start, cpu = time.perf_counter(), time.process_time()
    with SessionWriter(path, config, corpus, force=True, compact=compact) as writer:
        for _ in range(batches):
            step = trainer.step()
            writer.add(step)
            if kept is not None:
                kept.append(step.record)
    return time.perf_counter() - start, time.process_time() - cpu, kept


def bytes_per_record(folder: Path, config: TrainConfig, corpus, batches: int):
    """{compact: bytes per record}, the records, and the share of compact chunks stored uncompressed."""
    sizes, records = {}, None
    for compact in (False, True):
        empty = folder / f"empty-{compact}.h5"
        train(empty, config, corpus, 0, compact)
        full = folder / f"full-{compact}.h5"
        _, _, kept = train(full, config, corpus, batches, compact, keep=compact)
        records = kept if compact else records
        sizes[compact] = (full.stat().st_size - empty.stat().st_size) / batches
    with h5py.File(folder / "full-True.h5", "r") as f:
        ds = f["records/itemized"]
        masks = [ds.id.get_chunk_info(i).filter_mask for i in range(ds.id.get_num_chunks())]
    return sizes, records, sum(1 for m in masks if m) / max(1, len(masks))


def compressor_table(records, chunk_rows: int = 48) -> dict:
    """Bytes per record and CPU µs per record of the compact columns under HDF5's own filters and ours."""
    columns = {}
    for name in COMPRESSED_FIELDS:
        values = [getattr(r, name) for r in records]
        if values[0] is None:
            continue
        rows = np.stack([pack_row(v) if name in TRIANGLE_FIELDS else np.asarray(v) for v in values])
        columns[name] = rows.astype(np.float32 if rows.dtype.kind == "f" else np.int64 if name == "position" else np.int32)
    out = {}
    total, start = 0, time.thread_time()
    for data in columns.values():
        for i in range(0, len(data), chunk_rows):
            total += len(shuffle_deflate(data[i : i + chunk_rows]))
    out[f"the writer's encoder, level {DEFLATE_LEVEL}"] = (total / len(records), (time.thread_time() - start) / len(records) * 1e6)
    for label, options in (("shuffle + LZF", {"compression": "lzf"}),
                           ("shuffle + deflate 1", {"compression": "gzip", "compression_opts": 1}),
                           ("shuffle + deflate 4", {"compression": "gzip", "compression_opts": 4}),
                           ("shuffle + deflate 6", {"compression": "gzip", "compression_opts": 6})):
        total, seconds = 0, 0.0
        with h5py.File(io.BytesIO(), "w") as f:
            for name, data in columns.items():
                start = time.thread_time()
                ds = f.create_dataset(name, data=data, chunks=(chunk_rows, *data.shape[1:]), maxshape=(None, *data.shape[1:]),
                                      shuffle=True, **options)
                f.flush()
                seconds += time.thread_time() - start
                total += ds.id.get_storage_size()
        out[label] = (total / len(records), seconds / len(records) * 1e6)
    return out


def speed(folder: Path, config: TrainConfig, corpus, batches: int, rounds: int):
    """Interleaved rounds; returns {compact: [(batches/s, CPU ms per batch), ...]}."""
    results = {False: [], True: []}
    for r in range(rounds):
        order = (False, True) if r % 2 == 0 else (True, False)
        for compact in order:
            seconds, cpu, _ = train(folder / f"speed-{compact}.h5", config, corpus, batches, compact)
            results[compact].append((batches / seconds, cpu / batches * 1000))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cells", default="rnn,lstm,gru")
    parser.add_argument("--batches", type=int, default=None, help="batches per file-size run (default 3000; 1000 quick)")
    parser.add_argument("--rounds", type=int, default=None, help="speed rounds per layout (default 6; 3 quick)")
    args = parser.parse_args()
    batches = args.batches or (1000 if args.quick else 3000)
    rounds = args.rounds or (3 if args.quick else 6)
    speed_batches = 800 if args.quick else 2000

    env = describe_environment()
    print(f"machine: {env.get('cpu', platform.processor())}, {env.get('cpu_count')} CPUs; "
          f"Python {platform.python_version()}, numpy {np.__version__}, h5py {h5py.__version__}, HDF5 {h5py.version.hdf5_version}")
    print(f"load average at start: {os.getloadavg()[0]:.2f}\n")
    with tempfile.TemporaryDirectory(prefix="rnnbow-size-") as tmp:
        folder = Path(tmp)
        for cell in args.cells.split(","):
            config = TrainConfig(cell=cell, checkpoint_every=0, sample_every=0)  # hidden 100, n = 25, every batch recorded
            corpus = load_corpus("c-like", min_length=config.seq_length + 1)
            sizes, records, stored = bytes_per_record(folder, config, corpus, batches)
            print(f"{cell}, n = {config.seq_length}, H = {config.hidden_size}, {batches:,} batches:")
            print(f"  bytes per record   format 1 {sizes[False]:8,.0f}   compact {sizes[True]:8,.0f}"
                  f"   ({sizes[True] / sizes[False]:.2f}×; target ≤ 2,500 for rnn)")
            print(f"    {stored:.0%} of the compact chunks were stored uncompressed (flushed before they were complete)")
            for label, (size, micros) in compressor_table(records).items():
                print(f"    compact columns with {label:<30} {size:7,.0f} B/record, {micros:6.1f} µs/record CPU")
            rates = speed(folder, config, corpus, speed_batches, rounds)
            old = np.array([r for r, _ in rates[False]])
            new = np.array([r for r, _ in rates[True]])
            ratio = new / old
            print(f"  speed ({rounds} rounds of {speed_batches:,} batches each, interleaved):")
            print(f"    format 1 {np.median(old):6.0f} batches/s   compact {np.median(new):6.0f} batches/s   "
                  f"ratio median {np.median(ratio):.3f} (rounds {', '.join(f'{x:.2f}' for x in ratio)}; target ≥ 0.95)")
            cpu_old = np.median([c for _, c in rates[False]])
            cpu_new = np.median([c for _, c in rates[True]])
            print(f"    CPU per batch: format 1 {cpu_old:.2f} ms, compact {cpu_new:.2f} ms "
                  f"({cpu_new / cpu_old:.3f}×; less sensitive to other programs' load than batches/s)\n")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
