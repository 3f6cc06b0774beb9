#!/usr/bin/env python3
"""Set up a local virtual environment and run the app or the test suite: the README's two commands.

    python3 scripts/dev.py run     # create/reuse .venv, install, open the window on the default corpus
    python3 scripts/dev.py test    # create/reuse .venv, install with test extras, run the whole suite
    python3 scripts/dev.py freeze  # create/reuse .venv, install with the freeze extra (PyInstaller),
                                   # build the standalone app into dist/rnnbow and smoke-test it
                                   # (scripts/build_frozen.py; about half a minute, CI runs it too)

Standard library only, so it runs on a fresh machine with nothing but Python >= 3.10. On Linux it
checks the system libraries Qt loads and prints the exact `apt-get install` line for any that is
missing (with --install-system-deps, as root, it installs them itself: CI uses that).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("RNNBOW_VENV", ROOT / ".venv"))
IS_WINDOWS = os.name == "nt"
BIN = VENV / ("Scripts" if IS_WINDOWS else "bin")
PY = BIN / ("python.exe" if IS_WINDOWS else "python")

# Shared libraries Qt's offscreen and xcb platforms load, and the Debian/Ubuntu package of each.
DEBIAN_PACKAGES = {
    "libGL.so.1": "libgl1", "libEGL.so.1": "libegl1", "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0", "libGLdispatch.so.0": "libglvnd0",
    "libxkbcommon.so.0": "libxkbcommon0", "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libfontconfig.so.1": "libfontconfig1", "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0", "libgthread-2.0.so.0": "libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3", "libX11.so.6": "libx11-6", "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb.so.1": "libxcb1", "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0", "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0", "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-render.so.0": "libxcb-render0", "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0", "libxcb-sync.so.1": "libxcb-sync1", "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-xinerama.so.0": "libxcb-xinerama0", "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-client.so.0": "libwayland-client0", "libwayland-egl.so.1": "libwayland-egl1",
    "libXau.so.6": "libxau6", "libXdmcp.so.6": "libxdmcp6",
}


def say(message: str) -> None:
    print(f"[rnnbow setup] {message}", flush=True)


def fail(message: str, code: int = 1):
    print(f"[rnnbow setup] {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def ensure_venv() -> None:
    if sys.version_info < (3, 10):
        fail(f"Python 3.10 or newer is needed; this is {platform.python_version()}")
    if PY.exists():
        return
    say(f"creating a virtual environment in {VENV}")
    try:
        venv.EnvBuilder(with_pip=True).create(VENV)
    except (subprocess.CalledProcessError, OSError) as exc:
        shutil.rmtree(VENV, ignore_errors=True)
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        fail(f"could not create the virtual environment ({exc}).\n"
             f"On Debian/Ubuntu install venv support first:  sudo apt-get install -y python{version}-venv")


def ensure_installed(extras: str) -> None:
    """pip-install the project (editable) unless the same pyproject + extras were installed before."""
    stamp = VENV / f".rnnbow-installed-{extras or 'app'}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    target = f"{ROOT}[{extras}]" if extras else str(ROOT)
    say(f"installing rnnbow-desktop{f'[{extras}]' if extras else ''} and its dependencies (first time: about a minute)")
    pip = [str(PY), "-m", "pip", "--disable-pip-version-check", "-q"]
    if subprocess.run([*pip, "install", "--upgrade", "pip"]).returncode != 0:
        fail("pip could not upgrade itself; check the network connection to the package index")
    if subprocess.run([*pip, "install", "-e", target]).returncode != 0:
        fail("installing the project failed (see pip's message above)")
    stamp.write_text(digest)


def missing_qt_libraries(platform_plugin: str) -> list[str]:
    """Shared libraries Qt needs for `platform_plugin` that the dynamic loader cannot find (Linux only)."""
    if not sys.platform.startswith("linux") or shutil.which("ldd") is None:
        return []
    code = "import PySide6, pathlib; print(pathlib.Path(PySide6.__file__).parent)"
    found = subprocess.run([str(PY), "-c", code], capture_output=True, text=True)
    if found.returncode != 0:
        return []
    qt = Path(found.stdout.strip()) / "Qt"
    candidates = [qt / "plugins" / "platforms" / f"libq{platform_plugin}.so", *sorted((qt / "lib").glob("libQt6Gui.so*"))]
    if platform_plugin == "xcb":
        candidates += sorted((qt / "lib").glob("libQt6XcbQpa.so*"))
    missing = set()
    for lib in candidates:
        if not lib.exists():
            continue
        out = subprocess.run(["ldd", str(lib)], capture_output=True, text=True).stdout
        missing.update(line.split()[0] for line in out.splitlines() if "not found" in line)
    return sorted(missing)


def ensure_qt_libraries(platform_plugin: str, install: bool) -> None:
    missing = missing_qt_libraries(platform_plugin)
    if not missing:
        return
    packages = sorted({DEBIAN_PACKAGES.get(lib, "") for lib in missing} - {""})
    unknown = [lib for lib in missing if lib not in DEBIAN_PACKAGES]
    line = f"sudo apt-get install -y {' '.join(packages)}" if packages else ""
    if install and packages and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        say(f"installing system libraries Qt needs: {' '.join(packages)}")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
        if subprocess.run(["apt-get", "install", "-y", "-qq", *packages], env=env).returncode == 0 and not missing_qt_libraries(platform_plugin):
            return
    message = f"Qt needs system libraries that are missing: {', '.join(missing)}."
    if line:
        message += f"\nInstall them with:\n    {line}"
    if unknown:
        message += f"\n(no package known for {', '.join(unknown)}; search with: apt-file search {unknown[0]})"
    fail(message)


def cmd_run(args) -> int:
    ensure_venv()
    ensure_installed("")
    if sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM"):
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            rnnbow = BIN / "rnnbow"
            fail("no display found, so the window cannot open.\n"
                 "Train without a window instead, and open the session later on a machine with a screen:\n"
                 f"    {rnnbow} train c-like --batches 5000 --out c-like.h5\n"
                 f"    {rnnbow} info c-like.h5\n"
                 f"    {rnnbow} render c-like.h5 --out c-like.png")
        ensure_qt_libraries("wayland" if os.environ.get("WAYLAND_DISPLAY") and not os.environ.get("DISPLAY") else "xcb",
                            args.install_system_deps)
    command = [str(PY), "-m", "rnnbow_desktop", "gui", "--corpus", "c-like", *args.rest]
    return subprocess.call(command)


TEST_EXTRAS = "test"
# The PyTorch checks (recorder, replay against torch.nn) run where torch is installed. CI installs this
# release: on the CI machines it is the CPU build, kept on disk; from PyPI on Linux it is a CUDA build
# of several GB, so a user asks for it with --with-torch.
TORCH_FOR_TESTS = "torch==2.13.0"


def ensure_torch() -> None:
    found = subprocess.run([str(PY), "-c", "import torch"], capture_output=True)
    if found.returncode == 0:
        return
    say(f"installing {TORCH_FOR_TESTS} for the PyTorch tests")
    if subprocess.run([str(PY), "-m", "pip", "--disable-pip-version-check", "-q", "install", TORCH_FOR_TESTS]).returncode != 0:
        fail(f"installing {TORCH_FOR_TESTS} failed (see pip's message above)")


def check_architecture() -> int:
    """The layer contracts (import-linter) and the types of core/ and analysis/ (mypy), before the tests."""
    for name, command in (("import layers (lint-imports)", [str(BIN / "lint-imports")]),
                          ("types of core/ and analysis/ (mypy)", [str(PY), "-m", "mypy"])):
        say(f"checking {name}")
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stdout + done.stderr, file=sys.stderr)
            say(f"the check of {name} failed (see above)")
            return done.returncode
    return 0


def cmd_test(args) -> int:
    ensure_venv()
    ensure_installed(TEST_EXTRAS)
    if args.with_torch:
        ensure_torch()
    ensure_qt_libraries("offscreen", args.install_system_deps)
    code = check_architecture()
    if code:
        return code
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.call([str(PY), "-m", "pytest", *args.rest], cwd=ROOT, env=env)


def cmd_freeze(args) -> int:
    ensure_venv()
    ensure_installed("freeze")
    ensure_qt_libraries("offscreen", args.install_system_deps)  # the smoke test opens the window
    return subprocess.call([str(PY), str(ROOT / "scripts" / "build_frozen.py"), *args.rest], cwd=ROOT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("run", "test", "freeze"))
    parser.add_argument("--install-system-deps", action="store_true",
                        help="as root on Debian/Ubuntu, apt-get install missing Qt libraries instead of only naming them")
    parser.add_argument("--with-torch", action="store_true",
                        help=f"test: also install {TORCH_FOR_TESTS} so that the PyTorch tests run instead of skipping")
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="passed on to rnnbow gui / pytest / build_frozen.py")
    args = parser.parse_args()
    return {"run": cmd_run, "test": cmd_test, "freeze": cmd_freeze}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
