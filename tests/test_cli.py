"""The `rnnbow` command, run as a user runs it: in a subprocess, checking exit codes and messages."""

import json
import os
import re
import signal
import subprocess

import h5py
import numpy as np
import pytest

from processes import rnnbow, rnnbow_started, stop

TEXT = "for (i = 0; i < n; i++) { sum += a[i]; }\n" * 30


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "loop.c"
    path.write_text(TEXT)
    return path


def test_version():
    from rnnbow_desktop import __version__

    out = rnnbow("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"rnnbow {__version__}"


def test_train_then_info(tmp_path, corpus_file):
    out_file = tmp_path / "s.h5"
    done = rnnbow("train", corpus_file, "--batches", 30, "--hidden", 12, "--seq-len", 8, "--record-every", 3, "--out", out_file)
    assert done.returncode == 0, done.stderr
    assert "30 batches" in done.stdout and "10 records" in done.stdout
    info = rnnbow("info", out_file, "--json")
    assert info.returncode == 0
    summary = json.loads(info.stdout)
    assert summary["format_version"] == 2 and summary["cell"] == "rnn"
    assert summary["records"] == 10 and summary["batches_trained"] == 30
    assert summary["checkpoints"] == 1 and summary["corpus"]["name"] == "loop.c"
    text = rnnbow("info", out_file)
    assert text.returncode == 0 and "records       10" in text.stdout
    # The loss is per character, its unit named: the same figure where training ended and in info, which is
    # min-char-rnn's running average of the batch losses in the file (worked out here), over 8 characters.
    trained = re.search(r"loss (\d+\.\d{3}) nats/char -> ", done.stdout)
    assert trained and f"loss          {trained.group(1)} nats/char" in text.stdout
    with h5py.File(out_file, "r") as f:
        smooth = np.log(len(f["vocab"])) * 8
        for loss in f["training/loss"][:]:
            smooth = smooth * 0.999 + float(loss) * 0.001
    assert summary["smooth_loss_per_char"] == pytest.approx(smooth / 8, rel=1e-9)
    assert trained.group(1) == f"{smooth / 8:.3f}"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--hidden", "0"], "must be greater than 0"),
        (["--seq-len", "-1"], "must be greater than 0"),
        (["--seq-len", "513"], "must be at most 512, got 513"),
        (["--batches", "0"], "must be greater than 0"),
        (["--record-every", "0"], "must be greater than 0"),
        (["--checkpoint-every", "-2"], "must be 0 or more"),
        (["--lr", "0"], "positive finite"),
        (["--lr", "nan"], "positive finite"),
        (["--lr", "inf"], "positive finite"),
        (["--lr", "fast"], "expected a number"),
        (["--cell", "transformer"], "invalid choice: 'transformer' (choose from 'rnn', 'lstm', 'gru')"),
    ],
)
def test_bad_arguments_give_one_line_and_nonzero_exit(tmp_path, corpus_file, args, message):
    out = rnnbow("train", corpus_file, "--out", tmp_path / "x.h5", *args)
    assert out.returncode != 0
    assert message in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.h5").exists()


def test_existing_output_is_refused_unless_forced(tmp_path, corpus_file):
    target = tmp_path / "mine.h5"
    target.write_bytes(b"my own data")
    out = rnnbow("train", corpus_file, "--batches", 2, "--out", target)
    assert out.returncode == 1 and "already exists" in out.stderr and "--force" in out.stderr
    assert target.read_bytes() == b"my own data"
    forced = rnnbow("train", corpus_file, "--batches", 2, "--out", target, "--force")
    assert forced.returncode == 0
    with h5py.File(target, "r") as f:
        assert f.attrs["format"] == "rnnbow-session"


@pytest.mark.parametrize(
    "corpus, message",
    [("missing.txt", "no such file"), ("empty.txt", "is empty"), ("binary.dat", "binary")],
)
def test_bad_corpora(tmp_path, corpus, message):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "binary.dat").write_bytes(b"\x00\xff" * 50)
    out = rnnbow("train", tmp_path / corpus, "--out", tmp_path / "x.h5")
    assert out.returncode == 1 and message in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_output_folder_must_exist(tmp_path, corpus_file):
    out = rnnbow("train", corpus_file, "--out", tmp_path / "no" / "such" / "s.h5")
    assert out.returncode == 1 and "does not exist" in out.stderr


@pytest.mark.parametrize("environment", [
    {"PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8"},
    {},  # a clean environment: no locale, stdout block-buffered (the case that once gave exit 120)
], ids=["unbuffered", "clean"])
def test_output_into_a_closed_pipe_is_not_a_traceback(tmp_path, corpus_file, environment):
    # `rnnbow info s.h5 | head -1` on a big session: head exits before info writes.
    session = tmp_path / "s.h5"
    assert rnnbow("train", corpus_file, "--batches", 5, "--hidden", 8, "--seq-len", 8, "--out", session).returncode == 0
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will read
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/"), **environment}
    with open(write_end, "wb") as stdout:
        done = rnnbow("info", session, stdout=stdout, stderr=subprocess.PIPE, timeout=60, env=env)
    assert (done.returncode, done.stderr) == (141, "")


def test_info_on_a_non_session(tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all" * 10)
    out = rnnbow("info", junk)
    assert out.returncode == 1 and "not an RNNbow session" in out.stderr and str(junk) in out.stderr


def test_ctrl_c_leaves_a_complete_session(tmp_path, corpus_file):
    target = tmp_path / "open-ended.h5"
    with rnnbow_started("train", corpus_file, "--hidden", 12, "--out", target, writes=target, settle=1.5) as proc:
        stdout, stderr = stop(proc, signal.SIGINT, timeout=20)
    assert proc.returncode == 0, stderr
    assert "stopped:" in stdout
    info = json.loads(rnnbow("info", target, "--json").stdout)
    assert info["complete"] and info["records"] > 0 and info["records"] == info["batches_trained"]
