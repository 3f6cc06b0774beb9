"""Corpora: files, folders, samples, the running Python's sources, and clear refusals."""

import sysconfig
from pathlib import Path

import numpy as np
import pytest

from processes import python
from rnnbow_desktop.core.corpus import (
    Corpus, Skipped, builtin_unavailable, load_corpus, read_text_file, summarize_skipped,
)
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
    assert len(folder.skipped) == 2 and any("binary" in str(s) for s in folder.skipped)
    assert load_corpus(tmp_path / "a.txt").text == "first file\n"
    sample = load_corpus("c-like")
    assert sample.name == "c-like" and "->" in sample.text


def test_hidden_files_and_folders_are_left_out_and_reported(tmp_path):
    # Issue 13: a 29-character file in a git repository became a 24,267-character corpus (.git was read).
    repo = tmp_path / "repo"
    (repo / ".git" / "objects").mkdir(parents=True)
    (repo / ".git" / "config").write_text("[core]\n\tbare = false\n" * 500)
    (repo / ".git" / "objects" / "pack.txt").write_text("x" * 5000)
    (repo / ".env").write_text("TOKEN=1\n")
    (repo / "src" / ".cache").mkdir(parents=True)
    (repo / "src" / ".cache" / "old.c").write_text("stale\n")
    (repo / "src" / "util.c").write_text("int twice(int x) { return 2 * x; }\n")
    (repo / "main.c").write_text("int main(void) { return 0; }\n")
    (repo / "logo.bin").write_bytes(b"\x89PNG\x00\x00")
    corpus = load_corpus(repo)
    assert len("int main(void) { return 0; }\n") == 29
    assert corpus.text == "int main(void) { return 0; }\nint twice(int x) { return 2 * x; }\n"
    assert [(Path(s.path).relative_to(repo).as_posix(), s.kind) for s in corpus.skipped] == [
        (".env", "hidden file"), (".git", "hidden folder"), ("logo.bin", "unreadable file"),
        ("src/.cache", "hidden folder")]
    # What the CLI prints after "rnnbow: skipped ": the path and why.
    assert [str(s) for s in corpus.skipped] == [
        f"{repo / '.env'}: is a hidden file", f"{repo / '.git'}: is a hidden folder",
        f"{repo / 'logo.bin'}: is a binary file, not text", f"{repo / 'src' / '.cache'}: is a hidden folder"]
    # What the corpus picker shows.
    assert corpus.skipped_summary() == \
        "skipped 2 hidden folders (.cache, .git), 1 hidden file (.env) and 1 unreadable file (logo.bin)"


def test_a_hidden_folder_chosen_as_the_corpus_is_read(tmp_path):
    folder = tmp_path / ".notes"
    folder.mkdir()
    (folder / "a.txt").write_text("kept as chosen\n")
    corpus = load_corpus(folder)
    assert corpus.text == "kept as chosen\n" and corpus.skipped == () and corpus.skipped_summary() == ""


def test_the_summary_of_what_was_skipped_stays_one_short_line():
    many = [Skipped(f"/r/.d{i}", "hidden folder", "") for i in range(5)]
    assert summarize_skipped(many) == "skipped 5 hidden folders (.d0, .d1, .d2, …)"
    assert summarize_skipped([Skipped("/r/x.bin", "unreadable file", "")]) == "skipped 1 unreadable file (x.bin)"
    assert summarize_skipped([]) == ""


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


def test_one_text_file_reader_for_corpora_and_probe_texts(tmp_path):
    # A probe file (rnnbow units/dynamics --text, the Units view) is read as a corpus file is: it says
    # "no such file" itself, since the probe's callers do not check that the path exists first.
    path = tmp_path / "probe.txt"
    with pytest.raises(CorpusError) as err:
        read_text_file(path)
    assert str(err.value) == f"{path}: no such file"
    with pytest.raises(CorpusError) as err:
        read_text_file(tmp_path)
    assert str(err.value) == f"{tmp_path}: is a folder"
    path.write_bytes("\ufeffwhile (x) {}\n".encode("utf-8"))
    assert read_text_file(path) == "while (x) {}\n"  # the byte-order mark is not text


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
    done = python(UNREADABLE_CHILD, path, preexec_fn=permissions_apply)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.strip() == f"{path}: permission denied"


UNLISTABLE_CHILD = """
import sys
from rnnbow_desktop.core.corpus import load_corpus
corpus = load_corpus(sys.argv[1])
print(repr(corpus.text))
print(corpus.skipped_summary())
print(corpus.skipped[0])
"""


def test_a_subfolder_that_cannot_be_listed_is_skipped_and_reported(tmp_path, permissions_apply):
    (tmp_path / "a.txt").write_text("readable text\n")
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "b.txt").write_text("never read\n")
    locked.chmod(0)
    try:
        done = python(UNLISTABLE_CHILD, tmp_path, preexec_fn=permissions_apply)
    finally:
        locked.chmod(0o755)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.splitlines() == ["'readable text\\n'", "skipped 1 unreadable folder (locked)",
                                        f"{locked}: cannot be listed (Permission denied)"]
