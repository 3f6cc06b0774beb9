"""examples/record_torch_lstm.py runs end to end: a few seconds of training leave a session the reader opens."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from processes import run

pytest.importorskip("torch")

from rnnbow_desktop.storage.reader import Session  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "record_torch_lstm.py"


@pytest.mark.slow
def test_the_word_level_example_records_a_session(tmp_path):
    out = tmp_path / "run.h5"
    done = run([sys.executable, EXAMPLE, "--seconds", 3, "--every", 2, "--out", out, "--no-gui"], timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"rnnbow gui {out}" in done.stdout
    with Session(out) as s:
        assert s.info.complete and s.info.source == "torch" and s.info.layers == 2
        assert s.n_records >= 1 and s.batches_trained >= s.n_records
        record = s.record(0, layer=1)
        words = [s.info.vocab[t] for t in record.targets]
        assert any(len(word) > 1 for word in words)  # word tokens, not characters
        assert s.decode(record.inputs[1:]) == s.decode(record.targets[:-1])  # targets are the next tokens
