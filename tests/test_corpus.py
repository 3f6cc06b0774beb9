"""Corpora: files, folders, samples, the running Python's sources, and clear refusals."""

import subprocess
import sys
import sysconfig

import numpy as np
import pytest

from rnnbow_desktop.core.corpus import Corpus, builtin_unavailable, load_corpus
from rnnbow_desktop.core.errors import CorpusError


def test_vocabulary_is_the_sorted_set_of_characters():
    c = Corpus("x", "hello wörld")
    assert c.vocab == tuple(sorted(set("hello wörld")))
    assert c.decode(c.ids) == "hello wörld"
    assert c.ids.dtype == np.int32 and not c.ids.flags.writeable


def test_file_folder_and_names(tmp_path):
    (tmp_path / "b.txt").write_text("second file\n", encoding="utf-8")
    (tmp_path / "a.txt").write_text("first file\n", encoding="utf-8")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "c.txt").write_text("third\n", encoding="utf-8")
    (tmp_path / "image.bin").write_bytes(b"\x89PNG\x00\x00binary")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    folder = load_corpus(tmp_path)
    assert folder.text == "first file\nsecond file\nthird\n"
    assert len(folder.skipped) == 2 and any("binary" in s for s in folder.skipped)
    assert load_corpus(tmp_path / "a.txt").text == "first file\n"
    sample = load_corpus("c-like")
    assert sample.name == "c-like" and "->" in sample.text


def test_builtin_corpora_come_from_the_running_python():
    headers = load_corpus("python-c-headers")
    assert headers.source == sysconfig.get_paths()["include"]
    assert "#include" in headers.text and len(headers.text) > 100_000
    stdlib = load_corpus("python-stdlib")
    assert "def " in stdlib.text and 1_000_000 < len(stdlib.text) < 5_000_000


def test_builtin_corpora_missing_from_this_python_are_reported_not_read(tmp_path, monkeypatch):
    # As in the standalone app: the interpreter's include and stdlib folders hold no sources.
    assert builtin_unavailable("python-c-headers") is None and builtin_unavailable("python-stdlib") is None
    empty = {"include": str(tmp_path / "include"), "stdlib": str(tmp_path)}
    monkeypatch.setattr(sysconfig, "get_paths", lambda: empty)
    assert builtin_unavailable("python-c-headers") == f"not available here: this Python has no C header files in {tmp_path / 'include'}"
    assert "no standard-library sources" in builtin_unavailable("python-stdlib")
    with pytest.raises(CorpusError, match="no source files found"):
        load_corpus("python-stdlib")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_bytes(b""), "is empty"),
        (lambda p: p.write_bytes(b"\x00\x01\x02binary"), "binary"),
        (lambda p: p.write_bytes("caf\xe9 au lait".encode("latin-1")), "not UTF-8"),
        (lambda p: p.write_text("short"), "one batch needs 26"),
        (lambda p: p.write_text("a" * 100), "single character"),
    ],
)
def test_bad_files_are_refused_with_the_reason(tmp_path, make, message):
    path = tmp_path / "corpus.txt"
    make(path)
    with pytest.raises(CorpusError, match=message) as err:
        load_corpus(path, min_length=26)
    assert str(path) in str(err.value)


def test_missing_path_and_empty_folder(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        load_corpus(tmp_path / "nope.txt")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "x.bin").write_bytes(b"\x00" * 10)
    with pytest.raises(CorpusError, match="no text files"):
        load_corpus(tmp_path / "empty")


UNREADABLE_CHILD = """
import sys
from rnnbow_desktop.core.corpus import load_corpus
from rnnbow_desktop.core.errors import CorpusError
try:
    load_corpus(sys.argv[1])
except CorpusError as exc:
    print(exc)
"""


def test_unreadable_file(tmp_path, permissions_apply):
    # In a child process, which runs without root's permission override when the tests run as root.
    path = tmp_path / "secret.txt"
    path.write_text("x" * 100)
    path.chmod(0)
    done = subprocess.run([sys.executable, "-c", UNREADABLE_CHILD, path], preexec_fn=permissions_apply,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.strip() == f"{path}: permission denied"
