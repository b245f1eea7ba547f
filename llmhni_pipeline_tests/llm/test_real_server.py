"""The OpenAI backend against a real OpenAI-compatible server: llama_cpp.server with Qwen2.5-Coder-0.5B."""

import numpy as np
import pytest

from llmhni_pipeline.llm.cache import CallCache
from llmhni_pipeline.llm.gateway import RunOptions, judge_prompts
from llmhni_pipeline.llm.interfaces import CallStatus, JudgePrompt
from llmhni_pipeline.llm.openai_backend import OpenAIJudge, OpenAISettings
from llmhni_pipeline_tests.support.llama_server import start_llama_server

pytestmark = pytest.mark.slow

SYSTEM = (
    "Judge whether the user would genuinely enjoy the target item. Answer with one word: High, Mid or Low."
)
PAIRS = [
    ("loves horror films, ghosts and haunted houses", "a haunted-house horror movie", "High"),
    ("loves horror films, ghosts and haunted houses", "an Italian pasta cookbook", "Low"),
    ("enjoys baking bread and Italian recipes", "an Italian pasta cookbook", "High"),
    ("enjoys baking bread and Italian recipes", "a haunted-house horror movie", "Low"),
]


@pytest.fixture(scope="module")
def server(judge_model_path):
    proc, url = start_llama_server(judge_model_path("qwen2.5-coder-0.5b"))
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_judge_through_a_real_openai_compatible_server(server, tmp_path):
    judge = OpenAIJudge(
        OpenAISettings(
            base_url=server, api_key="none", judge_model="local-judge", timeout_s=120, max_in_flight=1
        )
    )
    prompts = [
        JudgePrompt(SYSTEM, f"User: {u}\nTarget item: {i}\nRelevance:", "real-v1") for u, i, _ in PAIRS
    ]
    options = RunOptions(batch_size=2, report=lambda m: None)
    results, stats = judge_prompts(judge, prompts, CallCache(tmp_path, "j"), options)
    assert stats.calls == 4 and stats.failed == 0
    assert all(r.status is CallStatus.OK for r in results)
    assert all(abs(r.p_high + r.p_mid + r.p_low - 1) < 1e-6 for r in results)
    scores = np.array([r.score for r in results])
    gold = np.array([g == "High" for _, _, g in PAIRS])
    assert scores[gold].mean() > scores[~gold].mean()  # the ranking signal survives the HTTP round trip
    again, stats2 = judge_prompts(judge, prompts, CallCache(tmp_path, "j"), options)
    assert stats2.calls == 0 and [r.score for r in again] == list(scores)
