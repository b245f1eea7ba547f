import hashlib

import numpy as np
import polars as pl

from llmhni_pipeline.denoise.augment import hard_or_noisy
from llmhni_pipeline.denoise.judging import judge_pairs
from llmhni_pipeline.llm.accounting import Budget
from llmhni_pipeline.llm.cache import CallCache
from llmhni_pipeline.llm.gateway import RunOptions
from llmhni_pipeline.llm.interfaces import JudgePrompt, JudgeResult
from llmhni_pipeline.llm.labels import LabelThresholds


class HashJudge:
    """Deterministic answers spread over High/Mid/Low; counts what it was sent."""

    backend, model = "fake", "hash"

    def __init__(self):
        self.sent: list[str] = []

    def score(self, prompts: list[JudgePrompt]) -> list[JudgeResult]:
        out = []
        for p in prompts:
            self.sent.append(p.prompt_version)
            h = int(hashlib.sha256(p.user.encode()).hexdigest(), 16)
            high = (h % 1000) / 1000
            out.append(JudgeResult(high, 0.0, 1 - high, 1.0, "", tokens_in=3))
        return out


def _prompts(n: int) -> tuple[list[JudgePrompt], list[JudgePrompt], np.ndarray]:
    users = np.repeat(np.arange(n // 4), 4)
    user = [JudgePrompt("s", f"user view {i}", "u1") for i in range(n)]
    item = [JudgePrompt("s", f"item view {i}", "i1") for i in range(n)]
    return user, item, users


def _labels(judged, thresholds: LabelThresholds) -> list[str]:
    views = {}
    for name, results in (("u", judged.user), ("i", judged.item)):
        margins = np.array([r.p_high - r.p_low if r else np.nan for r in results])
        views[name] = [str(lab) if lab else None for lab in thresholds.labels(margins)]
    frame = pl.DataFrame(views, schema={"u": pl.String, "i": pl.String})
    return frame.select(hard_or_noisy(pl.col("u"), pl.col("i")).alias("l"))["l"].to_list()


def test_skipping_sends_fewer_prompts_and_gives_the_labels_of_judging_both(tmp_path):
    user, item, users = _prompts(200)
    thresholds = LabelThresholds("fixed", 0.5, -0.5)
    full_judge, lean_judge = HashJudge(), HashJudge()
    opts = RunOptions(batch_size=8, report=lambda m: None)
    full = judge_pairs(full_judge, user, item, users, CallCache(tmp_path / "a", "j"), opts, thresholds, False)
    lean = judge_pairs(lean_judge, user, item, users, CallCache(tmp_path / "b", "j"), opts, thresholds, True)
    assert len(full_judge.sent) == 400
    high_first = sum(1 for r in full.user if r.p_high - r.p_low >= 0.5)
    assert len(lean_judge.sent) == 200 + high_first < 400
    assert lean.skipped_second == 200 - high_first and full.skipped_second == 0
    assert _labels(lean, thresholds) == _labels(full, thresholds)
    assert "unjudged" not in _labels(lean, thresholds)


def test_quantile_labels_always_send_both_views(tmp_path):
    user, item, users = _prompts(40)
    judge = HashJudge()
    opts = RunOptions(batch_size=8, report=lambda m: None)
    judged = judge_pairs(
        judge, user, item, users, CallCache(tmp_path, "j"), opts, LabelThresholds("quantile", 0.2, 0.2)
    )
    assert len(judge.sent) == 80 and judged.skipped_second == 0


def test_the_cap_is_shared_by_both_phases_and_a_capped_pair_stays_unjudged(tmp_path):
    user, item, users = _prompts(40)
    thresholds = LabelThresholds("fixed", 0.5, -0.5)
    judge = HashJudge()
    opts = RunOptions(batch_size=8, budget=Budget(max_calls=44), report=lambda m: None)
    judged = judge_pairs(judge, user, item, users, CallCache(tmp_path, "j"), opts, thresholds, True)
    assert len(judge.sent) <= 44 and judge.sent.count("u1") == 40
    labels = _labels(judged, thresholds)
    high_first = [r.p_high - r.p_low >= 0.5 for r in judged.user]
    assert sum(high_first) > 4  # the fixture has more High first views than the cap leaves room for
    assert (
        labels.count("unjudged") == sum(high_first) - (len(judge.sent) - 40)
        and judged.stats.stopped_by_budget
    )
    # a second run with the same cache sends only what is left
    again = HashJudge()
    rerun = judge_pairs(again, user, item, users, CallCache(tmp_path, "j"), opts, thresholds, True)
    assert len(again.sent) == sum(high_first) - (len(judge.sent) - 40)
    assert "unjudged" not in _labels(rerun, thresholds)


def test_shuffled_user_order_is_seeded_keeps_users_together_and_covers_a_random_subset():
    import pytest

    from llmhni_pipeline.denoise.judging import judging_order

    users = np.repeat(np.arange(50), 4)
    assert np.array_equal(judging_order(users, "id"), users)
    a, b, c = (judging_order(users, "shuffled", seed) for seed in (1, 1, 2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    ranks = a.reshape(50, 4)
    assert (ranks == ranks[:, :1]).all() and sorted(ranks[:, 0]) == list(range(50))  # a permutation of users
    first_ten = np.flatnonzero(ranks[:, 0] < 10)  # what a cap of 40 pairs judges first
    assert not np.array_equal(first_ten, np.arange(10))
    with pytest.raises(ValueError, match="one of id, shuffled"):
        judging_order(users, "random")
