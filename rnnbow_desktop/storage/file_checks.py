"""What a session file must pass before the reader trusts it: header attributes, links, datasets and committed rows."""

from __future__ import annotations

import contextlib
import json
import math

import h5py
import numpy as np

from ..core.config import TrainConfig
from ..core.errors import RnnbowError, SessionFormatError
from .h5io import H5_ERRORS, reraise_own_bugs, short
from .module_session import ModuleDescription
from .schema import FORMAT, SOURCES

# Reader limits. A session's own chunks are at most 256 KiB (the writer's choice); 64 MiB leaves room for files
# re-packed by other tools while refusing a chunk that would have to be decompressed into gigabytes.
_MAX_CHUNK_BYTES = 64 * 1024 * 1024
_MAX_LINKS = 10_000  # a session has about 35 objects
# Filters HDF5 and h5py have built in: deflate, shuffle, fletcher32, scale-offset, LZF. Anything else
# would make HDF5 look for a plugin library on disk.
_ALLOWED_FILTERS = {1, 2, 3, 6, 32000}
_TAIL_ROWS = 4096  # how far back from the end the reader looks for half-written rows
_MAX_ENVIRONMENT_CHARS = 64 * 1024  # a real one is under 1,000 characters
_MAX_LAYERS = 1024
_MAX_LABELS = 1 << 24  # token labels of a version-2 session; real vocabularies have up to a few 100,000


# -- attribute values ---------------------------------------------------------------------------
def as_text(value, default: str = "?") -> str:
    """An attribute as text, whether stored as a variable- or fixed-length string."""
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, (str, np.str_)):
        return str(value)
    return default


def as_integer(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} is not a whole number")
    return int(value)


def as_number(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} is not a number")
    return float(value)


def as_flag(value) -> bool:
    return isinstance(value, (bool, np.bool_, int, np.integer)) and bool(value)


def recorded_gate_names(attrs, cell) -> tuple:
    """The recorded gate names, or the cell's own where they are missing or do not fit."""
    names = attrs.get("gate_names", cell.gate_names)
    names = tuple(as_text(g) for g in names) if isinstance(names, (list, tuple, np.ndarray)) else ()
    return names if len(names) == cell.n_gates else tuple(cell.gate_names)


# -- the header ---------------------------------------------------------------------------------
def format_version(attrs, path, newest: int) -> int:
    """The session format of an RNNbow session's header, one this reader (which reads up to `newest`) reads."""
    # Not attrs.get(): it answers None for an attribute that exists but cannot be read, and a
    # damaged session would then be called "not a session".
    try:
        stamp = attrs["format"] if "format" in attrs else None
    except H5_ERRORS as exc:
        reraise_own_bugs(exc)
        raise SessionFormatError(f"{path}: damaged session header ({short(exc)})") from None
    if as_text(stamp, "") != FORMAT:
        raise SessionFormatError(f"{path}: an HDF5 file, but not an RNNbow session")
    try:
        version = as_integer(attrs.get("format_version"), "format_version")
    except TypeError:
        raise SessionFormatError(f"{path}: session header has no valid format_version") from None
    if version > newest:
        raise SessionFormatError(
            f"{path}: written by a newer RNNbow (session format {version}; this version reads up to {newest})"
        )
    if version < 1:
        raise SessionFormatError(f"{path}: session header has an impossible format_version {version}")
    return version


def header_source(attrs, version: int, path) -> str:
    """What recorded the session ("rnnbow", or "torch" for a user's PyTorch module), if its format has that."""
    source = as_text(attrs.get("source", "rnnbow"), "")
    if source not in SOURCES or (source == "torch" and version < 2):
        raise SessionFormatError(f"{path}: session header names source {source!r}, which format {version} does not have")
    return source


@contextlib.contextmanager
def _header_errors(path):
    """A missing or invalid header attribute, as a SessionFormatError naming the file."""
    try:
        yield
    except KeyError as exc:
        raise SessionFormatError(f"{path}: session header lacks {exc}") from None
    except (RnnbowError, ValueError, TypeError) as exc:
        raise SessionFormatError(f"{path}: session header is invalid ({exc})") from None


