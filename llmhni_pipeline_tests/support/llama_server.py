"""A real ``python -m llama_cpp.server`` on a free loopback port, for the slow tests that need one."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ALIAS = "local-judge"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_llama_server(model: Path, threads: int = 2) -> tuple[subprocess.Popen, str]:
    """The server process and its base URL, once it answers ``/models`` (the test fails after 120 s)."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--model_alias",
            ALIAS,
            "--n_threads",
            str(threads),
            "--logits_all",
            "true",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/models", timeout=2)
            return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    proc.wait(timeout=30)
    pytest.fail(f"{url}: llama_cpp.server did not start in 120 s")
