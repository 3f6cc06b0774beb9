"""Corpora: read text from a file, a folder, a bundled sample or the running Python, and tokenize it."""

from __future__ import annotations

import hashlib
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import CorpusError

# A file whose first bytes contain NUL is binary; text files essentially never do.
_SNIFF_BYTES = 8192
# The standard library is ~40 MB of Python; a few MB is plenty to train on and keeps sessions small.
STDLIB_LIMIT_BYTES = 4_000_000

BUILTIN_CORPORA = {
    "python-c-headers": "C header files of the running Python (real C code, like the paper's Linux kernel)",
    "python-stdlib": "Python sources of the running Python's standard library (first 4 MB, sorted by path)",
}


@dataclass(frozen=True)
class Corpus:
    """A tokenized text: vocabulary = sorted set of its characters, ids index into it."""

    name: str
    text: str
    source: str = ""
    skipped: tuple[str, ...] = ()  # files of a folder that were left out, with the reason
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

    @classmethod
    def from_ids(cls, name: str, vocab, ids, source: str = "") -> "Corpus":
        """Rebuild a corpus stored in a session (vocab as characters, ids as token ids)."""
        table = np.array(list(vocab), dtype=object)
        return cls(name=name, text="".join(table[np.asarray(ids, dtype=np.int64)]), source=source)


def _decode_file(path: Path) -> str:
    """Read one file as UTF-8 text; raise CorpusError saying why if it is not."""
    try:
        data = path.read_bytes()
    except PermissionError:
        raise CorpusError(f"{path}: permission denied") from None
    except IsADirectoryError:
        raise CorpusError(f"{path}: is a folder") from None
    except OSError as exc:
        raise CorpusError(f"{path}: cannot be read ({exc.strerror or exc})") from None
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


def _read_folder(folder: Path, keep=lambda path: True, limit: int | None = None):
    """Concatenate the text files below `folder` in sorted path order; skip binary and non-UTF-8 files.

    `keep(path)` selects files; reading stops once `limit` characters were collected.
    """
    try:
        paths = sorted(p for p in folder.rglob("*") if p.is_file() and keep(p))
    except OSError as exc:
        raise CorpusError(f"{folder}: cannot be listed ({exc.strerror or exc})") from None
    parts, skipped, size = [], [], 0
    for path in paths:
        try:
            text = _decode_file(path)
        except CorpusError as exc:
            skipped.append(str(exc))
            continue
        parts.append(text)
        size += len(text)
        if limit is not None and size >= limit:
            break
    return "".join(parts), tuple(skipped)


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
        corpus = Corpus(name=path.name, text=_decode_file(path), source=str(path))
    elif spec_str.removeprefix("sample:") in samples.SAMPLES:
        name = spec_str.removeprefix("sample:")
        sample_file = samples.sample_path(name)
        corpus = Corpus(name=name, text=_decode_file(sample_file), source=str(sample_file))
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
