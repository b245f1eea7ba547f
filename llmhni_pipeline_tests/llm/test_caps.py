"""Every call cap holds for every way the judge sends prompts (synchronous, a pool of endpoints, batches) and every
price situation (a listed model, a dated snapshot of one, a model of unknown price, one priced by configuration):
one table, each row a real ``llm_logical_scores`` run against fake OpenAI servers on 127.0.0.1.

What a row counts as sent: chat requests the servers received (synchronous, pool), or lines in the batch files
uploaded (batch mode: a batch is calls)."""

from __future__ import annotations

import json
from contextlib import ExitStack

import pytest
from pydantic import ValidationError

from llmhni_pipeline.llm.accounting import DEFAULT_PRICES, Budget, UnknownPrice, call_cost, price_of
from llmhni_pipeline.llm.batch import BATCH_DISCOUNT
from llmhni_pipeline.llm.cache import CallCache
from llmhni_pipeline.llm.gateway import RunOptions, judge_prompts, prompt_tokens
from llmhni_pipeline.llm.openai_backend import OpenAIJudge, OpenAISettings
from llmhni_pipeline.resources.llm import LLMResource
from llmhni_pipeline_tests.assets.test_judge_batches import _run
from llmhni_pipeline_tests.denoise.test_trial import _partition, write_tables
from llmhni_pipeline_tests.support.fake_openai import FakeOpenAI

N_USERS = 10  # 40 candidate pairs: 40 user-centric prompts in the first round
ONE_PROMPT_USD = 1e-6  # below the cost of any single prompt at gpt-4o's price: nothing may be sent


def _sent(servers: list[FakeOpenAI]) -> int:
    """Chat requests received, plus lines of every batch file uploaded."""
    batch_lines = sum(
        len([t for t in content.decode().splitlines() if t.strip()])
        for s in servers
        for content in s.batch_api.files.values()
    )
    return sum(s.requests for s in servers) + batch_lines


BACKENDS = ("sync", "pool", "batch")
# (name, resource settings, stage settings, the most inputs that may be sent, refused at once)
CAPS = [
    ("max_calls 0", {"max_calls": 0}, {}, 0, False),
    ("max_calls 3", {"max_calls": 3}, {}, 3, False),
    ("max_calls_per_run 0", {}, {"max_calls_per_run": 0}, 0, False),
    ("max_calls_per_run 3", {}, {"max_calls_per_run": 3}, 3, False),
    ("auto, max_calls 0", {"max_calls": 0}, {"coverage": "auto"}, 0, False),
    (
        "cost below one prompt, gpt-4o",
        {"max_cost_usd": ONE_PROMPT_USD, "judge_model": "gpt-4o"},
        {},
        0,
        False,
    ),
    (
        "cost below one prompt, dated snapshot",
        {"max_cost_usd": ONE_PROMPT_USD, "judge_model": "gpt-4o-2024-08-06"},
        {},
        0,
        False,
    ),
    ("cost cap 0", {"max_cost_usd": 0.0, "judge_model": "gpt-4o"}, {}, 0, False),
    ("cost cap, unknown price", {"max_cost_usd": 5.0, "judge_model": "gpt-4.1"}, {}, 0, True),
    (
        "cost below one prompt, priced by configuration",
        {"max_cost_usd": ONE_PROMPT_USD, "judge_model": "gpt-4.1", "prices": {"gpt-4.1": [2.0, 8.0]}},
        {},
        0,
        False,
    ),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("name", "resource", "stage", "most", "refused"), CAPS, ids=[c[0] for c in CAPS])
def test_no_cap_is_slipped_past(tmp_path, datasets_instance, backend, name, resource, stage, most, refused):
    interactions, candidates, profiles = _partition(n_users=N_USERS)
    lake = write_tables(tmp_path / "lake", "shop", interactions, candidates, profiles)
    with ExitStack() as stack:
        servers = [stack.enter_context(FakeOpenAI()) for _ in range(2 if backend == "pool" else 1)]
        settings = {
            "lake_dir": str(lake),
            "judge_backend": "openai-batch" if backend == "batch" else "openai",
            "base_url": ",".join(s.base_url for s in servers),
            "judge_model": "gpt-4o-mini",
            **resource,
        }
        if refused:  # a cap that could not hold refuses to start, naming the setting that supplies a price
            with pytest.raises(
                ValidationError, match=r"price of the judge model 'gpt-4.1' is unknown.*prices"
            ):
                LLMResource(**settings)
            assert _sent(servers) == 0
            return
        result = _run(
            lake, datasets_instance("shop"), LLMResource(**settings), **{"coverage": "full", **stage}
        )
        sent = _sent(servers)
    assert sent <= most, f"{name} on {backend}: {sent} inputs sent, the cap allows {most}"
    if most:  # the cap is used, not just respected
        assert sent == most
    if backend != "batch" or sent == 0:  # nothing submitted: the stage finishes from the cache, unjudged
        assert result.success
        meta = result.asset_materializations_for_node("llm_logical_scores")[0].metadata
        assert meta["unjudged_pairs"].value > 0
        assert "judged every pair" not in str(meta.get("coverage_decision", ""))
    else:  # a capped batch was submitted: the stage waits for it
        assert not result.success


