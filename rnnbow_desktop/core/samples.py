"""The three bundled training corpora: their deterministic generators and where their files live."""

from __future__ import annotations

import argparse
import os
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from .version import __version__
from rnnbow_desktop.core.errors import CorpusError


@dataclass(frozen=True)
class SampleInfo:
    name: str
    filename: str
    title: str
    description: str


SAMPLES: dict[str, SampleInfo] = {
    "c-like": SampleInfo(
        "c-like",
        "c_like.txt",
        "C-like code (default)",
        "Generated kernel-style C: functions, structs, loops, pointers and comments, like the Linux "
        "source the RNNbow paper trained on. Expect short gradient horizons: most of each bar comes "
        "from the losses of the next few characters.",
    ),
    "long-range": SampleInfo(
        "long-range",
        "long_range.txt",
        "Long-range recall",
        "Lines such as '20:C...b..C' where the letter after the colon must be repeated exactly d "
        "(5, 10, 20 or 40) characters later. Expect a vanilla RNN to close the short lines but not "
        "the long ones, because its gradient fades long before 20 or 40 steps.",
    ),
    "brackets": SampleInfo(
        "brackets",
        "brackets.txt",
        "Nested brackets",
        "One balanced expression of (), [] and {} per line, nested 1 to 10 deep. Closing the right "
        "bracket needs memory of everything still open, so deep lines stretch the gradient horizon.",
    ),
}
DEFAULT_SAMPLE = "c-like"

# Tests read this; the README documents it. Each long-range line is f"{d:02d}:" + marker + (d - 1)
# filler characters + the same marker, so the closing marker sits d characters after the opening one.
LONG_RANGE_DISTANCES = (5, 10, 20, 40)
LONG_RANGE_MARKERS = "ABCDEF"
LONG_RANGE_FILLER = "....abcde"  # dots repeated so fillers look sparse: 'a..d.' rather than 'adbec'
BRACKET_PAIRS = ("()", "[]", "{}")
BRACKET_MAX_DEPTH = 10

_TARGET_CHARS = {"c-like": 480_000, "long-range": 400_000, "brackets": 400_000}
_ENV_VAR = "RNNBOW_SAMPLE_DATA"
_REPO_DIR = Path(__file__).resolve().parents[2] / "sample_data"


# --- C-like code -------------------------------------------------------------------------------

_PREFIXES = ("rnb", "eth", "usb", "pci", "snd", "blk", "tcp", "dma", "ext", "vfs")
_NOUNS = ("dev", "skb", "buf", "page", "queue", "ring", "desc", "port", "ctx", "req", "node",
          "slot", "frame", "chan", "timer", "sock", "priv", "cmd", "zone", "map")
_VERBS = ("init", "alloc", "free", "reset", "start", "stop", "enable", "disable", "read", "write",
          "flush", "poll", "submit", "update", "release", "probe", "setup", "check", "fill", "drain")
_FIELDS = ("len", "count", "flags", "state", "head", "tail", "size", "idx", "mask", "id", "offset",
           "refcnt", "status", "irq", "budget", "nr_pages", "seq", "min_len", "max_len", "err_cnt")
_FLAG_WORDS = ("ACTIVE", "BUSY", "DIRTY", "READY", "ERROR", "LOCKED", "PENDING", "RUNNING", "VALID")
_INT_TYPES = ("int", "int", "unsigned int", "u32", "u16", "unsigned long", "size_t")
_HEADERS = ("kernel.h", "module.h", "slab.h", "string.h", "types.h", "errno.h", "spinlock.h",
            "interrupt.h", "delay.h", "list.h", "io.h", "netdevice.h", "skbuff.h", "pci.h")
_ERRORS = ("-EINVAL", "-ENOMEM", "-EBUSY", "-EIO", "-EAGAIN", "-ENODEV")
_COMMENT_VERBS = ("check", "reset", "clear", "flush", "drop", "update", "wake", "lock", "count", "map")
_COMMENT_TAILS = ("before the device sees it", "so the irq handler cannot race us",
                  "while we still hold the lock", "if the hardware is still busy",
                  "to keep the counters in sync", "once the queue is empty", "on the slow path",
                  "because the ring may wrap", "for the next poll", "and let the caller retry")


@dataclass
class _Struct:
    name: str                   # "eth_ring"
    fields: tuple[str, ...]     # integer members
    array: str                  # an integer array member, sized by `array_size`
    array_size: str             # a #define
    child: _Struct | None       # a pointer member of this type, for `a->b->c` chains


