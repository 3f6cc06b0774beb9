"""Corpora: read text from a file, a folder, a bundled sample or the running Python, and tokenize it."""

from __future__ import annotations

import hashlib
import os
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import CorpusError, why_unreadable

# A file whose first bytes contain NUL is binary; text files essentially never do.
_SNIFF_BYTES = 8192
# The standard library is ~40 MB of Python; a few MB is plenty to train on and keeps sessions small.
STDLIB_LIMIT_BYTES = 4_000_000

BUILTIN_CORPORA = {
    "python-c-headers": "C header files of the running Python (real C code, like the paper's Linux kernel)",
    "python-stdlib": "Python sources of the running Python's standard library (first 4 MB, sorted by path)",
}


# What a folder corpus leaves out, in the order a summary names them. Hidden folders (.git, .venv)
# hold tooling state, not the user's text: a 29-character file in a git repository once became a
# 24,267-character corpus because .git was read.
HIDDEN_FOLDER, HIDDEN_FILE, UNREADABLE_FILE, UNREADABLE_FOLDER = (
    "hidden folder", "hidden file", "unreadable file", "unreadable folder")
SKIP_KINDS = (HIDDEN_FOLDER, HIDDEN_FILE, UNREADABLE_FILE, UNREADABLE_FOLDER)


@dataclass(frozen=True)
class Skipped:
    """A file or folder below a folder corpus that was left out: `kind` is one of SKIP_KINDS."""

    path: str
    kind: str
    message: str  # one line naming the path and saying why, as the CLI prints it

    def __str__(self) -> str:
        return self.message


def summarize_skipped(skipped: Sequence[Skipped]) -> str:
    """One short line: 'skipped 2 hidden folders (.git, .venv) and 1 unreadable file (logo.png)'; '' if none."""
    parts = []
    for kind in SKIP_KINDS:
        names = sorted({Path(s.path).name for s in skipped if s.kind == kind})
        count = sum(s.kind == kind for s in skipped)
        if count:
            shown = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
            parts.append(f"{count} {kind}{'s' if count > 1 else ''} ({shown})")
    if not parts:
        return ""
    return "skipped " + (parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1])


@dataclass(frozen=True)
class Corpus:
    """A tokenized text: vocabulary = sorted set of its characters, ids index into it."""

    name: str
    text: str
    source: str = ""
    skipped: tuple[Skipped, ...] = ()  # what a folder corpus left out, and why
    vocab: tuple[str, ...] = field(init=False)
    ids: np.ndarray = field(init=False, repr=False)  # (len(text),) int32, read-only

    def __post_init__(self):
        vocab = tuple(sorted(set(self.text)))
        lookup = np.full(max(map(ord, vocab), default=0) + 1, -1, dtype=np.int32)
        lookup[[ord(c) for c in vocab]] = np.arange(len(vocab), dtype=np.int32)
        codes = np.frombuffer(self.text.encode("utf-32-le"), dtype=np.uint32)
        ids = lookup[codes]
        ids.flags.writeable = False
        object.__setattr__(self, "vocab", vocab)
        object.__setattr__(self, "ids", ids)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def decode(self, ids) -> str:
        return "".join(self.vocab[i] for i in ids)

    def skipped_summary(self) -> str:
        """What a folder corpus left out, in one short line ('' if nothing)."""
        return summarize_skipped(self.skipped)

    @classmethod
    def from_ids(cls, name: str, vocab, ids, source: str = "") -> "Corpus":
        """Rebuild a corpus stored in a session (vocab as characters, ids as token ids)."""
        table = np.array(list(vocab), dtype=object)
        return cls(name=name, text="".join(table[np.asarray(ids, dtype=np.int64)]), source=source)


