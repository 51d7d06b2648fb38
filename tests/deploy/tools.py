"""The command-line checkers the deploy tests run, installed once per machine by the
project's own script (tools/install.sh: npm packages from tools/package-lock.json,
Helm built from its Go module) and found through it."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "tools" / "install.sh"


def _install(what: str) -> Path:
    done = subprocess.run([str(INSTALL), what], capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"tools/install.sh {what} failed:\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


@functools.cache
def npm_bin() -> Path:
    """The .bin folder of tools/package.json's packages."""
    return _install("npm")


@functools.cache
def helm() -> Path:
    return _install("helm")


def run(*argv: str | Path, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env={**os.environ, **env})