def _recorded_settings(attrs) -> dict:
    """The settings every session's header holds, RNNbow's own or recorded from a PyTorch module."""
    return dict(
        cell=as_text(attrs["cell"], ""),
        hidden_size=as_integer(attrs["hidden_size"], "hidden_size"),
        seq_length=as_integer(attrs["seq_length"], "seq_length"),
        record_every=as_integer(attrs["record_every"], "record_every"),
        checkpoint_every=as_integer(attrs["checkpoint_every"], "checkpoint_every"),
        horizon_epsilon=as_number(attrs["horizon_epsilon"], "horizon_epsilon"),
    )


def header_config(attrs, path) -> TrainConfig:
    """The training settings in the header of one of RNNbow's own sessions, validated."""
    with _header_errors(path):
        return TrainConfig(
            **_recorded_settings(attrs),
            learning_rate=as_number(attrs["learning_rate"], "learning_rate"),
            seed=as_integer(attrs["seed"], "seed"),
            clip=as_number(attrs.get("clip", 5.0), "clip"),
            sample_every=as_integer(attrs.get("sample_every", 0), "sample_every"),
            sample_length=as_integer(attrs.get("sample_length", 200), "sample_length"),
        ).validate()


def module_header(attrs, path) -> tuple[ModuleDescription, TrainConfig, int]:
    """The module description, settings and number of layers in the header of a session recorded from a
    PyTorch module, validated and consistent with each other."""
    with _header_errors(path):
        module = ModuleDescription.from_json(as_text(attrs["module"], ""))
        config = TrainConfig(**_recorded_settings(attrs)).validate()
        layers = as_integer(attrs["layers"], "layers")
    if not 0 < layers <= _MAX_LAYERS or (module.cell, module.hidden_size, module.num_layers) != (
            config.cell, config.hidden_size, layers):
        raise SessionFormatError(f"{path}: session header is invalid (its module description does not match it)")
    return module, config, layers


def recorded_environment(attrs, notes: list[str]) -> dict:
    """The recorded environment: a JSON object in a root attribute. Optional, so anything
    unusable there is left out with a note rather than refusing the session."""
    if "environment" not in attrs:
        return {}
    try:
        text = as_text(attrs["environment"], "")
        found = json.loads(text) if 0 < len(text) <= _MAX_ENVIRONMENT_CHARS else None
    except H5_ERRORS as exc:  # includes json's ValueError, and RecursionError (a RuntimeError) for deep nesting
        reraise_own_bugs(exc)
        found = None
    if isinstance(found, dict):
        return found
    notes.append("left out the recorded environment: its attribute is not a JSON object of at most 64 KiB")
    return {}


def vocab_of(ds: h5py.Dataset, path) -> tuple:
    """The characters of an RNNbow session's vocabulary (Unicode code points in `ds`)."""
    if not 0 < ds.shape[0] <= 0x110000:
        raise SessionFormatError(f"{path}: vocab has an impossible size {ds.shape[0]}")
    codes = ds[()].astype(np.int64)
    if (codes < 0).any() or (codes > 0x10FFFF).any() or ((codes >= 0xD800) & (codes <= 0xDFFF)).any():
        raise SessionFormatError(f"{path}: vocab holds values that are not Unicode characters")
    return tuple(chr(int(c)) for c in codes)


def labels_of(ds: h5py.Dataset, path) -> tuple:
    """The token labels of a session recorded from a PyTorch module."""
    if ds.shape[0] > _MAX_LABELS:
        raise SessionFormatError(f"{path}: labels has an impossible size {ds.shape[0]:,}")
    return tuple(as_text(label, "") for label in ds[()])


# -- links and datasets -------------------------------------------------------------------------
def refuse_links(file: h5py.File, path) -> None:
    """Refuse soft and external links anywhere: a session never contains any, and must never
    make the reader open another file. Visits each link once, so hard-link cycles end."""
    seen = 0
    problem = None

    def look(name: bytes, info) -> int | None:
        # Only the link info HDF5 hands over: an HDF5 call raising inside this callback would
        # surface from h5py as a SystemError instead of its real error.
        nonlocal seen, problem
        seen += 1
        where = name.decode("utf-8", "replace")
        if info.type == h5py.h5l.TYPE_EXTERNAL:
            problem = f"{where} is an external link to another file"
        elif info.type == h5py.h5l.TYPE_SOFT:
            problem = f"{where} is a soft link"
        elif info.type != h5py.h5l.TYPE_HARD:
            problem = f"{where} is a link of an unknown kind"
        elif seen > _MAX_LINKS:
            problem = f"more than {_MAX_LINKS:,} objects, far more than a session has"
        return 1 if problem else None

    file.id.links.visit(look, info=True)
    if problem:
        raise SessionFormatError(f"{path}: {problem}; sessions never contain that, refusing to read it")


