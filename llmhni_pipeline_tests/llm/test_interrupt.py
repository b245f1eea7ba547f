"""Ctrl-C during a judge run: the batches in flight finish and are cached, nothing more is started."""

import os
import signal
import threading
import time

import pytest

from llmhni_pipeline.llm.cache import CallCache
from llmhni_pipeline.llm.gateway import RunOptions, judge_prompts
from llmhni_pipeline.llm.interfaces import CallStatus, JudgePrompt, JudgeResult


class SlowJudge:
    backend, model = "local", "slow"

    def __init__(self, seconds_per_prompt: float):
        self.seconds, self.scored = seconds_per_prompt, 0

    def score(self, batch):
        out = []
        for _ in batch:
            time.sleep(self.seconds)
            self.scored += 1
            out.append(JudgeResult(0.7, 0.2, 0.1, 1.0, "High", CallStatus.OK, 10, 1))
        return out


def test_an_interrupt_stops_within_a_batch_and_keeps_every_finished_answer(tmp_path):
    prompts = [JudgePrompt("s", f"u {i}", "v") for i in range(40)]
    judge, cache = SlowJudge(0.1), CallCache(tmp_path, "j")
    logs = []
    options = RunOptions(batch_size=4, max_in_flight=1, report=logs.append)
    sent = {}

    def interrupt():
        sent["at"] = time.perf_counter()
        os.kill(os.getpid(), signal.SIGINT)

    # Ctrl-C as a fresh process gets it, whatever handler an earlier test in this process left installed (a
    # handler that only records the signal, as Dagster's capture_interrupts installs, would let the run finish)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.6, interrupt)
    try:
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            judge_prompts(judge, prompts, cache, options)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    stopped_after = time.perf_counter() - sent["at"]
    assert stopped_after < 4 * 0.1 + 0.5  # at most the batch in flight after the signal
    assert (
        0 < judge.scored < 40 and judge.scored % 4 == 0 and len(cache) == judge.scored
    )  # all finished cached
    assert any("interrupted" in m for m in logs)
    again, stats = judge_prompts(SlowJudge(0.0), prompts, cache, RunOptions(batch_size=4, report=logs.append))
    assert stats.cache_hits == judge.scored and stats.calls == 40 - judge.scored  # nothing is paid twice


class OrchestratorInterrupt(BaseException):
    """What Dagster raises on SIGINT inside a step (DagsterExecutionInterruptedError): not a KeyboardInterrupt."""


def test_any_interrupt_keeps_the_batch_in_flight(tmp_path):
    prompts = [JudgePrompt("s", f"u {i}", "v") for i in range(12)]
    cache = CallCache(tmp_path, "j")

    class Interrupting(SlowJudge):
        def score(self, batch):
            if self.scored == 4:  # the second batch starts: the signal arrives while it runs (0.2 s)
                signal.raise_signal(signal.SIGUSR1)
            return super().score(batch)

    def interrupt(signum, frame):
        raise OrchestratorInterrupt

    previous = signal.signal(signal.SIGUSR1, interrupt)
    try:
        judge = Interrupting(0.05)
        with pytest.raises(OrchestratorInterrupt):
            judge_prompts(
                judge, prompts, cache, RunOptions(batch_size=4, max_in_flight=1, report=lambda m: None)
            )
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert judge.scored == 8 and len(cache) == 8  # both finished batches cached, the third never started


@pytest.mark.parametrize("kind", ["embed", "judge"])
def test_ctrl_c_stops_an_endpoint_stage_within_seconds_and_sends_nothing_more(tmp_path, kind):
    """A hung endpoint (20 s per answer, a 5 s timeout, six attempts): the stage stops within a second of the
    signal instead of waiting out timeouts and retries, and no request is sent after it."""
    from llmhni_pipeline.llm.gateway import embed_texts
    from llmhni_pipeline.llm.openai_backend import OpenAIEmbedder, OpenAIJudge, OpenAISettings
    from llmhni_pipeline_tests.support.fake_openai import FakeOpenAI

    with FakeOpenAI(latency_s=20) as server:
        settings = OpenAISettings(
            base_url=server.base_url, api_key="sk-x", timeout_s=5, max_attempts=6, max_in_flight=2
        )
        options = RunOptions(batch_size=4, max_in_flight=2, report=lambda m: None)
        texts = [f"text {i}" for i in range(40)]
        sent = {}

        def interrupt():
            sent["at"], sent["received"] = time.perf_counter(), server.received
            os.kill(os.getpid(), signal.SIGINT)

        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        timer = threading.Timer(1.0, interrupt)
        try:
            timer.start()
            with pytest.raises(KeyboardInterrupt):
                if kind == "embed":
                    embed_texts(OpenAIEmbedder(settings), texts, CallCache(tmp_path, "e"), options)
                else:
                    prompts = [JudgePrompt("s", t, "v") for t in texts]
                    judge_prompts(OpenAIJudge(settings), prompts, CallCache(tmp_path, "j"), options)
            stopped_after = time.perf_counter() - sent["at"]
        finally:
            timer.cancel()
            signal.signal(signal.SIGINT, previous)
        time.sleep(5.5)  # past the 5 s timeout: a retry of a request abandoned at the signal would come now
        assert stopped_after < 2.0, stopped_after
        assert server.received == sent["received"]
