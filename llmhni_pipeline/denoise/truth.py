"""What is known to be true of a partition's candidate pairs, and so what a judge can be measured against.

Each *question* asks whether a judge's margin P(High) − P(Low) ranks the relevant pairs of one candidate kind
above the others (AUC; 0.5 is chance), every one oriented so that relevant means "belongs in G′":

- ``hidden`` (``-hideNN`` partitions): among the high-scored negatives, the train edges held back from G —
  known false negatives, planted;
- ``noise`` (``-noiseNN`` partitions): among the low-scored positives, the real edges as opposed to the
  injected ones — the injected edges are known false positives, planted;
- on a partition that injected nothing, ``noise`` is asked of **probes**: a few random (user, item) pairs planted
  for the trial alone (``noise_probes``, kind ``probe``), asked like the low-scored positives and ranked against
  them — the same truth as ``-noiseNN``'s injected edges (random pairs against a user's real ones), so the trial's
  AUC is the quantity on the judge-worth curve's x-axis, and an oracle of the user's real preferences scores 1.
  Probes are never in ``llm_logical_scores`` or G′.

Validation positives are never candidates (``candidates.select_candidates``' ``held_out``), so no judge can add
one to G′ and no question is asked of them; the test split is never read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from llmhni_pipeline.datasets.interactions import HIDDEN

KEY = ["user_id", "item_id"]


@dataclass(frozen=True)
class Question:
    name: str  # hidden | noise | hard
    kind: str  # the candidate kind it is asked of
    planted: bool
    description: str


HIDDEN_Q = Question("hidden", "neg_high", True, "held-back train edges among the high-scored negatives")
NOISE_Q = Question("noise", "pos_low", True, "real edges (not injected ones) among the low-scored positives")
PROBE = "probe"  # a candidate kind of the trial alone: a random pair planted as noise (``noise_probes``)
PROBE_Q = Question("noise", "pos_low", True, "the low-scored positives against random pairs planted as noise")


def _pairs(interactions: pl.DataFrame, condition: pl.Expr, name: str) -> pl.DataFrame:
    return interactions.filter(condition).select(*KEY).unique().with_columns(pl.lit(True).alias(name))


def has_planted_truth(interactions: pl.DataFrame) -> bool:
    return bool(interactions["is_injected"].any() or (interactions["split"] == HIDDEN).any())


def _has_probes(candidates: pl.DataFrame | None) -> bool:
    return candidates is not None and bool((candidates["kind"] == PROBE).any())


def questions(interactions: pl.DataFrame, candidates: pl.DataFrame | None = None) -> list[Question]:
    """The questions this partition's ``candidates`` can answer: ``hidden`` where train edges were held back,
    ``noise`` where edges were injected, or where the candidates hold probes."""
    asked = []
    if (interactions["split"] == HIDDEN).any():
        asked.append(HIDDEN_Q)
    if interactions["is_injected"].any():
        asked.append(NOISE_Q)
    elif _has_probes(candidates):
        asked.append(PROBE_Q)
    return asked


def gate_questions(interactions: pl.DataFrame, candidates: pl.DataFrame | None = None) -> list[Question]:
    """What a judge's worth is measured on, the question of the judge-worth curve the gate reads
    (``judge_worth.break_even_for``): ``hidden`` on a ``-hideNN`` partition (its own curve), else ``noise`` —
    injected edges where there are some, probes otherwise."""
    asked = questions(interactions, candidates)
    hidden = [q for q in asked if q is HIDDEN_Q]
    return hidden or [q for q in asked if q.name == "noise"]


def noise_probes(candidates: pl.DataFrame, interactions: pl.DataFrame, n: int, seed: int) -> pl.DataFrame:
    """``n`` random (user, item) pairs planted as noise for the trial (seeded; kind ``probe``), on a partition that
    injected nothing: users drawn from those with low-scored positives, items uniformly from the catalogue
    outside the user's train, held-back and validation items and their candidates — as ``-noiseNN`` injects edges. The test split is
    not read, so a probe lands on a test positive with the chance an injected edge has (a user's test items over
    the catalogue: about 0.5% on MovieLens-100K). ``model_score`` is NaN (the recommender did not pick them);
    the evidence is the user's own, from their candidates. Empty where edges were injected (they are the
    truth) or no user has low-scored positives."""
    schema = candidates.schema
    users_with = candidates.filter(pl.col("kind") == "pos_low")
    if n <= 0 or interactions["is_injected"].any() or not users_with.height:
        return pl.DataFrame(schema=schema)
    rng = np.random.default_rng(seed)
    n_items = int(interactions["item_id"].max()) + 1
    pool = users_with["user_id"].unique().sort().to_numpy()
    known = pl.concat(  # the user's known items, and the candidates (a probe is a pair asked once)
        [interactions.filter(pl.col("split") != "test").select(*KEY), candidates.select(*KEY)]
    ).unique()
    picked = pl.DataFrame(schema={"user_id": pl.Int32, "item_id": pl.Int32})
    for _ in range(20):  # rejection: each round keeps the draws that are new and not the user's known items
        want = n - picked.height
        if want <= 0:
            break
        draw = pl.DataFrame(
            {
                "user_id": rng.choice(pool, 2 * want, replace=True).astype(np.int32),
                "item_id": rng.integers(0, n_items, 2 * want).astype(np.int32),
            }
        )
        fresh = (
            draw.join(known, on=KEY, how="anti")
            .join(picked, on=KEY, how="anti")
            .unique(KEY, keep="first", maintain_order=True)
        )
        picked = pl.concat([picked, fresh.head(want)])
    evidence = (
        candidates.sort("user_id", "kind", "rank_within_user")
        .group_by("user_id", maintain_order=True)
        .agg(pl.col("evidence_items").first())
    )
    return (
        picked.join(evidence, on="user_id", how="left")
        .with_columns(
            kind=pl.lit(PROBE),
            model_score=pl.lit(float("nan")),
            rank_within_user=pl.int_range(pl.len()).over("user_id") + 1,
        )
        .select([pl.col(k).cast(v) for k, v in schema.items()])
    )


def with_probes(candidates: pl.DataFrame, interactions: pl.DataFrame, n: int, seed: int) -> pl.DataFrame:
    """``candidates`` with ``noise_probes`` appended (after every candidate: the candidates keep their rows)."""
    return pl.concat([candidates, noise_probes(candidates, interactions, n, seed)])


def with_truth(candidates: pl.DataFrame, interactions: pl.DataFrame, question: Question) -> pl.DataFrame:
    """The candidate pairs of ``question``'s kind, with a boolean ``truth`` (relevant: belongs in G′); the noise
    question's block holds the probes too (not relevant)."""
    kinds = [question.kind, PROBE] if question.name == "noise" else [question.kind]
    block = candidates.filter(pl.col("kind").is_in(kinds))
    if question.name == "hidden":
        known = _pairs(interactions, pl.col("split") == HIDDEN, "t")
        return (
            block.join(known, on=KEY, how="left").with_columns(truth=pl.col("t").fill_null(False)).drop("t")
        )
    if question.name == "noise":
        known = _pairs(interactions, pl.col("is_injected"), "t")
        return (
            block.join(known, on=KEY, how="left")
            .with_columns(truth=pl.col("t").is_null() & (pl.col("kind") != PROBE))
            .drop("t")
        )
    raise ValueError(f"unknown question {question.name!r}")