def checked_dataset(file: h5py.File, name: str, row_shape: tuple, kinds: str, path) -> h5py.Dataset:
    """Dataset `name` of `file`, after checking it can only make us read this file: reached through hard
    links only, stored in it, of rows `row_shape` of a dtype kind in `kinds`, with built-in filters and
    chunks of a sane size."""
    group: h5py.Group = file
    parts = name.split("/")
    for i, part in enumerate(parts):
        link = group.get(part, getlink=True)
        if link is None:
            raise SessionFormatError(f"{path}: {'/'.join(parts[: i + 1])} is missing")
        if not isinstance(link, h5py.HardLink):
            raise SessionFormatError(f"{path}: {'/'.join(parts[: i + 1])} is a link; refusing to follow it")
        obj = group[part]
        if i < len(parts) - 1:
            if not isinstance(obj, h5py.Group):
                raise SessionFormatError(f"{path}: {'/'.join(parts[: i + 1])} is not a group")
            group = obj
    if not isinstance(obj, h5py.Dataset):
        raise SessionFormatError(f"{path}: {name} is not a dataset")
    if obj.is_virtual:
        raise SessionFormatError(f"{path}: {name} is a virtual dataset reading other files; refusing to read it")
    if obj.external:
        raise SessionFormatError(f"{path}: {name} keeps its data in external files; refusing to read it")
    if obj.ndim != 1 + len(row_shape) or obj.shape[1:] != tuple(row_shape):
        expected = ", ".join(["N", *map(str, row_shape)])
        raise SessionFormatError(f"{path}: {name} has shape {obj.shape}, expected ({expected})")
    if obj.dtype.kind not in kinds or obj.dtype.kind in "iuf" and obj.dtype.itemsize > 8:
        raise SessionFormatError(f"{path}: {name} has the wrong data type ({obj.dtype})")
    plist = obj.id.get_create_plist()
    for i in range(plist.get_nfilters()):
        code = plist.get_filter(i)[0]
        if code not in _ALLOWED_FILTERS:
            raise SessionFormatError(f"{path}: {name} needs compression filter {code}, which RNNbow does not read")
    if obj.chunks is not None:
        chunk_bytes = math.prod(obj.chunks) * obj.dtype.itemsize
        if chunk_bytes > _MAX_CHUNK_BYTES:
            raise SessionFormatError(f"{path}: {name} is stored in chunks of {chunk_bytes / 1e6:,.0f} MB; refusing to read it")
    return obj


def check_size(ds: h5py.Dataset, name: str, file_size: int, path) -> None:
    """A dataset cannot honestly declare far more data than the file can hold."""
    declared = math.prod(ds.shape) * max(ds.dtype.itemsize, 1)
    # Uncompressed data needs its bytes in the file; compressed data at most ~1000× less
    # (deflate's limit). Unwritten chunks need none, but a session never leaves more than a
    # block of rows unwritten.
    ratio = 2 if ds.compression is None else 1100
    budget = ratio * file_size + 64 * 1024 * 1024
    if declared > budget:
        raise SessionFormatError(
            f"{path}: {name} declares {ds.shape[0]:,} rows ({declared / 1e9:,.1f} GB) "
            f"but the file holds only {file_size / 1e6:,.1f} MB; refusing to read it"
        )


# -- rows ---------------------------------------------------------------------------------------
def committed_rows(ds: h5py.Dataset, n: int, rule: str) -> int:
    """How many of the first `n` rows of a commit column were really written.

    A writer stopped mid-flush can leave a column's new length on disk before its data; such rows
    read as the fill value (-1 for batch numbers, NaN for losses), which no real row holds.
    """
    if n == 0:
        return 0
    lo = max(0, n - _TAIL_ROWS)
    tail = ds[lo:n]
    if rule == "finite":
        ok = np.isfinite(tail)
    else:  # batch numbers: non-negative and strictly increasing
        ok = tail >= 0
        ok[1:] &= tail[1:] > tail[:-1]
    bad = np.flatnonzero(~ok)
    return lo + int(bad[0]) if len(bad) else n
