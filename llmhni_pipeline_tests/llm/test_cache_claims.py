"""Two processes judging the same inputs at once (two runs of one partition, on two workers) pay each prompt
once, and the cache stays readable while another process compacts it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import polars as pl
import pytest

from llmhni_pipeline.lake import is_remote
from llmhni_pipeline.llm.cache import CallCache
from llmhni_pipeline_tests.support.fake_openai import FakeOpenAI

CHILD = """
import sys
from llmhni_pipeline.lake import lake_location
from llmhni_pipeline.llm.cache import CallCache
from llmhni_pipeline.llm.gateway import RunOptions, judge_prompts
from llmhni_pipeline.llm.interfaces import JudgePrompt
from llmhni_pipeline.llm.openai_backend import OpenAIJudge, OpenAISettings
settings = OpenAISettings(base_url=sys.argv[1], api_key="k", judge_model="m", timeout_s=30, max_in_flight=4)
prompts = [JudgePrompt("s", f"u{i} [gold:High]", "v1") for i in range(48)]
results, stats = judge_prompts(OpenAIJudge(settings), prompts, CallCache(lake_location(sys.argv[2]), "judgments"),
                               RunOptions(batch_size=8, max_in_flight=1, report=lambda m: print(m, flush=True)))
print("RESULT", stats.calls, stats.cache_hits, sum(r.p_high for r in results), flush=True)
"""


def test_two_processes_judging_the_same_prompts_pay_each_once(tmp_path):
    two_processes_pay_each_prompt_once(tmp_path)


@pytest.mark.s3
def test_two_processes_judging_the_same_prompts_on_a_bucket_pay_each_once(s3_lake):
    two_processes_pay_each_prompt_once(s3_lake)


def two_processes_pay_each_prompt_once(cache_root) -> None:
    with FakeOpenAI(latency_s=0.02) as server:
        children = [
            subprocess.Popen(
                [sys.executable, "-c", CHILD, server.base_url, str(cache_root)],
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                stdout=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            for _ in range(2)
        ]
        outs = [child.communicate(timeout=120)[0] for child in children]
    assert all(child.returncode == 0 for child in children), outs
    assert len(server.paid) == 48 and set(server.paid.values()) == {1}, server.paid  # never twice
    results = [line.split()[1:] for out in outs for line in out.splitlines() if line.startswith("RESULT")]
    calls = sorted(int(r[0]) for r in results)
    assert calls == [0, 48], outs  # one paid for all, the other found every answer cached
    assert results[0][2] == results[1][2]  # the same probabilities
    assert any("waiting: process" in out and "same 48 inputs" in out for out in outs), outs
    if is_remote(cache_root):  # every lease object is deleted on release (a folder keeps unlocked lock files)
        assert not list((cache_root / "judgments" / "_claims").glob("*"))


def test_a_claim_held_by_a_killed_process_is_released(tmp_path):
    cache = CallCache(tmp_path, "judgments")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time, pathlib\n"
         "from llmhni_pipeline.llm.cache import CallCache\n"
         "with CallCache(pathlib.Path(sys.argv[1]), 'judgments').claim(['a', 'b']):\n"
         "    print('held', flush=True); time.sleep(60)\n", str(tmp_path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    started = time.monotonic()
    with cache.claim(["b", "a"], report=lambda m: None):
        pass
    assert time.monotonic() - started < 2


@contextmanager
def reading(root, rows: int) -> Iterator[tuple[list[str], list[int]]]:
    """A thread that loads the judgments cache at ``root`` over and over until the block ends, expecting ``rows``
    rows each time; yields (the errors it met, [how many reads succeeded])."""
    stop, errors, reads = threading.Event(), [], [0]

    def read() -> None:
        reader = CallCache(root, "judgments")
        while not stop.is_set():
            try:
                assert reader.load().height == rows
                reads[0] += 1
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                errors.append(repr(exc))

    thread = threading.Thread(target=read)
    thread.start()
    try:
        yield errors, reads
    finally:
        stop.set()
        thread.join()


def test_reading_while_another_process_compacts_never_fails(tmp_path):
    cache = CallCache(tmp_path, "judgments")
    rows = pl.DataFrame({"key": [f"k{i}" for i in range(200)], "value": [float(i) for i in range(200)]})
    for lo in range(0, 200, 10):
        cache.put(rows[lo : lo + 10])
    with reading(tmp_path, 200) as (errors, reads):
        for _ in range(30):  # a compaction, then 20 more (duplicate) segments for the next one
            cache.compact()
            for lo in range(0, 200, 10):
                cache.put(rows[lo : lo + 10])
    assert not errors, errors[:3]
    assert reads[0] > 10