def planted_relevance(candidates: pl.DataFrame, interactions: pl.DataFrame) -> np.ndarray:
    """For every candidate pair, in order, whether it is relevant by what was planted: a held-back edge, or a
    low-scored positive that was not injected. Pairs the plant says nothing of (high-scored negatives that were
    not held back) and probes count as not relevant. Raises when the partition planted nothing."""
    if not has_planted_truth(interactions):
        raise ValueError("no planted truth: neither held-back (-hideNN) nor injected (-noiseNN) edges")
    hidden = _pairs(interactions, pl.col("split") == HIDDEN, "hidden")
    injected = _pairs(interactions, pl.col("is_injected"), "injected")
    table = (
        candidates.select(*KEY, "kind")
        .with_row_index("_row")
        .join(hidden, on=KEY, how="left")
        .join(injected, on=KEY, how="left")
        .sort("_row")
    )
    relevant = pl.when(pl.col("kind") == "neg_high").then(pl.col("hidden").fill_null(False))
    relevant = relevant.when(pl.col("kind") == PROBE).then(False).otherwise(pl.col("injected").is_null())
    return table.select(relevant.alias("r"))["r"].to_numpy().astype(bool)


def reach(candidates: pl.DataFrame, interactions: pl.DataFrame) -> dict[str, float | int]:
    """What a perfect judge of these candidates could fix at most: the share of the planted edges that are
    candidates of the kind that can act on them — injected edges among the low-scored positives (removable),
    held-back edges among the high-scored negatives (addable) — with the counts. Empty where nothing was
    planted."""
    out: dict[str, float | int] = {}
    for name, kind, condition in (
        ("injected", "pos_low", pl.col("is_injected")),
        ("hidden", "neg_high", pl.col("split") == HIDDEN),
    ):
        planted = _pairs(interactions, condition, "planted")
        if not planted.height:
            continue
        hits = candidates.filter(pl.col("kind") == kind).select(*KEY).unique().join(planted, on=KEY).height
        out[f"reach_{name}"] = round(hits / planted.height, 4)
        out[f"reach_{name}_candidates"] = hits
        out[f"reach_{name}_planted"] = planted.height
    return out
