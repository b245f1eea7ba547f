"""Ctrl-C against a slow endpoint (issue 30): a real child process judges 40 prompts through the OpenAI judge
(batches of 32, 8 requests in flight) against the fake server, whose first 8 answers come at once and every
later one after 20 s; SIGINT once 8 more are in flight. Prints the time from the signal to the child's exit and
how many answers it cached (target: ≤ 5 s, the 8 finished ones).

    .venv/bin/python benchmarks/bench_interrupt.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from llmhni_pipeline.llm.cache import CallCache
from llmhni_pipeline_tests.support.children import INTERRUPTED_CHILD
from llmhni_pipeline_tests.support.fake_openai import FakeOpenAI


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for _ in range(args.repeats):
        folder = Path(tempfile.mkdtemp())
        with FakeOpenAI(slow_s=20.0) as server:
            server.script = [None] * 8 + ["slow"] * 100
            child = subprocess.Popen(
                [sys.executable, "-c", INTERRUPTED_CHILD, server.base_url, str(folder)],
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            while server.requests < 16:
                time.sleep(0.02)
            time.sleep(0.2)
            sent = time.perf_counter()
            child.send_signal(signal.SIGINT)
            child.wait(timeout=60)
            took = time.perf_counter() - sent
        print(f"SIGINT to exit: {took:.2f} s; answers cached: {len(CallCache(folder, 'judgments'))}")


if __name__ == "__main__":
    main()
