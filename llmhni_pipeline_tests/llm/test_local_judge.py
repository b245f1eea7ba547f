"""The embedded llama.cpp judge (real SmolLM2-135M weights: a smoke-test model for the code path)."""

import math

import pytest

from llmhni_pipeline.llm.cache import CallCache
from llmhni_pipeline.llm.gateway import RunOptions, judge_prompts
from llmhni_pipeline.llm.interfaces import CallStatus, JudgePrompt

SYSTEM = "Judge whether the user would enjoy the target item. Answer with one word: High, Mid or Low."
USERS = [
    "User: loves horror films, ghosts and haunted houses.",
    "User: enjoys baking bread and Italian recipes.",
]
ITEMS = ["A haunted-house horror movie.", "A romantic comedy.", "An Italian pasta cookbook."]


@pytest.fixture(scope="module")
def judge(judge_model_path):
    from llmhni_pipeline.llm.local_backends import LlamaCppJudge

    return LlamaCppJudge(judge_model_path("smollm2-135m"), "smollm2-135m", n_threads=2)


def _prompts():
    return [JudgePrompt(SYSTEM, f"{u}\nTarget item: {i}\nRelevance:", "t1") for u in USERS for i in ITEMS]


def test_scores_are_probabilities_over_the_label_tokens(judge):
    judge.forget_prefix()
    results = judge.score(_prompts()[:2])
    for r in results:
        assert r.status is CallStatus.OK
        assert math.isclose(r.p_high + r.p_mid + r.p_low, 1.0, rel_tol=1e-6)
        assert 0 < r.label_mass <= 1
    assert results[0].tokens_in > 20 and results[1].tokens_in < results[0].tokens_in  # shared prefix reused


def test_prefix_reuse_evaluates_only_the_suffix_and_keeps_the_answer(judge):
    prompts = _prompts()
    judge.reuse_prefix = False
    fresh = judge.score(prompts)
    judge.reuse_prefix = True
    judge.forget_prefix()
    reused = judge.score(prompts)
    assert sum(r.tokens_in for r in reused) < 0.6 * sum(r.tokens_in for r in fresh)
    # llama.cpp's quantised matmuls are not bit-identical across batch shapes: close, not equal
    for a, b in zip(fresh, reused, strict=True):
        assert abs(a.p_high - b.p_high) < 0.05 and abs(a.p_low - b.p_low) < 0.05


def test_local_judgments_are_cached(judge, tmp_path):
    options = RunOptions(batch_size=4, report=lambda m: None)
    first, stats = judge_prompts(judge, _prompts(), CallCache(tmp_path, "j"), options)
    again, stats2 = judge_prompts(judge, _prompts(), CallCache(tmp_path, "j"), options)
    assert stats.calls == 6 and stats2.calls == 0 and stats2.cache_hits == 6
    assert [r.p_high for r in first] == [r.p_high for r in again]
