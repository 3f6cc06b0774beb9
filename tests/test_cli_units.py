"""`rnnbow units`: the best unit per feature, saturation and the n-gram comparison, checked against the same
quantities computed here from the public API and the analysis functions; its files and its one-line errors."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest

import rnnbow_desktop as rb
from processes import rnnbow
from rnnbow_desktop.analysis.ngram import train_ngram
from rnnbow_desktop.analysis.probe import default_probe
from rnnbow_desktop.analysis.replay import encode
from rnnbow_desktop.analysis.text_features import text_features
from rnnbow_desktop.cli import main
from rnnbow_desktop.core.corpus import Corpus

LINES = ["if (a[i] > 'x') { b = \"s\"; } // note\n", "    while (c) { d[(e)] = f; }\n", "x = (y + z[0]);\n",
         "# a comment (with brackets)\n", "  return {a, [b, c]};\n"]
# About 4,000 characters in a random order, so the default probe (its last ~2,000) occurs once in the corpus.
TEXT = "".join(LINES[k] for k in np.random.default_rng(0).integers(0, len(LINES), 170))


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    folder = tmp_path_factory.mktemp("units")
    paths = {}
    for cell in ("lstm", "rnn"):
        paths[cell] = rb.train(Corpus("code.c", TEXT), folder / f"{cell}.h5", batches=60, cell=cell, hidden_size=10,
                               seq_length=12, record_every=5, checkpoint_every=20, sample_every=0)
    return paths


def units(capsys, *argv):
    code = main(["units", *map(str, argv)])
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def test_json_names_the_unit_with_the_largest_r_for_every_feature(sessions, capsys):
    report = json.loads(units(capsys, sessions["lstm"], "--checkpoint", 20, "--feature", "digit_or_x=[x0-9]", "--json"))
    assert set(report) == {"checkpoint", "text", "features", "saturation", "ngram"}
    assert report["checkpoint"] == 20
    with rb.open_session(sessions["lstm"]) as s:
        probe = default_probe(s.corpus_text())
        replayed = s.replay(probe, 20)
    assert report["text"] == {"source": "the end of the corpus", "characters": len(probe)}
    # Independently: np.corrcoef of every column of every state with every feature.
    states = {"h": replayed.h, "c": replayed.c, **replayed.gates}
    features = text_features(probe, {"digit_or_x": "[x0-9]"})
    assert [f["name"] for f in report["features"]] == list(features)
    for entry in report["features"]:
        feature = features[entry["name"]]
        best = max(((abs(np.corrcoef(values[:, u], feature)[0, 1]), name, u)
                    for name, values in states.items() for u in range(values.shape[1])), key=lambda x: x[0])
        assert abs(entry["r"]) == pytest.approx(best[0], abs=1e-4)
        column = states[entry["state"]][:, entry["unit"]]
        assert entry["r"] == pytest.approx(np.corrcoef(column, feature)[0, 1], abs=1e-4)
        assert entry["constant"] is False


def test_saturation_and_ngram_entries(sessions, capsys):
    report = json.loads(units(capsys, sessions["lstm"], "--json", "--ngram-order", 4))
    assert report["checkpoint"] == 40  # the last checkpoint
    assert set(report["saturation"]) == {"input", "forget", "output"}  # sigmoid gates only
    with rb.open_session(sessions["lstm"]) as s:
        probe = default_probe(s.corpus_text())
        replayed = s.replay(probe, 40)
        corpus, vocab = s.corpus_text(), s.vocab
    forget = replayed.gates["forget"]
    assert report["saturation"]["forget"]["left"] == pytest.approx(list((forget < 0.1).mean(axis=0)), abs=1e-4)
    assert report["saturation"]["forget"]["right"] == pytest.approx(list((forget > 0.9).mean(axis=0)), abs=1e-4)
    ngram = report["ngram"]
    assert ngram["order"] == 4 and ngram["held_out"] is True
    assert ngram["model_loss"] == pytest.approx(float(np.nanmean(replayed.loss)), abs=1e-4)
    # The n-gram counted the corpus minus the probe (here its tail).
    assert corpus.endswith(probe)
    counted = train_ngram(encode(corpus[: -len(probe)], vocab), len(vocab), 4)
    assert ngram["ngram_loss"] == pytest.approx(float(np.nanmean(counted.loss(encode(probe, vocab)))), abs=1e-4)
    assert sum(c["count"] for c in ngram["classes"]) == len(probe) - 1


def test_a_vanilla_rnn_has_no_gates_to_saturate(sessions, capsys):
    report = json.loads(units(capsys, sessions["rnn"], "--json", "--ngram-order", 0))
    assert report["saturation"] == {} and report["ngram"] is None
    assert {f["state"] for f in report["features"]} == {"h"}


def test_table_csv_and_text_file(sessions, capsys, tmp_path):
    probe = tmp_path / "probe.c"
    probe.write_text("while (a) { b[(c)] = 'x'; } // d\n" * 5)
    table = tmp_path / "r.csv"
    out = units(capsys, sessions["lstm"], "--text", probe, "--csv", table, "--ngram-order", 3)
    assert f"40: 165 characters of {probe}" in out
    assert re.search(r"bracket_depth +\S+ unit \d+ +r [+-]0\.\d\d", out)
    assert "model vs 3-gram" in out and "closing_brackets" in out
    with table.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["state", "unit", "line_position", "bracket_depth", "in_quotes", "in_comment", "indent"]
    assert len(rows) == 1 + 6 * 10  # h, c and four gates, 10 units each
    with rb.open_session(sessions["lstm"]) as s:
        replayed = s.replay(probe.read_text())
    row = next(r for r in rows if r[:2] == ["c", "3"])
    expected = np.corrcoef(replayed.c[:, 3], text_features(probe.read_text())["bracket_depth"])[0, 1]
    assert float(row[3]) == pytest.approx(expected, abs=1e-6)


def test_over_training_gives_the_best_r_at_every_checkpoint(sessions, capsys):
    curve = json.loads(units(capsys, sessions["lstm"], "--over-training", "--json"))
    assert curve["checkpoints"] == [0, 20, 40]
    bracket = next(f for f in curve["features"] if f["name"] == "bracket_depth")
    with rb.open_session(sessions["lstm"]) as s:
        probe = default_probe(s.corpus_text())
        depth = text_features(probe)["bracket_depth"]
        for c, batch in enumerate(curve["checkpoints"]):
            replayed = s.replay(probe, batch)
            states = {"h": replayed.h, "c": replayed.c, **replayed.gates}
            best = max(abs(np.corrcoef(v[:, u], depth)[0, 1]) for v in states.values() for u in range(10))
            assert bracket["best_abs_r"][c] == pytest.approx(best, abs=1e-4)
    table = units(capsys, sessions["lstm"], "--over-training")
    assert "best |r| per feature at each checkpoint" in table and "appeared" in table


def test_out_draws_the_picture(sessions, tmp_path):
    png, svg = tmp_path / "units.png", tmp_path / "units.svg"
    done = rnnbow("units", sessions["lstm"], "--out", png, "--ngram-order", 0)
    assert done.returncode == 0, done.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"wrote {png}" in done.stdout
    done = rnnbow("units", sessions["lstm"], "--out", svg, "--ngram-order", 0, "--rows", 4)
    assert done.returncode == 0, done.stderr
    assert "<svg" in svg.read_text()[:2000] and "bracket_depth" in svg.read_text()
    again = rnnbow("units", sessions["lstm"], "--out", png)
    assert again.returncode == 1 and again.stderr.strip() == f"rnnbow: {png}: already exists (use --force to overwrite it)"


@pytest.mark.parametrize("argv, message", [
    (["--checkpoint", "30"], "no checkpoint at batch 30; nearest checkpoints: 20, 40"),
    (["--feature", "bad=("], "feature 'bad': bad regular expression '(': missing ), unterminated subpattern at position 0"),
    (["--feature", "novalue"], "feature 'novalue' is not NAME=REGEX"),
    (["--over-training", "--out", "x.png"], "--out draws one checkpoint; leave out --over-training, or choose it with --checkpoint"),
])
def test_mistakes_are_one_line(sessions, capsys, argv, message):
    assert main(["units", str(sessions["lstm"]), *argv]) == 1
    assert capsys.readouterr().err.strip() == f"rnnbow: {message}"


def test_text_outside_the_vocabulary_is_named(sessions, capsys, tmp_path):
    probe = tmp_path / "p.txt"
    probe.write_text("a @ Q€")
    assert main(["units", str(sessions["lstm"]), "--text", str(probe)]) == 1
    assert capsys.readouterr().err.strip() == "rnnbow: text has characters outside the session's vocabulary: '@', 'Q', '€'"


@pytest.mark.parametrize("name, make, message", [
    ("missing.txt", lambda p: None, "no such file"),
    ("empty.txt", lambda p: p.write_bytes(b""), "is empty"),
    ("binary.dat", lambda p: p.write_bytes(b"\x00\x01binary"), "is a binary file, not text"),
    ("latin1.txt", lambda p: p.write_bytes("caf\xe9".encode("latin-1")),
     "is not UTF-8 text (invalid byte 0xe9 at offset 3); convert it to UTF-8 first"),
])
def test_a_probe_file_that_cannot_be_used_is_named_in_one_line(sessions, capsys, tmp_path, name, make, message):
    make(tmp_path / name)
    assert main(["units", str(sessions["lstm"]), "--text", str(tmp_path / name)]) == 1
    assert capsys.readouterr().err.strip() == f"rnnbow: {tmp_path / name}: {message}"