def read_text_file(path: Path) -> str:
    """The text of one UTF-8 file (a leading byte-order mark dropped): a corpus file or a probe text.

    Raises CorpusError with one line naming the file and saying why it is not readable text.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{path}: {why_unreadable(exc)}") from None
    if b"\x00" in data[:_SNIFF_BYTES]:
        raise CorpusError(f"{path}: is a binary file, not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{path}: is not UTF-8 text (invalid byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "convert it to UTF-8 first"
        ) from None
    return text.removeprefix("\ufeff")


def _list_folder(folder: Path, keep) -> tuple[list[Path], list[Skipped]]:
    """The files below `folder` that `keep` selects, in sorted path order, and what was left out.

    Hidden files and folders (names starting with a dot) below `folder` are left out; `folder`
    itself is read even when hidden. Symbolic links to folders are not followed.
    """
    files, skipped = [], []

    def unlistable(exc: OSError) -> None:
        where = Path(exc.filename) if exc.filename else folder
        if where == folder:
            raise CorpusError(f"{folder}: cannot be listed ({exc.strerror or exc})")
        skipped.append(Skipped(str(where), UNREADABLE_FOLDER, f"{where}: cannot be listed ({exc.strerror or exc})"))

    for current, dirnames, filenames in os.walk(folder, onerror=unlistable):
        base = Path(current)
        for name in sorted(dirnames):
            if name.startswith("."):
                skipped.append(Skipped(str(base / name), HIDDEN_FOLDER, f"{base / name}: is a hidden folder"))
        dirnames[:] = [name for name in dirnames if not name.startswith(".")]  # not descended into
        for name in filenames:
            path = base / name
            if not keep(path) or not path.is_file():
                continue
            if name.startswith("."):
                skipped.append(Skipped(str(path), HIDDEN_FILE, f"{path}: is a hidden file"))
            else:
                files.append(path)
    return sorted(files), skipped


def _read_folder(folder: Path, keep=lambda path: True, limit: int | None = None):
    """Concatenate the text files below `folder` in sorted path order; skip hidden, binary and non-UTF-8 files.

    `keep(path)` selects files; reading stops once `limit` characters were collected.
    """
    try:
        paths, skipped = _list_folder(folder, keep)
    except OSError as exc:
        raise CorpusError(f"{folder}: cannot be listed ({exc.strerror or exc})") from None
    parts, size = [], 0
    for path in paths:
        try:
            text = read_text_file(path)
        except CorpusError as exc:
            skipped.append(Skipped(str(path), UNREADABLE_FILE, str(exc)))
            continue
        parts.append(text)
        size += len(text)
        if limit is not None and size >= limit:
            break
    return "".join(parts), tuple(sorted(skipped, key=lambda s: Path(s.path)))


def _builtin_source(name: str) -> tuple[Path, str]:
    """The running Python's folder a built-in corpus is read from, and the suffix of its files."""
    paths = sysconfig.get_paths()
    return (Path(paths["include"]), ".h") if name == "python-c-headers" else (Path(paths["stdlib"]), ".py")


def builtin_unavailable(name: str) -> str | None:
    """Why the built-in corpus `name` cannot be read here (None if it can), without reading it.

    A standalone (frozen) app carries no header files or standard-library sources, for example.
    """
    folder, suffix = _builtin_source(name)
    try:
        if next(folder.glob(f"*{suffix}"), None) is not None:
            return None
    except OSError:
        pass
    what = "C header files" if name == "python-c-headers" else "standard-library sources"
    return f"not available here: this Python has no {what} in {folder}"


def _builtin(name: str) -> Corpus:
    folder, suffix = _builtin_source(name)
    if name == "python-c-headers":
        text, skipped = _read_folder(folder, keep=lambda p: p.suffix == suffix)
    else:
        # Only the library itself: not installed third-party packages, not the huge test suite.
        excluded = {"site-packages", "dist-packages", "test", "tests", "idlelib", "__pycache__"}

        def keep(p: Path) -> bool:
            return p.suffix == suffix and not excluded.intersection(p.relative_to(folder).parts[:-1])

        text, skipped = _read_folder(folder, keep=keep, limit=STDLIB_LIMIT_BYTES)
    if not text:
        raise CorpusError(f"{name}: no source files found under {folder}")
    return Corpus(name=name, text=text, source=str(folder), skipped=skipped)


def load_corpus(spec: str | Path, min_length: int = 2) -> Corpus:
    """Load a corpus from a file or folder path, a bundled sample name, or a built-in name.

    `min_length` is the number of characters one batch needs (sequence length + 1).
    """
    from . import samples  # local: the generator module is only needed for bundled names

    spec_str = str(spec)
    path = Path(spec_str).expanduser()
    if path.is_dir():
        text, skipped = _read_folder(path)
        if not text:
            raise CorpusError(f"{path}: folder contains no text files")
        corpus = Corpus(name=path.name or str(path), text=text, source=str(path), skipped=skipped)
    elif path.exists():
        corpus = Corpus(name=path.name, text=read_text_file(path), source=str(path))
    elif spec_str.removeprefix("sample:") in samples.SAMPLES:
        name = spec_str.removeprefix("sample:")
        sample_file = samples.sample_path(name)
        corpus = Corpus(name=name, text=read_text_file(sample_file), source=str(sample_file))
    elif spec_str in BUILTIN_CORPORA:
        corpus = _builtin(spec_str)
    else:
        known = ", ".join([*samples.SAMPLES, *BUILTIN_CORPORA])
        raise CorpusError(f"{spec_str}: no such file or folder, and not a corpus name ({known})")
    if len(corpus.text) == 0:
        raise CorpusError(f"{corpus.source or spec_str}: is empty")
    if len(corpus.text) < min_length:
        raise CorpusError(
            f"{corpus.source or spec_str}: has {len(corpus.text)} characters, "
            f"but one batch needs {min_length} (sequence length + 1)"
        )
    if corpus.vocab_size < 2:
        raise CorpusError(f"{corpus.source or spec_str}: uses a single character; nothing to learn")
    return corpus
