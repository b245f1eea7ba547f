"""Judges of known quality through the real stages on ``ml-100k-hide10`` (held-back train edges as the planted
truth): the simulated judge's measured AUC is its target, a partition without planted truth is refused, the
coverage gate judges the rest only for a judge worth it by the partition's own judge-worth curve,
``coverage: full`` judges everything, and no validation or test edge is ever a candidate or in G′."""

import dagster as dg
import polars as pl
import pytest

from llmhni_pipeline.automation import MAIN_JOB
from llmhni_pipeline.definitions import ASSETS, build_resources
from llmhni_pipeline.lake import table_path
from llmhni_pipeline.resources.llm import LLMResource
from llmhni_pipeline_tests.support.fake_openai import FakeOpenAI

KEY = "ml-100k-hide10"
UP_TO_GRAPH = [
    "raw_interactions",
    "text_profiles",
    "llm_embeddings",
    "aligned_projector",
    "pretrained_recommender",
    "candidate_pairs",
    "llm_logical_scores",
    "augmented_graph",
]
SMALL = {
    "pretrained_recommender": {"config": {"epochs": 3, "dim": 16, "n_layers": 2, "lr": 0.01}},
    "aligned_projector": {"config": {"epochs": 2, "d": 8}},
}


def _job(lake, server, auc: float):
    resources = build_resources(str(lake), device="cpu")
    resources["llm"] = LLMResource(
        embed_backend="openai",
        judge_backend="simulated",
        simulated_auc=auc,
        base_url=server.base_url,
        lake_dir=str(lake),
    )
    defs = dg.Definitions(
        assets=ASSETS,
        jobs=[
            dg.define_asset_job(
                MAIN_JOB, selection=dg.AssetSelection.assets(*UP_TO_GRAPH).required_multi_asset_neighbors()
            )
        ],
        resources=resources,
        executor=dg.in_process_executor,
    )
    return defs.resolve_job_def(MAIN_JOB)


def _run(lake, server, instance, auc, key=KEY, **judge):
    config = {
        "ops": {
            **SMALL,
            "llm_logical_scores": {"config": judge},
            "augmented_graph": {"config": {"rule": "remove_and_add"}},  # the paper's rule, no EASE choice
        }
    }
    return _job(lake, server, auc).execute_in_process(
        partition_key=key, instance=instance, run_config=config, raise_on_error=False
    )


def _meta(result, asset):
    return {k: v.value for k, v in result.asset_materializations_for_node(asset)[0].metadata.items()}


@pytest.fixture(scope="module")
def server():
    with FakeOpenAI(dim=12) as s:
        yield s


