"""Stages 6–7: the hard/noisy rule and the augmented graph G′ (method_spec §8–9).

A judged pair is **hard** iff both perspectives (user-centric and item-centric) say High, **noisy** otherwise;
so the second perspective is asked only where the first said High (:func:`needs_second_view`).
E′ = (E \\ (C⁺ ∩ noisy)) ∪ (C⁻ ∩ hard): suspicious positives the LLM does not back are removed, high-scored
negatives it backs from both sides are added. C⁺ ∩ hard stays; C⁻ ∩ noisy is not added.
"""

from __future__ import annotations

import polars as pl

HIGH = "High"


def hard_or_noisy(user_view: pl.Expr, item_view: pl.Expr) -> pl.Expr:
    """The paper's rule on the two labels: ``hard`` iff both are High, ``noisy`` as soon as one judged
    perspective is not High, ``unjudged`` while neither decides (a perspective not judged yet is null)."""
    user, item = user_view.fill_null(""), item_view.fill_null("")
    decided_not_high = (user_view.is_not_null() & (user != HIGH)) | (item_view.is_not_null() & (item != HIGH))
    return (
        pl.when((user == HIGH) & (item == HIGH))
        .then(pl.lit("hard"))
        .when(decided_not_high)
        .then(pl.lit("noisy"))
        .otherwise(pl.lit("unjudged"))
    )


def needs_second_view(first_view: str | None) -> bool:
    """Whether the other perspective can still change a pair's label under :func:`hard_or_noisy`: only when
    the first one says High (any other answer makes the pair noisy whatever the second says). This is exact
    for the both-High rule with labels fixed per prompt (``threshold_mode: fixed``); under quantile labels a
    label depends on every other score, and every prompt is sent."""
    return first_view == HIGH


def augmented_edges(train_edges: pl.DataFrame, judged: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(edges of G′ with an ``origin`` column, removed edges with a ``reason``).

    ``train_edges``: user_id, item_id (+ any columns, kept for original edges); ``judged``: user_id, item_id,
    kind ∈ {pos_low, neg_high}, label ∈ {hard, noisy}.
    """
    key = ["user_id", "item_id"]
    removed = (
        judged.filter((pl.col("kind") == "pos_low") & (pl.col("label") == "noisy"))
        .select(*key)
        .with_columns(reason=pl.lit("noisy_pos"))
    )
    added = (
        judged.filter((pl.col("kind") == "neg_high") & (pl.col("label") == "hard"))
        .select(*key)
        .unique()
        .join(train_edges.select(key), on=key, how="anti")
    )
    kept = train_edges.join(removed.select(key), on=key, how="anti").with_columns(origin=pl.lit("orig"))
    edges = pl.concat([kept, added.with_columns(origin=pl.lit("added_hard"))], how="diagonal")
    return edges.sort(key), removed.join(train_edges, on=key, how="inner").sort(key)


def denoising_report(
    removed: pl.DataFrame, added: pl.DataFrame, raw_interactions: pl.DataFrame
) -> dict[str, float]:
    """On noise-injected data: precision/recall of removals against ``is_injected``; and for every dataset, how
    many added edges are held-out (valid/test) positives of the user."""
    key = ["user_id", "item_id"]
    injected = raw_interactions.filter(pl.col("is_injected"))
    hit = removed.join(injected.select(key), on=key, how="inner").height
    held_out = raw_interactions.filter(pl.col("split").is_in(["valid", "test"])).select(key)
    added_hits = added.join(held_out, on=key, how="inner").height
    return {
        "removed_edges": removed.height,
        "added_edges": added.height,
        "removed_injected": hit,
        "removal_precision_vs_injected": hit / removed.height
        if removed.height and injected.height
        else float("nan"),
        "removal_recall_vs_injected": hit / injected.height if injected.height else float("nan"),
        "added_that_are_valid_or_test_positives": added_hits,
    }
