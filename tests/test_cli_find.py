"""`rnnbow find` on real sessions: a corpus that changes halfway is pointed at; a steady run gives few findings."""

from __future__ import annotations

import json
import random

import pytest

from processes import rnnbow


@pytest.fixture(scope="module")
def switching_session(tmp_path_factory):
    folder = tmp_path_factory.mktemp("find")
    rng = random.Random(0)
    digits = "".join(rng.choice("0123456789 ") for _ in range(1500))
    letters = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(1500))
    corpus = folder / "switch.txt"
    corpus.write_text(digits + letters)
    out = folder / "switch.h5"
    done = rnnbow("train", corpus, "--batches", 480, "--hidden", 8, "--seq-len", 25, "--sample-every", 0,
                  "--quiet", "--out", out, timeout=300)
    assert done.returncode == 0, done.stderr
    return out


def test_find_points_at_the_corpus_change(switching_session):
    done = rnnbow("find", switching_session, "--json")
    assert done.returncode == 0, done.stderr
    findings = json.loads(done.stdout)
    assert all(set(f) == {"batch", "kind", "score", "reason"} for f in findings)
    assert [f["score"] for f in findings] == sorted((f["score"] for f in findings), reverse=True)
    changes = [f for f in findings if f["kind"] == "corpus_change"]
    assert len(changes) == 1
    # Batch 59 is the first whose targets (positions 1 … 25 past 59 × 25 = 1,475) reach the letters at 1,500.
    assert changes[0]["batch"] == 59 and "1,500" in changes[0]["reason"]


def test_find_kind_filter_and_table(switching_session):
    done = rnnbow("find", switching_session, "--kind", "corpus_change")
    assert done.returncode == 0
    assert "corpus changes" in done.stdout and "batch        59" in done.stdout
    only = json.loads(rnnbow("find", switching_session, "--kind", "horizon_shift", "--json").stdout)
    assert all(f["kind"] == "horizon_shift" for f in only)


def test_find_on_a_bad_file_is_one_line(tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_text("nope")
    done = rnnbow("find", junk)
    assert done.returncode == 1 and done.stderr.strip() == f"rnnbow: {junk}: not an RNNbow session (not an HDF5 file)"
