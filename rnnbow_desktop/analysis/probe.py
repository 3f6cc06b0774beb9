"""The probe text that unit analyses run the model over: by default a held-out slice from the end of the corpus, or a file of the user's."""

from __future__ import annotations

from pathlib import Path

from ..core.corpus import read_text_file
from ..core.errors import CorpusError

PROBE_LENGTH = 2000


def default_probe(corpus_text: str, length: int = PROBE_LENGTH) -> str:
    """About `length` characters from the end of the corpus, starting at a line start where one is near.

    Training reads the corpus from its start and wraps, so the end is the part seen least recently —
    and, for a corpus shorter than a few passes, close to held out. Starting at a newline keeps
    line-based features (line position, indent) meaningful from the first character.
    """
    if len(corpus_text) <= length:
        return corpus_text
    start = len(corpus_text) - length
    newline = corpus_text.find("\n", start, start + length // 4)
    return corpus_text[newline + 1:] if newline >= 0 else corpus_text[start:]


def read_probe_file(path: str | Path) -> str:
    """The text of a probe file (UTF-8, not empty); CorpusError in one line saying why it cannot be used."""
    path = Path(path)
    text = read_text_file(path)
    if not text:
        raise CorpusError(f"{path}: is empty")
    return text
