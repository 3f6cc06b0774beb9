"""Text features: hand-worked small texts for every feature, and a character-by-character lexer as a second formulation."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from rnnbow_desktop.analysis.text_features import (
    BUILTIN_FEATURES,
    bracket_depth,
    in_comment,
    in_quotes,
    indent,
    line_position,
    parse_feature_spec,
    regex_feature,
    text_features,
)
from rnnbow_desktop.core.errors import ConfigError, RnnbowError

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"


def test_line_position_counts_characters_read_since_the_last_newline():
    #            a  b  \n ␣  ␣  c  d  \n \t x
    expected = [1, 2, 0, 1, 2, 3, 4, 0, 1, 2]
    np.testing.assert_array_equal(line_position("ab\n  cd\n\tx"), expected)
    np.testing.assert_array_equal(line_position("\n\n"), [0, 0])


def test_indent_grows_through_the_leading_blanks_then_holds():
    #            a  b  \n ␣  ␣  c  d  \n \t x
    expected = [0, 0, 0, 1, 2, 2, 2, 0, 1, 1]
    np.testing.assert_array_equal(indent("ab\n  cd\n\tx"), expected)
    np.testing.assert_array_equal(indent("  \n ␣ a"), [1, 2, 0, 1, 1, 1, 1])  # ␣ is not a blank
    np.testing.assert_array_equal(indent("   "), [1, 2, 3])


def test_bracket_depth_counts_every_bracket_kind_and_never_goes_below_zero():
    #            (  a  [  b  ]  {  )  }  )  )  (
    expected = [1, 1, 2, 2, 1, 2, 1, 0, 0, 0, 1]
    np.testing.assert_array_equal(bracket_depth("(a[b]{)}))("), expected)
    np.testing.assert_array_equal(bracket_depth(")](("), [0, 0, 1, 2])  # stray closers do not bank
    np.testing.assert_array_equal(bracket_depth('"(" # ('), [0, 1, 1, 1, 1, 1, 2])  # counted everywhere


def test_in_quotes_is_on_from_the_opening_quote_up_to_the_closing_one():
    text = 'x"a\\"b"y\'c\'"d\ne'
    #            x  "  a  \  "  b  "  y  '  c  '  "  d  \n e
    expected = [0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0]
    np.testing.assert_array_equal(in_quotes(text), expected)
    np.testing.assert_array_equal(in_quotes('"it\'s"'), [1, 1, 1, 1, 1, 0])  # ' inside "…" is a letter
    np.testing.assert_array_equal(in_quotes('"a\\\nb"c'), [1, 1, 1, 1, 1, 0, 0])  # escaped newline
    np.testing.assert_array_equal(in_quotes('"a\\'), [1, 1, 1])  # unclosed, ends in a backslash
    np.testing.assert_array_equal(in_quotes("don't\nstop"), [0, 0, 0, 1, 1, 0, 0, 0, 0, 0])  # ends at newline


def test_in_comment_covers_block_and_line_comments():
    text = "a/*b*/c//d\ne#f\ng/h"
    #            a  /  *  b  *  /  c  /  /  d  \n e  #  f  \n g  /  h
    expected = [0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0]
    np.testing.assert_array_equal(in_comment(text), expected)
    np.testing.assert_array_equal(in_comment("/*/"), [0, 1, 1])  # the opening * does not close
    np.testing.assert_array_equal(in_comment("/**/"), [0, 1, 1, 0])
    np.testing.assert_array_equal(in_comment("/*a\nb"), [0, 1, 1, 1, 1])  # unclosed: to the end


def test_quotes_in_comments_and_comment_markers_in_strings_do_not_count():
    text = '/* "x */ y"'
    np.testing.assert_array_equal(in_comment(text), [0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(in_quotes(text), [0] * 10 + [1])  # the last " opens a string
    np.testing.assert_array_equal(in_quotes('"a#b"c//'), [1, 1, 1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(in_comment('"a#b"c//'), [0, 0, 0, 0, 0, 0, 0, 1])


def lexer_reference(text: str) -> tuple[list[int], list[int]]:
    """(in_quotes, in_comment) from an explicit character-by-character state machine."""
    T = len(text)
    quotes, comments = [0] * T, [0] * T
    state, quote, i = "code", "", 0
    while i < T:
        ch, nxt = text[i], text[i + 1] if i + 1 < T else ""
        if state == "code":
            if ch in "'\"":
                state, quote, quotes[i] = "string", ch, 1
            elif ch == "#":
                state, comments[i] = "line", 1
            elif ch + nxt == "//":
                state, comments[i + 1] = "line", 1
                i += 1
            elif ch + nxt == "/*":
                state, comments[i + 1] = "block", 1
                i += 1
        elif state == "string":
            if ch == "\\":
                quotes[i] = 1
                if nxt:
                    quotes[i + 1] = 1
                    i += 1
            elif ch == quote or ch == "\n":
                state = "code"
            else:
                quotes[i] = 1
        elif state == "line":
            if ch == "\n":
                state = "code"
            else:
                comments[i] = 1
        else:  # block
            comments[i] = 1
            if ch + nxt == "*/":
                state = "code"
                i += 1
        i += 1
    return quotes, comments


def loop_reference(text: str) -> dict[str, list[int]]:
    """line_position, bracket_depth and indent by a plain loop over the characters."""
    out: dict[str, list[int]] = {"line_position": [], "bracket_depth": [], "indent": []}
    position = depth = blanks = 0
    leading = True
    for ch in text:
        if ch == "\n":
            position, blanks, leading = 0, 0, True
        else:
            position += 1
            if leading and ch in " \t":
                blanks += 1
            else:
                leading = False
        depth = depth + 1 if ch in "([{" else max(depth - 1, 0) if ch in ")]}" else depth
        out["line_position"].append(position)
        out["bracket_depth"].append(depth)
        out["indent"].append(blanks)
    return out


@pytest.mark.parametrize("seed", range(40))
def test_features_equal_plain_loops_on_random_texts(seed):
    rng = np.random.default_rng(seed)
    text = "".join(rng.choice(list("/*\"'\\\n#a ([{)]}\t"), size=int(rng.integers(0, 300))))
    features = text_features(text)
    quotes, comments = lexer_reference(text)
    np.testing.assert_array_equal(features["in_quotes"], quotes)
    np.testing.assert_array_equal(features["in_comment"], comments)
    for name, values in loop_reference(text).items():
        np.testing.assert_array_equal(features[name], values)


def test_features_equal_plain_loops_on_the_c_like_sample():
    text = (SAMPLES / "c_like.txt").read_text()[:30_000]
    features = text_features(text)
    quotes, comments = lexer_reference(text)
    assert 0 < features["in_quotes"].sum() and 0 < features["in_comment"].sum()  # both occur
    np.testing.assert_array_equal(features["in_quotes"], quotes)
    np.testing.assert_array_equal(features["in_comment"], comments)
    for name, values in loop_reference(text).items():
        np.testing.assert_array_equal(features[name], values)


def test_regex_feature_marks_the_characters_inside_matches():
    np.testing.assert_array_equal(regex_feature("ab 123 c4", r"\d+"), [0, 0, 0, 1, 1, 1, 0, 0, 1])
    np.testing.assert_array_equal(regex_feature("a\nab", "^a"), [1, 0, 1, 0])  # ^ at every line start
    np.testing.assert_array_equal(regex_feature("abc", "x*"), [0, 0, 0])  # empty matches mark nothing
    np.testing.assert_array_equal(regex_feature("aXbX", re.compile("x", re.IGNORECASE)), [0, 1, 0, 1])


def test_text_features_come_in_a_fixed_order_as_float_arrays():
    text = "int x = 1; // one\n"
    features = text_features(text, {"digits": r"\d", "keyword": r"\bint\b"})
    assert list(features) == [*BUILTIN_FEATURES, "digits", "keyword"]
    for values in features.values():
        assert values.dtype == np.float64 and values.shape == (len(text),)
    np.testing.assert_array_equal(features["keyword"][:4], [1, 1, 1, 0])
    assert all(len(v) == 0 for v in text_features("").values())


def test_parse_feature_spec_splits_at_the_first_equals_sign():
    assert parse_feature_spec(r"digits=\d+") == ("digits", r"\d+")
    assert parse_feature_spec("assign=a=b") == ("assign", "a=b")


@pytest.mark.parametrize(
    "spec, named",
    [
        ("noequals", "'noequals'"),
        ("paren=(", "'paren'"),
        ("=abc", "''"),
        ("1x=a", "'1x'"),
        ("has space=a", "'has space'"),
        ("empty=", "'empty'"),
    ],
)
def test_bad_feature_specs_raise_a_one_line_config_error_naming_them(spec, named):
    with pytest.raises(ConfigError) as caught:
        parse_feature_spec(spec)
    message = str(caught.value)
    assert named in message and "\n" not in message
    assert isinstance(caught.value, RnnbowError)


def test_a_bad_regex_names_itself_and_the_problem():
    with pytest.raises(ConfigError, match=r"'paren'.*'\(\['.*unterminated character set"):
        text_features("x", {"paren": "(["})
    with pytest.raises(ConfigError, match="bad regular expression"):
        regex_feature("x", "*")


def test_a_user_feature_cannot_shadow_a_built_in_one():
    with pytest.raises(ConfigError, match="'indent' is already defined"):
        text_features("x", {"indent": "x"})
