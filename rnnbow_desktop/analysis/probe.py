"""The probe text that unit analyses run the model over: by default a held-out slice from the end of the corpus."""

from __future__ import annotations

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
