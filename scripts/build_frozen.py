#!/usr/bin/env python3
"""Build the standalone one-folder app with PyInstaller (rnnbow.spec) and smoke-test what it must do.

    python scripts/build_frozen.py            # build into dist/rnnbow, then test it
    python scripts/build_frozen.py --no-build # only test an existing dist/rnnbow

Run it with the Python of an environment that has the project installed with the `freeze` extra
(`pip install -e ".[freeze]"`). The smoke test runs the frozen binary — not the source tree — for
`--version`, `train` (writing a real HDF5 session: frozen apps can lose parts of h5py),
`info`, `render` (PNG), and opening the window on that session (offscreen when there is no display):
the window saves a screenshot of itself (RNNBOW_SCREENSHOT) and quits after a few seconds
(RNNBOW_QUIT_AFTER_MS), and the screenshot must be window-sized and not blank.
`python3 scripts/dev.py freeze` sets up the environment and runs this script.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist" / "rnnbow"
EXE = DIST / ("rnnbow.exe" if os.name == "nt" else "rnnbow")


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def check(label: str, command: list[str], env=None, timeout=300) -> subprocess.CompletedProcess:
    start = time.monotonic()
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    took = time.monotonic() - start
    status = "ok" if out.returncode == 0 else f"FAILED (exit {out.returncode})"
    print(f"  {label:<44} {status}  [{took:.1f} s]")
    if out.returncode != 0:
        print(out.stdout[-2000:], out.stderr[-2000:], sep="\n")
        sys.exit(1)
    return out


def build() -> None:
    print("building with PyInstaller (under a minute on two cores)…")
    shutil.rmtree(DIST, ignore_errors=True)
    start = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "PyInstaller", str(ROOT / "rnnbow.spec"), "--noconfirm", "--clean",
         "--distpath", str(ROOT / "dist"), "--workpath", str(ROOT / "build"), "--log-level", "WARN"],
        check=True, cwd=ROOT,
    )
    print(f"  built in {time.monotonic() - start:.1f} s")


def check_screenshot(path: Path) -> str:
    """Fail unless `path` is a window-sized PNG with real content; returns a one-line description."""
    from PySide6.QtGui import QImage  # the freeze environment has the project, so PySide6, installed

    if not path.exists():
        sys.exit(f"the window wrote no screenshot to {path}")
    image = QImage(str(path))
    if image.isNull():
        sys.exit(f"{path} is not a readable image")
    if image.width() < 1000 or image.height() < 600:
        sys.exit(f"the screenshot is {image.width()}×{image.height()}: not the main window")
    small = image.scaled(160, 100).convertToFormat(QImage.Format.Format_RGB32)
    colors = {small.pixel(x, y) for x in range(small.width()) for y in range(small.height())}
    if len(colors) < 50:
        sys.exit(f"the screenshot is nearly blank ({len(colors)} colours)")
    return f"{image.width()}×{image.height()}, {len(colors)} colours in a 160×100 thumbnail"


def smoke_test() -> None:
    if not EXE.exists():
        sys.exit(f"{EXE} does not exist; build first")
    print(f"frozen app: {DIST} ({folder_size(DIST) / 1e6:.0f} MB)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = "/usr/bin:/bin"  # nothing from the development environment
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        session, picture = tmp / "smoke.h5", tmp / "smoke.png"
        version = check("--version", [str(EXE), "--version"], env).stdout.strip()
        check("train c-like (bundled sample), 300 batches", [str(EXE), "train", "c-like", "--batches", "300", "--out", str(session), "--quiet"], env)
        info = check("info", [str(EXE), "info", str(session)], env).stdout
        if "300 batches" not in info:
            sys.exit(f"unexpected info output:\n{info}")
        check("render --batch 299 --hover-step 20", [str(EXE), "render", str(session), "--batch", "299", "--hover-step", "20", "--out", str(picture)], env)
        if picture.stat().st_size < 10_000:
            sys.exit("the rendered PNG is suspiciously small")
        screenshot = tmp / "window.png"
        gui_env = dict(env, RNNBOW_QUIT_AFTER_MS="3000", RNNBOW_SCREENSHOT=str(screenshot),
                       RNNBOW_SETTINGS_DIR=str(tmp / "settings"), XDG_DATA_HOME=str(tmp / "data"))
        if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
            gui_env["QT_QPA_PLATFORM"] = "offscreen"
        check(f"gui {session.name} (window opens, quits after 3 s)", [str(EXE), "gui", str(session)], gui_env, timeout=120)
        print(f"  window screenshot: {check_screenshot(screenshot)}")
        print(f"all smoke tests passed for {version}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    if not args.no_build:
        build()
    smoke_test()


if __name__ == "__main__":
    main()
