"""The judge in batch mode through Dagster: the stage submits and waits, the sensor follows the batches and asks
for the partition again, two rounds later the stage finishes from the cache without one synchronous call."""

import dagster as dg

from llmhni_pipeline.assets.aligned_projector import aligned_projector
from llmhni_pipeline.assets.candidate_pairs import candidate_pairs
from llmhni_pipeline.assets.llm_embeddings import llm_embeddings
from llmhni_pipeline.assets.llm_logical_scores import llm_logical_scores
from llmhni_pipeline.assets.raw_interactions import raw_interactions
from llmhni_pipeline.assets.text_profiles import text_profiles
from llmhni_pipeline.automation import AFTER_JUDGING, judge_batches_sensor
from llmhni_pipeline.definitions import build_resources
from llmhni_pipeline.lake import table_path
from llmhni_pipeline.resources.llm import LLMResource
from llmhni_pipeline_tests.denoise.test_trial import _partition, write_tables
from llmhni_pipeline_tests.support.fake_openai import FakeOpenAI


def _run(lake, instance, llm, coverage="full", **stage):
    """``llm_logical_scores`` of ``shop`` from the lake's upstream tables, with this coverage and stage config."""
    return dg.materialize(
        [
            raw_interactions,
            text_profiles,
            llm_embeddings,
            aligned_projector,
            candidate_pairs,
            llm_logical_scores,
        ],
        selection=[llm_logical_scores],
        partition_key="shop",
        instance=instance,
        resources={**build_resources(str(lake)), "llm": llm},
        run_config={"ops": {"llm_logical_scores": {"config": {"coverage": coverage, **stage}}}},
        raise_on_error=False,
    )


def _failure(result) -> str:
    (event,) = [e for e in result.all_events if e.is_step_failure]
    return event.step_failure_data.user_failure_data.description


def _tick(instance, llm):
    with dg.build_sensor_context(instance=instance, resources={"llm": llm}) as context:
        return judge_batches_sensor(context)


def test_batch_mode_submits_waits_and_finishes_from_the_cache(tmp_path, datasets_instance):
    interactions, candidates, profiles = _partition(n_users=30)
    lake = write_tables(tmp_path / "lake", "shop", interactions, candidates, profiles)
    instance = datasets_instance("shop")
    with FakeOpenAI() as server:
        llm = LLMResource(
            lake_dir=str(lake),
            judge_backend="openai-batch",
            base_url=server.base_url,
            judge_model="gpt-4o-mini",
        )
        assert isinstance(_tick(instance, llm), dg.SkipReason)  # nothing open yet
        first = _run(lake, instance, llm)
        assert not first.success
        assert "shop: waiting for batch batch_1 (120 prompts)" in _failure(first)  # every user-centric prompt
        assert not table_path(lake, "llm_logical_scores", "shop").exists()  # nothing passed on as judged
        again = _run(lake, instance, llm)  # a second launch while it is open submits nothing
        assert "waiting for batch batch_1" in _failure(again) and server.batch_api.creates == 1
        ticks = [_tick(instance, llm) for _ in range(3)]
        assert (
            all(isinstance(t, dg.SkipReason) for t in ticks[:2])
            and "batch_1 in_progress (0/120)" in ticks[0].skip_message
        )
        (request,) = ticks[2]
        assert request.partition_key == "shop" and {
            k.to_user_string() for k in request.asset_selection
        } == set(AFTER_JUDGING)
        # round 2: the item-centric prompts of the pairs judged High (each user's two real items, [gold:High])
        second = _run(lake, instance, llm)
        assert "waiting for batch batch_2 (60 prompts)" in _failure(second)
        for _ in range(3):
            last = _tick(instance, llm)
        assert isinstance(last, list) and last[0].run_key == "batches:shop:batch_2"
        done = _run(lake, instance, llm)
        assert done.success
        meta = done.asset_materializations_for_node("llm_logical_scores")[0].metadata
        assert meta["llm_calls"].value == 0 and meta["batches"].value == "batch_1, batch_2"
        assert meta["batch_answers_cached"].value == 180 and meta["batch_cost_usd"].value > 0
        assert server.requests == 0  # not one synchronous call
        assert server.batch_api.creates == 2


def test_a_resource_cap_of_zero_sends_no_judge_call(tmp_path, datasets_instance):
    """``resources: llm: config: {max_calls: 0}`` means no call (it once meant "no cap" beside the stage's own)."""
    interactions, candidates, profiles = _partition(n_users=10)
    lake = write_tables(tmp_path / "lake", "shop", interactions, candidates, profiles)
    with FakeOpenAI() as server:
        llm = LLMResource(lake_dir=str(lake), judge_backend="openai", base_url=server.base_url, max_calls=0)
        result = _run(lake, datasets_instance("shop"), llm)
        assert result.success and server.requests == 0
        meta = result.asset_materializations_for_node("llm_logical_scores")[0].metadata
        assert meta["unjudged_pairs"].value == candidates.height and meta["llm_stopped_by_budget"].value


def test_the_stage_counts_answers_read_from_the_answer_word(tmp_path, datasets_instance):
    """An endpoint that sends no log-probabilities: every label is read from the answer word, and the stage says
    how many (it once said 0 and labelled every pair hard without a warning)."""
    import polars as pl

    interactions, candidates, profiles = _partition(n_users=10)
    lake = write_tables(tmp_path / "lake", "shop", interactions, candidates, profiles)
    instance = datasets_instance("shop")
    with FakeOpenAI() as server:
        server.script = ["no_logprobs"] * 1000
        llm = LLMResource(lake_dir=str(lake), judge_backend="openai", base_url=server.base_url)
        result = _run(lake, instance, llm)
    assert result.success
    meta = result.asset_materializations_for_node("llm_logical_scores")[0].metadata
    table = pl.read_parquet(table_path(lake, "llm_logical_scores", "shop"))
    text = int((table["user_status"] == "text").sum() + (table["item_status"] == "text").sum())
    assert text >= candidates.height and meta["answers_read_from_text"].value == text
    warnings = [e.message for e in instance.all_logs(result.run_id) if e.level >= 30]
    assert any("without log-probabilities" in w for w in warnings)
