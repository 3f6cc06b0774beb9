"""Tests for the bundled sample corpora: determinism, no drift from the generator, and their structure."""

from pathlib import Path

import pytest

from processes import python
from rnnbow_desktop.core import samples

REPO_SAMPLE_DIR = Path(__file__).resolve().parents[1] / "sample_data"


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    # Generating all three takes about half a second; do it once for the module.
    return {name: samples.generate(name) for name in samples.SAMPLES}


def test_registry_order_and_default():
    assert list(samples.SAMPLES) == ["c-like", "long-range", "brackets"]
    assert samples.DEFAULT_SAMPLE == "c-like"
    for name, info in samples.SAMPLES.items():
        assert info.name == name
        assert info.filename.endswith(".txt") and info.title and info.description


def test_generation_is_deterministic(texts):
    for name, text in texts.items():
        assert samples.generate(name) == text
    assert samples.generate("brackets", seed=1) != texts["brackets"]


@pytest.mark.parametrize("name", list(samples.SAMPLES))
def test_bundled_file_matches_generator(name, texts):
    path = REPO_SAMPLE_DIR / samples.SAMPLES[name].filename
    assert path.read_bytes() == texts[name].encode("ascii"), (
        f"{path.name} is stale; run python -m rnnbow_desktop.core.samples")


@pytest.mark.parametrize("name", list(samples.SAMPLES))
def test_size_and_encoding(name, texts):
    data = texts[name].encode("ascii")
    assert 200_000 <= len(data) <= 1_000_000
    assert b"\r" not in data and b"\t" not in data
    assert data.endswith(b"\n")


def test_long_range_markers_recur_at_the_tagged_distance(texts):
    seen = set()
    for line in texts["long-range"].splitlines():
        tag, body = line.split(":")
        d = int(tag)
        seen.add(d)
        assert len(body) == d + 1
        assert body[0] in samples.LONG_RANGE_MARKERS and body[d] == body[0]
        assert set(body[1:d]) <= set(samples.LONG_RANGE_FILLER)
        assert not set(body[1:d]) & set(samples.LONG_RANGE_MARKERS)
    assert seen == set(samples.LONG_RANGE_DISTANCES)


def bracket_depth(line: str) -> int:
    """Maximum nesting depth of a balanced line; -1 if it is not balanced."""
    closers = {close: open_ for open_, close in samples.BRACKET_PAIRS}
    stack: list[str] = []
    deepest = 0
    for char in line:
        if char in closers.values():
            stack.append(char)
            deepest = max(deepest, len(stack))
        elif char in closers:
            if not stack or stack.pop() != closers[char]:
                return -1
        elif not char.islower():
            return -1
    return deepest if not stack else -1


def test_bracket_depth_helper():
    assert bracket_depth("([a]{b})") == 2
    assert bracket_depth("([)]") == -1
    assert bracket_depth("((") == -1


def test_bracket_lines_are_balanced_and_deep(texts):
    depths = [bracket_depth(line) for line in texts["brackets"].splitlines()]
    assert min(depths) >= 1
    assert max(depths) == samples.BRACKET_MAX_DEPTH
    assert sum(d >= 8 for d in depths) > 1000


def test_c_like_looks_like_c(texts):
    text = texts["c-like"]
    assert text.count("{") == text.count("}")
    depth = 0
    for char in text:
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0
    for snippet in ("->", "for (", "while (", "if (", "} else {", "/*", "*/", "//", '"',
                    "printf(", "\\n\"", "#include <", "#define ", "struct ", "return ", "[i]"):
        assert snippet in text, snippet
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        assert indent % 4 == 0 or line.lstrip().startswith("*"), line  # ' * ' continues a /* block


def test_sample_path_rejects_unknown_names():
    with pytest.raises(KeyError):
        samples.sample_path("nope")
    with pytest.raises(KeyError):
        samples.generate("nope")


def test_lookup_prefers_the_environment_variable(tmp_path, monkeypatch):
    samples.write_all(tmp_path)
    monkeypatch.setenv("RNNBOW_SAMPLE_DATA", str(tmp_path))
    assert samples.sample_data_dir() == tmp_path
    assert samples.sample_path("brackets") == tmp_path / "brackets.txt"


def test_lookup_skips_folders_without_the_files(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNBOW_SAMPLE_DATA", str(tmp_path / "empty"))
    assert samples.sample_data_dir() == REPO_SAMPLE_DIR


def test_lookup_falls_back_to_a_generated_cache(tmp_path, monkeypatch, texts):
    # What a non-editable pip install sees: no bundled folder anywhere.
    monkeypatch.setattr(samples, "_candidate_dirs", lambda: [tmp_path / "missing"])
    monkeypatch.setattr(samples, "_cache_dir", lambda: tmp_path / "cache")
    directory = samples.sample_data_dir()
    assert directory == tmp_path / "cache"
    assert samples.sample_path("long-range").read_text() == texts["long-range"]
    assert not list(directory.glob("*.partial"))


def test_check_command_passes_and_imports_no_qt():
    code = ("import sys; from rnnbow_desktop.core import samples; "
            "rc = samples.main(['--check']); "
            "assert not any(m.startswith('PySide6') for m in sys.modules); sys.exit(rc)")
    result = python(code)
    assert result.returncode == 0, result.stderr
