"""A pool of OpenAI-compatible endpoints: spread, an endpoint lost mid-run, paid once across the pool."""

import threading
import time

import pytest

from llmhni_pipeline.llm.cache import CallCache
from llmhni_pipeline.llm.gateway import RunOptions, judge_prompts
from llmhni_pipeline.llm.interfaces import CallStatus, JudgePrompt
from llmhni_pipeline.llm.openai_backend import OpenAIJudge, OpenAISettings, base_urls
from llmhni_pipeline_tests.support.fake_openai import FakeOpenAI
from llmhni_pipeline_tests.support.llama_server import ALIAS, start_llama_server

PROMPTS = [JudgePrompt("s", f"pair {i} [gold:{['High', 'Mid', 'Low'][i % 3]}]", "v1") for i in range(60)]


def _judge(urls: str, **kw) -> OpenAIJudge:
    settings = {
        "base_url": urls,
        "api_key": "k",
        "judge_model": "m",
        "timeout_s": 5,
        "max_attempts": 8,
        "max_wait_s": 0.05,
        "max_in_flight": 2,
    }
    return OpenAIJudge(OpenAISettings(**{**settings, **kw}))


def test_base_urls_are_a_list_of_endpoints():
    assert base_urls(None) == [None] and base_urls("") == [None]
    assert base_urls("http://a/v1, http://b/v1 http://a/v1") == ["http://a/v1", "http://b/v1"]


def test_work_is_spread_and_a_lost_endpoint_hands_its_work_to_the_other(tmp_path):
    with FakeOpenAI(latency_s=0.05) as a, FakeOpenAI(latency_s=0.05) as b:
        judge = _judge(f"{a.base_url},{b.base_url}")
        assert len(judge.pool) == 2 and a.base_url in judge.endpoint() and b.base_url in judge.endpoint()

        def lose_a():  # mid-run on any machine: once a has answered a few
            while sum(a.paid.values()) < 4:
                time.sleep(0.005)
            a.go_down()

        timer = threading.Thread(target=lose_a, daemon=True)
        timer.start()
        results, stats = judge_prompts(
            judge, PROMPTS, CallCache(tmp_path, "j"), RunOptions(batch_size=10, report=lambda m: None)
        )
        timer.join(timeout=5)
        assert (
            stats.failed == 0
            and stats.calls == len(PROMPTS)
            and all(r.status is CallStatus.OK for r in results)
        )
        assert (
            0 < sum(a.paid.values()) < len(PROMPTS) and sum(b.paid.values()) > 0
        )  # both served, a until it died
        # every prompt answered and cached exactly once across the pool (a request a dying server took may be paid
        # there and asked again of the other: at most the requests in flight at the loss)
        assert len(CallCache(tmp_path, "j")) == len(PROMPTS)
        assert sum(a.paid.values()) + sum(b.paid.values()) <= len(PROMPTS) + 2 * judge.pool.per_endpoint
        lost = next(e for e in judge.pool.endpoints if e.url == a.base_url)
        assert lost.out_until > time.monotonic()  # taken out for the cool-down
        single, _ = judge_prompts(
            _judge(b.base_url), PROMPTS, CallCache(tmp_path / "one", "j"), RunOptions(report=lambda m: None)
        )
    assert [(r.p_high, r.p_mid, r.p_low) for r in results] == [(r.p_high, r.p_mid, r.p_low) for r in single]


@pytest.mark.slow
def test_two_real_llama_cpp_servers_one_killed_mid_run(judge_model_path, tmp_path):
    """Two real `python -m llama_cpp.server` processes with the embedded judge; one is killed mid-run: the run
    finishes on the other, every prompt is judged once, and the probabilities equal a single server's."""
    model = judge_model_path("qwen2.5-coder-0.5b")
    servers, urls = [], []
    try:
        for _ in range(2):
            proc, url = start_llama_server(model, threads=1)
            servers.append(proc)
            urls.append(url)
        prompts = [
            JudgePrompt(
                "Answer High, Mid or Low.",
                f"User likes {t}.\nTarget item: a book about {t}.\nRelevance:",
                "real-v1",
            )
            for t in (
                "horror",
                "cooking",
                "space",
                "gardening",
                "jazz",
                "chess",
                "sailing",
                "poetry",
                "football",
                "birds",
                "trains",
                "tea",
            )
        ]
        judge = _judge(",".join(urls), judge_model=ALIAS, timeout_s=60, max_in_flight=1)
        killed = {}

        def kill_after_two_requests():  # mid-run whatever the machine's speed: once it has served two
            while judge.pool.endpoints[0].requests < 2:
                time.sleep(0.01)
            servers[0].kill()
            killed["at"] = time.monotonic()

        killer = threading.Thread(target=kill_after_two_requests, daemon=True)
        killer.start()
        results, stats = judge_prompts(
            judge, prompts, CallCache(tmp_path, "j"), RunOptions(batch_size=4, report=lambda m: None)
        )
        ended = time.monotonic()
        killer.join(timeout=5)
        assert (
            servers[0].wait(timeout=10) is not None and killed["at"] < ended
        )  # it died while the run went on
        first, second = judge.pool.endpoints
        assert first.requests > 0 and second.requests > first.requests  # both served; the survivor the rest
        assert (
            stats.failed == 0
            and stats.calls == len(prompts)
            and len(CallCache(tmp_path, "j")) == len(prompts)
        )
        alone, _ = judge_prompts(
            _judge(urls[1], judge_model=ALIAS, timeout_s=60, max_in_flight=1),
            prompts,
            CallCache(tmp_path / "alone", "j"),
            RunOptions(batch_size=4, report=lambda m: None),
        )
        for r, s in zip(results, alone, strict=True):
            assert r.p_high == pytest.approx(s.p_high, abs=1e-4) and r.p_low == pytest.approx(
                s.p_low, abs=1e-4
            )
    finally:
        for server in servers:
            server.kill()
            server.wait(timeout=30)