def test_a_simulated_judge_measures_its_target_auc_and_the_gate_follows_its_worth(
    lake, server, monkeypatch, datasets_instance
):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-gate")
    instance = datasets_instance(KEY, "ml-100k")
    raw = None
    for target in (0.7, 0.9):
        result = _run(lake, server, instance, target, coverage="full")
        assert result.success
        meta = _meta(result, "llm_logical_scores")
        assert meta["coverage"] == "full" and meta["judge"].startswith(f"simulated:simulated-auc{target:g}-")
        assert abs(meta["quality_hidden_judge_auc"] - target) <= 0.02, meta  # against the held-back edges
        assert abs(meta["quality_judge_auc"] - target) <= 0.02
        scores = pl.read_parquet(table_path(lake, "llm_logical_scores", KEY))
        assert scores["trusted"].all() and (scores["label"] != "unjudged").all()
        assert meta["llm_tokens_in"] == 0 and meta["llm_cost_usd"] == 0  # no LLM, no bill
        # an imperfect judge says High to some pairs it should not: none of them is ever a validation pair
        raw = pl.read_parquet(table_path(lake, "raw_interactions", KEY))
        valid = raw.filter(pl.col("split") == "valid").select("user_id", "item_id")
        assert _meta(result, "augmented_graph")["added_edges"] > 0
        for table in ("candidate_pairs", "llm_logical_scores", "augmented_graph"):
            assert (
                pl.read_parquet(table_path(lake, table, KEY)).join(valid, on=["user_id", "item_id"]).height
                == 0
            )
    raw = pl.read_parquet(table_path(lake, "raw_interactions", KEY))
    # the candidates' reach: the share of the held-back edges among the high-scored negatives, in the metadata
    candidates = pl.read_parquet(table_path(lake, "candidate_pairs", KEY))
    reached = candidates.filter(pl.col("kind") == "neg_high").join(
        raw.filter(pl.col("split") == "hidden"), on=["user_id", "item_id"]
    )
    cmeta = _meta(result, "candidate_pairs")
    assert cmeta["reach_hidden_candidates"] == reached.height > 0
    assert cmeta["reach_hidden_planted"] == raw.filter(pl.col("split") == "hidden").height
    assert cmeta["reach_hidden"] == round(reached.height / cmeta["reach_hidden_planted"], 4)
    assert "reach_injected" not in cmeta  # nothing injected on a -hide partition
    # the semantic and union selectors through the stage: module 1's vectors pick, the reach says what they hold
    for selector in ("semantic", "union"):
        picked = _job(lake, server, 0.9).execute_in_process(
            partition_key=KEY,
            instance=instance,
            run_config={"ops": {**SMALL, "candidate_pairs": {"config": {"selector": selector}}}},
            asset_selection=[dg.AssetKey("candidate_pairs")],
        )
        smeta = _meta(picked, "candidate_pairs")
        assert smeta["selector"] == selector and 0 <= smeta["reach_hidden"] <= 1
        other = pl.read_parquet(table_path(lake, "candidate_pairs", KEY))
        assert other.height == candidates.height and not other.equals(candidates)
    assert (
        _job(lake, server, 0.9)
        .execute_in_process(
            partition_key=KEY,
            instance=instance,
            run_config={"ops": SMALL},
            asset_selection=[dg.AssetKey("candidate_pairs")],
        )
        .success
    )  # back to the recommender's: what the rest of this test judges
    assert pl.read_parquet(table_path(lake, "candidate_pairs", KEY)).equals(candidates)

    # a perfect judge under the paper's rule: what G′ adds is held-back edges only, never a valid or test edge
    assert _run(lake, server, instance, 1.0, coverage="full").success
    graph = pl.read_parquet(table_path(lake, "augmented_graph", KEY))
    added = graph.filter(pl.col("origin") == "added_hard").select("user_id", "item_id")
    hidden = raw.filter(pl.col("split") == "hidden").select("user_id", "item_id")
    assert added.height > 0 and added.join(hidden, on=["user_id", "item_id"], how="anti").height == 0
    held_out = raw.filter(pl.col("split").is_in(["valid", "test"])).select("user_id", "item_id")
    assert graph.join(held_out, on=["user_id", "item_id"]).height == 0
    full = pl.read_parquet(table_path(lake, "llm_logical_scores", KEY))

    # coverage auto (the default) reads this partition's own judge-worth curve, on which no judge, a perfect one
    # included, made G′ beat G (results §6): even a perfect judge's trial stops there
    curve = _meta(_run(lake, server, instance, 1.0), "llm_logical_scores")
    assert (
        curve["coverage_decision"] == "judged the trial sample only" and curve["trial_judge_auc_high"] == 1.0
    )
    assert curve["break_even_auc"] == "none: no judge pays"
    assert curve["break_even_source"] == "the judge-worth curve of ml-100k-hide10, rule validated, k = 2"
    assert "a perfect one included" in curve["coverage_reason"]
    # with a break-even set (a curve of the user's own, say), a good judge passes its trial and every pair is
    # judged, as with full
    good = _run(lake, server, instance, 1.0, break_even_auc=1.0)
    meta = _meta(good, "llm_logical_scores")
    assert meta["coverage"] == "auto" and meta["coverage_decision"] == "judged every pair"
    # the gate's decision, per partition in the UI
    (check,) = [c for c in good.get_asset_check_evaluations() if c.check_name == "judge_worth_its_cost"]
    assert check.check_name == "judge_worth_its_cost" and check.passed and "break-even" in check.description
    assert meta["trial_judge_auc_low"] > 0.9 and "break-even" in meta["coverage_reason"]
    assert (
        meta["break_even_source"] == "set in llm_logical_scores' config"
        and meta["trial_questions"] == "hidden"
    )
    auto = pl.read_parquet(table_path(lake, "llm_logical_scores", KEY))
    assert auto.equals(full)  # the same table as judging everything at once

    # a judge at chance: its trial says so, the rest is neither sent nor used, and G′ = G
    chance = _run(lake, server, instance, 0.5, break_even_auc=1.0)
    assert chance.success
    meta = _meta(chance, "llm_logical_scores")
    assert meta["coverage_decision"] == "judged the trial sample only"
    (check,) = [c for c in chance.get_asset_check_evaluations() if c.check_name == "judge_worth_its_cost"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN and "G′ = G" in check.description
    assert meta["trial_judge_auc_high"] < meta["break_even_auc"] and meta["prompts_not_sent"] > 1000
    assert meta["llm_requested"] < 400  # the trial's prompts only
    scores = pl.read_parquet(table_path(lake, "llm_logical_scores", KEY))
    assert not scores["trusted"].any() and (scores["label"] != "unjudged").sum() <= 200
    graph_meta = _meta(chance, "augmented_graph")
    assert graph_meta["rule"] == "none" and "coverage trial" in graph_meta["judge_not_used"]
    assert graph_meta["removed_edges"] == 0 and graph_meta["added_edges"] == 0

    # and a partition that planted nothing is refused, naming why
    refused = _run(lake, server, instance, 0.8, key="ml-100k", coverage="full")
    assert not refused.success
    (failure,) = [e for e in refused.all_events if e.is_step_failure]
    text = str(failure.step_failure_data.user_failure_data.description)
    assert "planted none" in text and "ml-100k-hide10" in text
