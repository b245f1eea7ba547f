"""The simulated judge's AUC by construction, its refusal without planted truth, the semantic judge as module 1's
relevance, and the semantic prune as the same judgment over every edge."""

import numpy as np
import polars as pl
import pytest
import torch

from llmhni_pipeline.denoise.judge_quality import auc
from llmhni_pipeline.denoise.pair_judges import (
    NoGroundTruth,
    PairContext,
    SemanticJudge,
    SimulatedJudge,
    simulated_margins,
)
from llmhni_pipeline.llm.interfaces import JudgePrompt
from llmhni_pipeline.llm.labels import LabelThresholds, result_from_margin
from llmhni_pipeline.recsys.graph import InteractionGraph
from llmhni_pipeline.semantic.projector import least_related_pruned, relevance_margin


@pytest.mark.parametrize("target", [0.5, 0.6, 0.75, 0.9, 1.0])
def test_simulated_margins_have_the_target_auc_within_each_kind(target):
    rng = np.random.default_rng(0)
    kinds = np.where(rng.random(3000) < 0.5, "neg_high", "pos_low")
    relevant = np.where(kinds == "neg_high", rng.random(3000) < 0.1, rng.random(3000) < 0.9)
    margins = simulated_margins(kinds, relevant, target, seed=3)
    assert np.all(np.abs(margins) <= 1)
    for kind in ("neg_high", "pos_low"):
        block = kinds == kind
        assert abs(auc(margins[block], relevant[block]) - target) < 0.01
    assert not np.array_equal(margins, simulated_margins(kinds, relevant, target, seed=4)) or target == 1.0


def test_a_perfect_judge_labels_every_pair_right_at_the_fixed_thresholds():
    """AUC 1 is a ranking; a perfect *judge* must also say High to every relevant pair and Low to every other at the
    default thresholds (±0.5). Its lowest relevant margin was tanh(0.5) = 0.46, one mislabelled pair on ml-100k."""
    rng = np.random.default_rng(1)
    kinds = np.where(rng.random(5000) < 0.5, "neg_high", "pos_low")
    relevant = rng.random(5000) < 0.3
    labels = np.array(
        [str(x) for x in LabelThresholds().labels(simulated_margins(kinds, relevant, 1.0, seed=2))]
    )
    assert (labels[relevant] == "High").all() and (labels[~relevant] == "Low").all()


def test_a_margin_becomes_probabilities_with_that_margin_and_labels_at_the_thresholds():
    for m in (-1.0, -0.6, 0.0, 0.3, 0.5, 1.0):
        r = result_from_margin(m, "x")
        assert r.p_high + r.p_mid + r.p_low == pytest.approx(1.0) and r.score == pytest.approx(m)
    labels = LabelThresholds().labels(np.array([result_from_margin(m, "").score for m in (0.6, 0.0, -0.6)]))
    assert [str(x) for x in labels] == ["High", "Mid", "Low"]
    assert str(result_from_margin(float("nan"), "").status) == "empty"


def _context(interactions: pl.DataFrame, pairs: pl.DataFrame, projected=None) -> PairContext:
    user = [
        JudgePrompt("s", f"user view {u} {i}", "v") for u, i in pairs.select("user_id", "item_id").iter_rows()
    ]
    item = [
        JudgePrompt("s", f"item view {u} {i}", "v") for u, i in pairs.select("user_id", "item_id").iter_rows()
    ]
    return PairContext("toy", pairs, user, item, interactions, projected)


def _toy(hidden: bool):
    inter = pl.DataFrame(
        {
            "user_id": [0, 0, 1, 1, 0, 1],
            "item_id": [0, 1, 0, 2, 3, 3],
            "split": ["train", "train", "train", "train", "hidden" if hidden else "valid", "test"],
            "is_injected": [False] * 6,
        }
    )
    pairs = pl.DataFrame(
        {"user_id": [0, 0, 1], "item_id": [3, 1, 1], "kind": ["neg_high", "pos_low", "neg_high"]}
    )
    return inter, pairs