def test_a_cost_cap_is_checked_before_sending_not_after(tmp_path):
    """A cap worth five prompts sends at most five prompts' estimated cost, in any batch size (it once stopped
    only after the batch that crossed it: 32 calls for a cap below one)."""
    _, candidates, profiles = _partition(n_users=N_USERS)
    from llmhni_pipeline.denoise.prompts import build_prompts

    prompts, _ = build_prompts(candidates, profiles)
    price = DEFAULT_PRICES["gpt-4o"]
    each = [(t_in * price[0] + t_out * price[1]) / 1e6 for t_in, t_out in map(prompt_tokens, prompts)]
    cap = sum(each[:5]) + each[5] / 2
    with FakeOpenAI() as server:
        judge = OpenAIJudge(OpenAISettings(base_url=server.base_url, judge_model="gpt-4o", api_key="k"))
        options = RunOptions(batch_size=32, budget=Budget(None, cap), report=lambda _: None)
        answers, stats = judge_prompts(judge, prompts, CallCache(tmp_path / "cache", "j"), options)
    # the fake bills fewer tokens than estimated (words, not characters / 4), so more than five may fit; what is
    # billed never crosses the cap, and the run stops at it rather than sending every prompt
    assert 5 <= server.requests < len(prompts) and stats.calls == server.requests
    assert stats.cost_usd <= cap and stats.stopped_by_budget
    assert stats.skipped == len(prompts) - server.requests


def test_a_cost_cap_on_an_unknown_price_refuses_in_the_gateway_too(tmp_path):
    _, candidates, profiles = _partition(n_users=2)
    from llmhni_pipeline.denoise.prompts import build_prompts

    prompts, _ = build_prompts(candidates, profiles)
    with FakeOpenAI() as server:
        judge = OpenAIJudge(OpenAISettings(base_url=server.base_url, judge_model="gpt-4.1", api_key="k"))
        options = RunOptions(budget=Budget(None, 10.0), report=lambda _: None)
        with pytest.raises(UnknownPrice, match="prices"):
            judge_prompts(judge, prompts, CallCache(tmp_path / "cache", "j"), options)
    assert server.requests == 0


def test_a_dated_snapshot_takes_its_models_price_and_an_unknown_model_none():
    assert price_of("gpt-4o-2024-08-06", DEFAULT_PRICES) == DEFAULT_PRICES["gpt-4o"]
    assert price_of("gpt-4o-mini-2024-07-18", DEFAULT_PRICES) == DEFAULT_PRICES["gpt-4o-mini"]
    assert price_of("gpt-4.1", DEFAULT_PRICES) is None and price_of("gpt-4o-x", DEFAULT_PRICES) is None
    assert call_cost("gpt-4o-2024-08-06", 1_000_000, 0, DEFAULT_PRICES) == DEFAULT_PRICES["gpt-4o"][0]
    assert BATCH_DISCOUNT == 0.5


def test_a_cost_cap_on_an_unknown_embedding_model_or_a_near_miss_name_is_refused():
    """Only a dated snapshot borrows its model's price: a capitalised name, a fine-tune's suffix or an unknown
    embedding model has none, and a cost cap on it refuses to start."""
    for settings in (
        {"judge_backend": "openai", "judge_model": "GPT-4o"},
        {"judge_backend": "openai", "judge_model": "gpt-4o-2024-08-06-ft"},
        {"embed_backend": "openai", "embed_model": "text-embedding-4"},
    ):
        with pytest.raises(ValidationError, match="is unknown"):
            LLMResource(max_cost_usd=1.0, **settings)
    LLMResource(max_cost_usd=1.0, judge_backend="local")  # the embedded judge costs nothing


def test_a_resource_price_list_is_checked():
    with pytest.raises(ValidationError, match="two numbers"):
        LLMResource(prices={"gpt-4.1": [2.0]})
    assert json.dumps(LLMResource(prices={"m": [1.0, 2.0]}).price_list()["m"]) == "[1.0, 2.0]"
