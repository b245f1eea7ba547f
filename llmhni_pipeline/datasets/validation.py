"""Invariants of the ``raw_interactions`` table, as plain functions (asset checks and tests call them)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    description: str
    failures: int


def splits_disjoint(table: pl.DataFrame) -> CheckOutcome:
    clashes = (
        table.group_by("user_id", "item_id")
        .agg(pl.col("split").n_unique().alias("n"))
        .filter(pl.col("n") > 1)
        .height
    )
    return CheckOutcome(
        "splits_disjoint",
        clashes == 0,
        f"{clashes} (user, item) pair(s) appear in more than one split",
        clashes,
    )


def no_duplicate_pairs(table: pl.DataFrame) -> CheckOutcome:
    dupes = table.height - table.select("user_id", "item_id").unique().height
    return CheckOutcome("no_duplicate_pairs", dupes == 0, f"{dupes} duplicate (user, item) row(s)", dupes)


def ids_contiguous(table: pl.DataFrame, n_users: int, n_items: int) -> CheckOutcome:
    gaps = 0
    for column, n in (("user_id", n_users), ("item_id", n_items)):
        ids = table[column]
        gaps += n - ids.n_unique() + int(ids.min() != 0) + int(ids.max() != n - 1)
    return CheckOutcome(
        "ids_contiguous",
        gaps == 0,
        f"user and item ids {'' if gaps == 0 else 'do not '}cover 0..n-1 exactly "
        f"({n_users} users, {n_items} items)",
        gaps,
    )


def test_users_have_train(table: pl.DataFrame) -> CheckOutcome:
    train_users = table.filter(pl.col("split") == "train")["user_id"].unique()
    test_users = table.filter(pl.col("split") == "test")["user_id"].unique()
    orphans = int((~test_users.is_in(train_users.implode())).sum())
    return CheckOutcome(
        "test_users_have_train", orphans == 0, f"{orphans} test user(s) have no training interaction", orphans
    )


def raw_interactions_checks(table: pl.DataFrame, n_users: int, n_items: int) -> list[CheckOutcome]:
    return [
        splits_disjoint(table),
        no_duplicate_pairs(table),
        ids_contiguous(table, n_users, n_items),
        test_users_have_train(table),
    ]