def test_the_simulated_judge_answers_both_views_alike_and_refuses_a_partition_without_planted_truth():
    inter, pairs = _toy(hidden=True)
    context = _context(inter, pairs)
    judge = SimulatedJudge(1.0, seed=1).bind(context)
    assert judge.model.startswith("simulated-auc1-seed1-")
    user = judge.score(list(context.user_prompts))
    item = judge.score(list(context.item_prompts))
    assert [r.score for r in user] == [r.score for r in item]
    # AUC 1: the held-back edge (0, 3) and the real positive (0, 1) relevant, the other negative not
    assert user[0].score > 0 and user[1].score > 0 and user[2].score < 0
    with pytest.raises(NoGroundTruth, match="-hideNN"):
        SimulatedJudge(0.8).bind(_context(*_toy(hidden=False)))
    with pytest.raises(ValueError, match="in \\(0, 1\\]"):
        SimulatedJudge(1.5)


def test_the_semantic_judge_is_module_1s_relevance_and_the_prune_is_the_same_judgment_over_every_edge():
    torch.manual_seed(0)
    user_vec, item_vec = torch.randn(30, 8), torch.randn(40, 8)
    users, items = torch.randint(0, 30, (300,)), torch.randint(0, 40, (300,))
    keys = torch.unique(users * 40 + items)
    graph = InteractionGraph(keys // 40, keys % 40, 30, 40)
    inter = pl.DataFrame(
        {
            "user_id": graph.users.numpy(),
            "item_id": graph.items.numpy(),
            "split": ["train"] * graph.n_edges,
            "is_injected": [False] * graph.n_edges,
        }
    )
    pairs = pl.DataFrame({"user_id": [0, 1, 2], "item_id": [5, 6, 7], "kind": ["neg_high"] * 3})
    judge = SemanticJudge().bind(_context(inter, pairs, (user_vec, item_vec)))
    answers = [r.score for r in judge.score(list(_context(inter, pairs).user_prompts))]
    margin, _ = relevance_margin(user_vec, item_vec, torch.tensor([0, 1, 2]), torch.tensor([5, 6, 7]), graph)
    assert answers == pytest.approx(margin.tolist(), abs=1e-6)
    # the prune at share q drops exactly the edges whose cosine is at most the q quantile, as before
    cos = torch.nn.functional.cosine_similarity(user_vec[graph.users], item_vec[graph.items])
    for share in (0.05, 0.2, 0.5):
        pruned = least_related_pruned(graph, user_vec, item_vec, share)
        expected = int((cos > torch.quantile(cos, share)).sum())
        assert pruned.n_edges == expected


def test_a_pair_judge_answers_each_pair_by_its_own_truth_even_when_two_prompts_read_alike():
    """MovieLens lists some titles twice, so two pairs can have identical prompts. An LLM answers them alike (one
    text, one answer, paid once); a simulated judge must answer each by its own truth: the held-back edge
    (0, 3) relevant, the pair (1, 1) not, although both prompts read "same"."""
    from llmhni_pipeline.denoise.pair_judges import bound_judge

    inter, pairs = _toy(hidden=True)
    alike = [JudgePrompt("s", "same", "v")] * pairs.height
    judge, user, item = bound_judge(
        SimulatedJudge(1.0, seed=1), "toy", pairs, alike, alike, inter, pl.DataFrame()
    )
    assert len({p.fingerprint() for p in user}) == pairs.height and user[0].user == "same"
    scores = [r.score for r in judge.score(user)]
    assert (
        scores[0] > 0.5 and scores[2] < -0.5
    )  # each past its threshold: the perfect judge's labels are right
    assert [r.score for r in judge.score(item)] == scores
    # an LLM judge keeps the prompts as they are
    llm = object()
    assert bound_judge(llm, "toy", pairs, alike, alike, inter, pl.DataFrame()) == (llm, alike, alike)