class _CWriter:
    """Writes one C file at a time into `lines`, tracking what each function may refer to."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.lines: list[str] = []

    # Module level ------------------------------------------------------------------------------

    def module(self) -> None:
        rng = self.rng
        prefix = rng.choice(_PREFIXES)
        nouns = rng.sample(_NOUNS, 3)
        up = prefix.upper()
        self.prefix = prefix
        self.flags = [f"{up}_FLAG_{word}" for word in rng.sample(_FLAG_WORDS, 3)]
        sizes = [f"{up}_MAX_{n.upper()}S" for n in nouns[:2]]
        self.consts = self.flags + sizes
        self.funcs: list[tuple[str, tuple[str, ...], bool]] = []  # name, parameter kinds, returns a value
        self.verbs = rng.sample(_VERBS, len(_VERBS))  # popped, so no function is defined twice

        self.lines += ["/*", f" * drivers/{prefix}/{prefix}_{nouns[0]}.c - {nouns[0]} handling "
                       f"for the {prefix} driver", " */", ""]
        for header in sorted(rng.sample(_HEADERS, rng.randrange(2, 6))):
            self.lines.append(f"#include <linux/{header}>")
        self.lines += [f'#include "{prefix}_{nouns[0]}.h"', ""]
        for size in sizes:
            self.lines.append(f"#define {size} {rng.choice((8, 16, 32, 64, 128, 256))}")
        shift = rng.randrange(5)
        for bit, flag in enumerate(self.flags):
            self.lines.append(f"#define {flag} 0x{1 << (bit + shift):02x}")
        self.lines += [f"#define {up}_IDX(x) ((x) & ({sizes[0]} - 1))", ""]

        inner = self.struct(f"{prefix}_{nouns[1]}", sizes[1], None)
        outer = self.struct(f"{prefix}_{nouns[0]}", sizes[0], inner)
        self.structs = (outer, inner)
        for _ in range(rng.randrange(3, 8)):
            self.function()

    def struct(self, name: str, array_size: str, child: _Struct | None) -> _Struct:
        rng = self.rng
        fields = tuple(rng.sample(_FIELDS, rng.randrange(3, 6)))
        array = rng.choice([a for a in ("regs", "slots", "data", "map")
                            if child is None or not child.name.endswith("_" + a)])
        self.lines.append(f"struct {name} {{")
        for field in fields:
            self.lines.append(f"    {rng.choice(_INT_TYPES)} {field};")
        self.lines.append(f"    u32 {array}[{array_size}];")
        if child is not None:
            self.lines.append(f"    struct {child.name} *{child.name.split('_', 1)[1]};")
        self.lines += [f"    char name[{rng.choice((16, 32))}];", "    spinlock_t lock;", "};", ""]
        return _Struct(name, fields, array, array_size, child)

    def function(self) -> None:
        rng = self.rng
        struct = rng.choice(self.structs)
        var = struct.name.split("_", 1)[1]
        name = f"{struct.name}_{self.verbs.pop()}"
        scalars = rng.sample(("len", "flags", "budget", "count", "offset"), rng.randrange(0, 3))
        params = [f"struct {struct.name} *{var}"] + [f"{rng.choice(_INT_TYPES)} {s}" for s in scalars]
        returns = rng.choice(("static int", "static int", "static void", "int", "static u32"))
        self.returns_value = returns != "static void"

        # Environment for the body: pointers with their struct, integer names, loop variables in use.
        self.ptrs = [(var, struct)]
        if struct.child is not None:
            self.ptrs.append((f"{var}->{struct.child.name.split('_', 1)[1]}", struct.child))
        self.ints = list(scalars) + ["err"]
        self.loop_vars: list[str] = []
        self.used_locals: set[str] = set()

        header, self.lines = self.lines, []
        self.block(1, rng.randrange(3, 8))
        body, self.lines = self.lines, header

        if rng.random() < 0.4:
            self.lines += ["/**", f" * {name} - {rng.choice(_COMMENT_VERBS)} the {var}",
                           f" * @{var}: the {var} to work on", " */"]
        self.lines += [f"{returns} {name}({', '.join(params)})", "{"]
        for local in ("i", "j", "k"):
            if local in self.used_locals:
                self.lines.append(f"    int {local};")
        self.lines += ["    int err = 0;", ""] + body
        if self.returns_value:
            self.lines.append(f"    return {rng.choice(('err', '0', 'err', var + '->' + struct.fields[0]))};")
        self.lines += ["}", ""]
        if returns == "int":
            self.lines += [f"EXPORT_SYMBOL({name});", ""]
        self.funcs.append((name, tuple(["ptr:" + struct.name] + ["int"] * len(scalars)), self.returns_value))

    # Statements ---------------------------------------------------------------------------------

    def emit(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)

    def block(self, depth: int, count: int) -> None:
        for _ in range(count):
            self.statement(depth)

    def statement(self, depth: int) -> None:
        r = self.rng.random()
        can_nest = depth < 4  # at most three blocks inside a function body
        if can_nest and r < 0.16:
            self.if_statement(depth)
        elif can_nest and r < 0.26 and len(self.loop_vars) < 3:
            self.for_loop(depth)
        elif can_nest and r < 0.31:
            self.while_loop(depth)
        elif r < 0.41:
            self.printf(depth)
        elif r < 0.48:
            self.comment(depth)
        elif r < 0.58:
            self.call(depth)
        else:
            self.assign(depth)

    def if_statement(self, depth: int) -> None:
        rng = self.rng
        bail = rng.random() < 0.3  # the kernel's favourite shape: bail out on an error
        self.emit(depth, f"if ({self.condition(may_be_null=bail)}) {{")
        if bail:
            self.printf(depth + 1)
            self.emit(depth + 1, f"return {rng.choice(_ERRORS)};" if self.returns_value else "return;")
        else:
            self.block(depth + 1, rng.randrange(1, 4))
        r = rng.random()
        if r < 0.15:
            self.emit(depth, f"}} else if ({self.condition()}) {{")
            self.block(depth + 1, rng.randrange(1, 3))
        if r < 0.4:
            self.emit(depth, "} else {")
            self.block(depth + 1, rng.randrange(1, 3))
        self.emit(depth, "}")

    def for_loop(self, depth: int) -> None:
        var = next(v for v in ("i", "j", "k") if v not in self.loop_vars)
        self.used_locals.add(var)
        ptr, struct = self.rng.choice(self.ptrs)
        bound = self.rng.choice((struct.array_size, f"{ptr}->{self.rng.choice(struct.fields)}",
                                 *[s for s in self.ints if s in ("len", "count", "budget")]))
        self.emit(depth, f"for ({var} = 0; {var} < {bound}; {var}++) {{")
        self.loop_vars.append(var)
        self.block(depth + 1, self.rng.randrange(1, 4))
        self.loop_vars.pop()
        self.emit(depth, "}")

    def while_loop(self, depth: int) -> None:
        rng = self.rng
        ptr, struct = rng.choice(self.ptrs)
        a, b = rng.sample(struct.fields, 2)
        if rng.random() < 0.5:
            self.emit(depth, f"while ({ptr}->{a} != {ptr}->{b}) {{")
            self.block(depth + 1, rng.randrange(1, 3))
            self.emit(depth + 1, f"{ptr}->{a} = {self.prefix.upper()}_IDX({ptr}->{a} + 1);")
        else:
            self.emit(depth, f"while ({ptr}->{a}-- > 0 && !({ptr}->{b} & {rng.choice(self.flags)})) {{")
            self.block(depth + 1, rng.randrange(1, 3))
            self.emit(depth + 1, f"udelay({rng.choice((1, 5, 10, 50))});")
        self.emit(depth, "}")

    def printf(self, depth: int) -> None:
        rng = self.rng
        words = rng.sample(_FIELDS, rng.randrange(1, 3))
        fmt = " ".join(f"{w} {rng.choice(('%d', '%d', '%u', '%x'))}" for w in words)
        args = ", ".join(self.int_term() for _ in words)
        self.emit(depth, f'printf("{self.prefix}: {rng.choice(_VERBS)} {fmt}\\n", {args});')

    def comment(self, depth: int) -> None:
        rng = self.rng
        ptr, _ = rng.choice(self.ptrs)
        text = f"{rng.choice(_COMMENT_VERBS)} the {ptr.split('->')[-1]} {rng.choice(_COMMENT_TAILS)}"
        self.emit(depth, f"/* {text} */" if rng.random() < 0.6 else f"// {text}")

    def call(self, depth: int) -> None:
        rng = self.rng
        ptr, struct = rng.choice(self.ptrs)
        callable_funcs = [f for f in self.funcs if f[1][0] == "ptr:" + struct.name]
        if callable_funcs and rng.random() < 0.6:
            func, kinds, has_value = rng.choice(callable_funcs)
            args = ", ".join([ptr] + [self.int_term() for _ in kinds[1:]])
            if not has_value:
                self.emit(depth, f"{func}({args});")
                return
            self.emit(depth, f"err = {func}({args});")
            self.emit(depth, "if (err) {" if rng.random() < 0.7 else "if (err < 0) {")
            self.emit(depth + 1, "return err;" if self.returns_value else "return;")
            self.emit(depth, "}")
            return
        r = rng.random()
        if r < 0.3 and depth < 4:
            self.emit(depth, f"spin_lock(&{ptr}->lock);")
            self.block(depth, rng.randrange(1, 3))
            self.emit(depth, f"spin_unlock(&{ptr}->lock);")
            return
        self.emit(depth, rng.choice((
            f"memset({ptr}->name, 0, sizeof({ptr}->name));",
            f"memset({ptr}->{struct.array}, 0, sizeof({ptr}->{struct.array}));",
            f"writel({self.int_expr()}, {ptr}->{struct.array} + {rng.randrange(0, 8) * 4});",
            f"udelay({rng.choice((1, 5, 10, 100))});",
        )))

    def assign(self, depth: int) -> None:
        rng = self.rng
        target = self.lvalue()
        r = rng.random()
        if r < 0.55:
            self.emit(depth, f"{target} = {self.int_expr()};")
        elif r < 0.7:
            self.emit(depth, f"{target} {rng.choice(('|= ', '&= ~'))}{rng.choice(self.flags)};")
        elif r < 0.85:
            self.emit(depth, f"{target} += {self.int_expr()};")
        else:
            self.emit(depth, f"{target}{rng.choice(('++', '--'))};")

    # Expressions --------------------------------------------------------------------------------

    def lvalue(self) -> str:
        rng = self.rng
        ptr, struct = rng.choice(self.ptrs)
        r = rng.random()
        if r < 0.25 and self.loop_vars:
            return f"{ptr}->{struct.array}[{self.loop_vars[-1]}]"
        if r < 0.7:
            return f"{ptr}->{rng.choice(struct.fields)}"
        return rng.choice(self.ints)

    def int_term(self) -> str:
        rng = self.rng
        r = rng.random()
        ptr, struct = rng.choice(self.ptrs)
        if r < 0.35:
            return f"{ptr}->{rng.choice(struct.fields)}"
        if r < 0.55:
            return rng.choice(self.ints)
        if r < 0.7 and self.loop_vars:
            return f"{ptr}->{struct.array}[{rng.choice(self.loop_vars)}]"
        if r < 0.8:
            return rng.choice(self.consts)
        return rng.choice(("0", "1", "2", "4", "8", "16", "0xff", "0x10"))

    def int_expr(self) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.5:
            return self.int_term()
        if r < 0.85:
            return f"{self.int_term()} {rng.choice(('+', '-', '&', '|', '<<', '>>'))} {self.int_term()}"
        ptr, struct = rng.choice(self.ptrs)
        return rng.choice((f"readl({ptr}->{struct.array})",
                           f"min({self.int_term()}, {self.int_term()})",
                           f"atomic_read(&{ptr}->{rng.choice(struct.fields)})"))

    def condition(self, may_be_null: bool = False) -> str:
        rng = self.rng
        ptr, struct = rng.choice(self.ptrs)
        r = rng.random()
        if r < 0.2:
            if may_be_null:
                return f"!{ptr}"
            return f"{ptr}->{rng.choice(struct.fields)} == 0"
        if r < 0.45:
            return f"{ptr}->{rng.choice(struct.fields)} & {rng.choice(self.flags)}"
        if r < 0.85:
            return f"{self.int_term()} {rng.choice(('<', '>', '==', '!=', '>=', '<='))} {self.int_term()}"
        return f"{self.int_term()} > 0 && !{ptr}->{rng.choice(struct.fields)}"


def _c_like(rng: random.Random, target: int) -> str:
    writer = _CWriter(rng)
    size = 0
    while size < target:
        start = len(writer.lines)
        writer.module()
        size += sum(len(line) + 1 for line in writer.lines[start:])
    return "\n".join(writer.lines).rstrip("\n") + "\n"


# --- Long-range recall and brackets ------------------------------------------------------------

def _long_range(rng: random.Random, target: int) -> str:
    per_distance = target // sum(d + 5 for d in LONG_RANGE_DISTANCES)  # a line is d + 5 bytes
    distances = [d for d in LONG_RANGE_DISTANCES for _ in range(per_distance)]
    rng.shuffle(distances)
    lines = []
    for d in distances:
        marker = rng.choice(LONG_RANGE_MARKERS)
        filler = "".join(rng.choice(LONG_RANGE_FILLER) for _ in range(d - 1))
        lines.append(f"{d:02d}:{marker}{filler}{marker}\n")
    return "".join(lines)


def _bracket_group(rng: random.Random, depth: int) -> str:
    """One bracketed group nested exactly `depth` deep (counting itself)."""
    opening, closing = tuple(rng.choice(BRACKET_PAIRS))
    parts = []
    count = rng.randrange(1, 4) if depth > 1 else rng.randrange(0, 2)
    spine = rng.randrange(count) if depth > 1 else -1  # the one child that reaches full depth
    for k in range(count):
        if k == spine:
            parts.append(_bracket_group(rng, depth - 1))
        elif depth > 1 and rng.random() < 0.3:
            # Side branches stay shallow so deep lines stay around a hundred characters.
            parts.append(_bracket_group(rng, rng.randrange(1, min(depth - 1, 3) + 1)))
        else:
            parts.append("".join(rng.choice("abcdxyz") for _ in range(rng.randrange(1, 3))))
    return opening + "".join(parts) + closing


def _brackets(rng: random.Random, target: int) -> str:
    lines = []
    size = 0
    while size < target:
        line = _bracket_group(rng, rng.randrange(1, BRACKET_MAX_DEPTH + 1)) + "\n"
        lines.append(line)
        size += len(line)
    return "".join(lines)


_GENERATORS: dict[str, Callable[[random.Random, int], str]] = {
    "c-like": _c_like, "long-range": _long_range, "brackets": _brackets,
}


# Only random.Random's integer draws (randrange, choice, sample, shuffle) and random() are used, and
# never on sets: their streams are fixed across Python versions, unlike numpy's Generator, whose
# streams numpy does not promise to keep between releases.
def generate(name: str, seed: int = 0) -> str:
    """The full text of sample `name`; the same name and seed give the same text everywhere."""
    info = _info(name)
    return _GENERATORS[info.name](random.Random(seed), _TARGET_CHARS[info.name])


# --- Files -------------------------------------------------------------------------------------

def _info(name: str) -> SampleInfo:
    try:
        return SAMPLES[name]
    except KeyError:
        raise KeyError(f"unknown sample {name!r}; choose one of {', '.join(SAMPLES)}") from None


def _has_all(directory: Path) -> bool:
    return all((directory / info.filename).is_file() for info in SAMPLES.values())


def _candidate_dirs() -> list[Path]:
    dirs = []
    if os.environ.get(_ENV_VAR):
        dirs.append(Path(os.environ[_ENV_VAR]))
    if getattr(sys, "frozen", False) and hasattr(sys, "_MEIPASS"):
        dirs.append(Path(sys._MEIPASS) / "sample_data")
    dirs.append(_REPO_DIR)
    return dirs


def _cache_dir() -> Path:
    # Versioned, so an upgrade whose generator changed does not keep serving the old corpora.
    return Path(platformdirs.user_cache_dir("rnnbow", appauthor=False, version=__version__)) / "sample_data"


def sample_data_dir() -> Path:
    """The first folder holding all bundled corpora; a non-editable install generates them once."""
    for directory in _candidate_dirs():
        if _has_all(directory):
            return directory
    cache = _cache_dir()
    if not _has_all(cache):
        try:
            write_all(cache)
        except OSError as exc:
            raise CorpusError(f"cannot write the sample corpora to {cache}: {exc.strerror}") from exc
    return cache


def sample_path(name: str) -> Path:
    """The bundled file of sample `name`; KeyError for an unknown name."""
    filename = _info(name).filename  # first, so a bad name never triggers generating the cache
    return sample_data_dir() / filename


def write_all(directory: Path) -> list[Path]:
    """Generate every sample into `directory` and return the written paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, info in SAMPLES.items():
        path = directory / info.filename
        partial = path.with_suffix(".partial")
        # Bytes, not text mode, so Windows does not turn LF into CRLF; the rename keeps a reader
        # (another app instance filling the same cache) from seeing half a file.
        partial.write_bytes(generate(name).encode("ascii"))
        os.replace(partial, path)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rnnbow_desktop.core.samples",
        description=f"Regenerate the bundled sample corpora in {_REPO_DIR}.")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a bundled file differs from the generator")
    args = parser.parse_args(argv)
    if not args.check:
        for path in write_all(_REPO_DIR):
            print(f"wrote {path} ({path.stat().st_size} bytes)")
        return 0
    stale = [info.filename for name, info in SAMPLES.items()
             if not (_REPO_DIR / info.filename).is_file()
             or (_REPO_DIR / info.filename).read_bytes() != generate(name).encode("ascii")]
    if stale:
        print(f"out of date: {', '.join(stale)} (run without --check to regenerate)", file=sys.stderr)
        return 1
    print("sample data is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
