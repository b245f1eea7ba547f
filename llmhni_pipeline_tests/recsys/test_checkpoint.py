"""Models carry the lineage of the data they were trained on, as tables do: every reader refuses a stale one."""

import dagster as dg
import pytest

from llmhni_pipeline.assets.candidate_pairs import candidate_pairs
from llmhni_pipeline.assets.evaluation import evaluation
from llmhni_pipeline.assets.pretrained_recommender import pretrained_recommender
from llmhni_pipeline.assets.raw_interactions import raw_interactions
from llmhni_pipeline.definitions import build_resources
from llmhni_pipeline.lake import StaleTableError
from llmhni_pipeline.recsys.checkpoint import ModelStore
from llmhni_pipeline_tests.conftest import write_incoming

RUN_CONFIG = {"ops": {"pretrained_recommender": {"config": {"epochs": 1}}}}


def _rows(n_users: int, shift: int) -> str:
    """Every user has 6 of 12 items (train, then one valid and one test); ``shift`` moves which ones."""
    rows = ["user_id,item_id,split"]
    for u in range(n_users):
        items = [(u + shift + k) % 12 for k in range(6)]
        rows += [f"u{u},i{i},train" for i in items[:4]] + [
            f"u{u},i{items[4]},valid",
            f"u{u},i{items[5]},test",
        ]
    return "\n".join(rows) + "\n"


def _run(assets, lake, instance, select=None):
    return dg.materialize(
        assets,
        partition_key="shop",
        instance=instance,
        resources=build_resources(str(lake), device="cpu"),
        run_config=RUN_CONFIG
        if select in (None, ["pretrained_recommender"]) and pretrained_recommender in assets
        else None,
        selection=select,
        raise_on_error=False,
    )


def _stale(result) -> str:
    failures = [e for e in result.all_events if e.is_step_failure]
    assert failures, "the step should have failed"
    error = failures[0].step_failure_data.error
    while error.cause is not None:
        error = error.cause
    return error.message


@pytest.mark.parametrize("users_after", [20, 21], ids=["same-shape", "one-more-user"])
def test_a_model_trained_on_another_version_of_the_data_is_refused_by_every_reader(
    lake, datasets_instance, users_after
):
    instance = datasets_instance("shop")
    write_incoming(lake, "shop", _rows(20, 0))
    assert _run([raw_interactions, pretrained_recommender], lake, instance).success
    assert _run(
        [raw_interactions, pretrained_recommender, candidate_pairs], lake, instance, ["candidate_pairs"]
    ).success
    store = ModelStore(lake)
    store.load("pretrained_recommender", "shop")  # fine while the data is the one it was trained on

    write_incoming(lake, "shop", _rows(users_after, 3))  # same users and items (or one more user), new edges
    assert _run([raw_interactions], lake, instance).success
    for asset in (candidate_pairs, evaluation):
        result = _run([raw_interactions, pretrained_recommender, asset], lake, instance, [asset.key.path[-1]])
        assert not result.success
        message = _stale(result)
        assert "pretrained_recommender/dataset=shop/model.pt" in message, message
        assert (
            "trained on another version of raw_interactions" in message
            and "re-materialize pretrained_recommender" in message
        )
        assert "shapes cannot be multiplied" not in message
    for read in (store.load, store.payload):
        with pytest.raises(StaleTableError, match="re-materialize pretrained_recommender"):
            read("pretrained_recommender", "shop")
    # retraining on the current data clears it
    assert _run(
        [raw_interactions, pretrained_recommender], lake, instance, ["pretrained_recommender"]
    ).success
    assert _run(
        [raw_interactions, pretrained_recommender, candidate_pairs], lake, instance, ["candidate_pairs"]
    ).success
