"""Character-level features of a text (line position, brackets, quotes, comments, indent, regexes) for the unit finder.

Every built-in feature at index t describes the text *after reading character t*, the same moment as
the hidden state h[t] of a replay: an opening quote is already inside its string, a closing quote
already outside; a newline already starts the next line (line position 0, indent 0). So a unit that
tracks "am I in a string?" can match a feature exactly; a feature that looked ahead could not be
tracked by any causal network. A user feature (regular expression) is 1 on the characters a match
covers and 0 elsewhere.

Strings and comments follow C and Python conventions closely enough for code and code-like text:
a string is '…' or "…" with backslash escapes (a backslash escapes anything, a newline too); an
unescaped newline ends an unclosed string, so an apostrophe in prose cannot turn the rest of a
text into one; Python's triple quotes are read as an empty string followed by a one-quote string.
Comments are /* … */ and // or # to the end of the line; `#include` lines therefore count as
comments. Quotes inside comments and comment markers inside strings do not count. Brackets count
everywhere, inside strings and comments too, and any closing bracket closes any opening one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from ..core.errors import ConfigError

BUILTIN_FEATURES = ("line_position", "bracket_depth", "in_quotes", "in_comment", "indent")

# One token per match, leftmost first: whichever of a string or a comment starts earlier swallows
# the other's markers, which is exactly what a character-by-character lexer does. The string bodies
# cannot backtrack (their alternatives start with different characters), so this stays linear.
_STRINGS_AND_COMMENTS = re.compile(
    r"""(?P<string>(?P<quote>["'])(?:(?!(?P=quote))[^\\\n]|\\[\s\S])*\\?(?P<close>(?P=quote))?)"""
    r"""|(?P<block>/\*[\s\S]*?(?:(?P<block_close>\*/)|\Z))"""
    r"""|(?P<line>//|\#)[^\n]*"""
)
# A user feature's name: it becomes a column name in tables, CSV and JSON.
_FEATURE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*\Z")


def line_position(text: str) -> np.ndarray:
    """Characters read since the last newline, (T,): 0 on a newline, t + 1 before the first one."""
    codes = _codes(text)
    T = len(codes)
    newline_at = np.where(codes == ord("\n"), np.arange(T), -1)  # (T,)
    return (np.arange(T) - np.maximum.accumulate(newline_at)).astype(float)


def bracket_depth(text: str) -> np.ndarray:
    """Open ( [ { brackets after reading each character, (T,); a stray closing bracket keeps it at 0."""
    codes = _codes(text)
    step = np.isin(codes, _ords("([{")).astype(np.int64) - np.isin(codes, _ords(")]}"))
    walk = np.cumsum(step)  # (T,) depth if it were allowed to go negative
    # The walk reflected at 0: every stray closing bracket lowers the floor instead of the depth.
    floor = np.minimum(np.minimum.accumulate(walk), 0)
    return (walk - floor).astype(float)


def in_quotes(text: str) -> np.ndarray:
    """1.0 where, after reading the character, the text is inside a '…' or "…" string; (T,)."""
    return _strings_and_comments(text)[0]


def in_comment(text: str) -> np.ndarray:
    """1.0 where, after reading the character, the text is inside /* … */, // … or # …; (T,).

    The first '/' of '//' and '/*' reads 0 (it may still be a division), the '/' that closes a
    block comment reads 0, and so does the newline that ends a line comment.
    """
    return _strings_and_comments(text)[1]


def indent(text: str) -> np.ndarray:
    """Leading spaces and tabs read so far on the current line, (T,); each tab counts as one character.

    Within the leading whitespace it grows by one per character; from the line's first other
    character on it stays at the line's full indent.
    """
    codes = _codes(text)
    T = len(codes)
    position = line_position(text).astype(np.int64)  # (T,) characters read on the current line
    line_start = np.arange(T) + 1 - position  # (T,) index of the current line's first character
    # First character at or after each index that is not a space or tab (T at the end of the text).
    blank = np.isin(codes, _ords(" \t"))
    next_other = np.where(blank, T, np.arange(T))
    next_other = np.append(np.minimum.accumulate(next_other[::-1])[::-1], T)  # (T + 1,)
    full_indent = next_other[line_start] - line_start  # (T,)
    return np.minimum(position, full_indent).astype(float)


def regex_feature(text: str, pattern: str | re.Pattern[str]) -> np.ndarray:
    """1.0 on every character inside a match of `pattern`, 0.0 elsewhere; (T,).

    A string pattern is compiled with re.MULTILINE, so ^ and $ match at line boundaries. Matches
    are found left to right without overlap (re.finditer); empty matches mark nothing.
    """
    compiled = _compile(pattern) if isinstance(pattern, str) else pattern
    edges = np.zeros(len(text) + 1, dtype=np.int64)
    spans = np.array([m.span() for m in compiled.finditer(text)], dtype=np.int64).reshape(-1, 2)
    np.add.at(edges, spans[:, 0], 1)
    np.add.at(edges, spans[:, 1], -1)
    return (np.cumsum(edges[:-1]) > 0).astype(float)


def parse_feature_spec(spec: str) -> tuple[str, str]:
    """Split a command-line "NAME=REGEX" into (name, pattern); ConfigError names what is wrong."""
    name, sep, pattern = spec.partition("=")
    if not sep:
        raise ConfigError(f"feature {spec!r} is not NAME=REGEX")
    _check_feature(name, pattern)
    return name, pattern


def text_features(text: str, extra: Mapping[str, str] | None = None) -> dict[str, np.ndarray]:
    """Every built-in feature (BUILTIN_FEATURES order), then the user's regex features in `extra`'s order.

    Each value is a float array (len(text),). `extra` maps a name to a regular expression.
    """
    quotes, comments = _strings_and_comments(text)
    features = {
        "line_position": line_position(text),
        "bracket_depth": bracket_depth(text),
        "in_quotes": quotes,
        "in_comment": comments,
        "indent": indent(text),
    }
    for name, pattern in (extra or {}).items():
        if name in features:
            raise ConfigError(f"feature {name!r} is already defined; choose another name")
        features[name] = regex_feature(text, _check_feature(name, pattern))
    return features


def _check_feature(name: str, pattern: str) -> re.Pattern[str]:
    if not _FEATURE_NAME.match(name):
        raise ConfigError(f"feature name {name!r} must start with a letter or _ and hold only letters, digits, _ or -")
    if not pattern:
        raise ConfigError(f"feature {name!r} has an empty regular expression")
    try:
        return _compile(pattern)
    except ConfigError as exc:
        raise ConfigError(f"feature {name!r}: {exc}") from None


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.MULTILINE)
    except re.error as exc:
        raise ConfigError(f"bad regular expression {pattern!r}: {exc}") from None


def _strings_and_comments(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(in_quotes, in_comment), each (T,) float, from one left-to-right scan of the text."""
    spans: dict[str, list[tuple[int, int]]] = {"string": [], "comment": []}
    for m in _STRINGS_AND_COMMENTS.finditer(text):
        start, end = m.span()
        # Marked from the character after which the reader knows it is inside, to the last
        # character after which it still is (the closing delimiter itself reads "outside").
        if m.group("string") is not None:
            spans["string"].append((start, end - 1 if m.group("close") else end))
        elif m.group("block") is not None:
            spans["comment"].append((start + 1, end - 1 if m.group("block_close") else end))
        else:
            spans["comment"].append((start + len(m.group("line")) - 1, end))
    return _mark(spans["string"], len(text)), _mark(spans["comment"], len(text))


def _mark(spans: list[tuple[int, int]], T: int) -> np.ndarray:
    """1.0 on the half-open spans [start, stop), which do not overlap; (T,)."""
    edges = np.zeros(T + 1, dtype=np.int64)
    bounds = np.array(spans, dtype=np.int64).reshape(-1, 2)
    np.add.at(edges, bounds[:, 0], 1)
    np.add.at(edges, bounds[:, 1], -1)
    return np.cumsum(edges[:-1]).astype(float)


def _codes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def _ords(chars: str) -> np.ndarray:
    return np.array([ord(c) for c in chars], dtype=np.uint32)
