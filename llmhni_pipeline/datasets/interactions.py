"""Build the ``raw_interactions`` table of one dataset partition from its source."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from llmhni_pipeline.datasets import incoming, movielens, rlmrec
from llmhni_pipeline.datasets.errors import DatasetError
from llmhni_pipeline.datasets.noise import inject_noise
from llmhni_pipeline.datasets.registry import DatasetSpec, Protocol, SourceKind
from llmhni_pipeline.datasets.splits import carve_per_user
from llmhni_pipeline.fetching import sha256_of
from llmhni_pipeline.lake import LakePath, incoming_dir, raw_dir

SPLIT_ORDER = ("train", "valid", "test")
HIDDEN = "hidden"  # train edges held back from G on -hideNN partitions: in no split that trains or evaluates
HIDE_SEED_OFFSET = 1000  # the held-back edges' seed: apart from the split's and the noise's
INTERACTION_SCHEMA = {
    "user_id": pl.Int32,
    "item_id": pl.Int32,
    "split": pl.String,
    "is_injected": pl.Boolean,
    "noise_ratio": pl.Float32,
}


@dataclass(frozen=True)
class SplitSettings:
    seed: int = 2026
    valid_fraction: float = 0.1  # random protocol and the validation slice carved for llard
    test_fraction: float = 0.1  # random protocol only
    min_rating: float = movielens.POSITIVE_RATING  # ml-100k binarisation


@dataclass
class StageZeroResult:
    interactions: pl.DataFrame
    id_mappings: pl.DataFrame  # entity ∈ {user, item}, id, raw_id
    n_users: int
    n_items: int
    source_files: list[Path]
    notes: list[str] = field(default_factory=list)

    def fingerprint(self) -> str:
        """Content hash of the source files: the schedule re-materializes a partition when it changes."""
        return source_fingerprint(self.source_files)


def source_fingerprint(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.name.encode())
        digest.update(sha256_of(path).encode())
    return digest.hexdigest()[:16]


def source_files_of(spec: DatasetSpec, lake_dir: LakePath, shared_dir: Path) -> list[Path]:
    """The files a partition is built from (those that exist)."""
    if spec.source.kind is SourceKind.MOVIELENS:
        folder = raw_dir(lake_dir) / spec.source.folder
        return [folder / name for name in movielens.ATOMIC_FILES if (folder / name).is_file()]
    if spec.source.kind is SourceKind.RLMREC:
        folder = shared_dir / spec.source.folder
        return [folder / name for name in rlmrec.SPLIT_FILES.values() if (folder / name).is_file()]
    return sorted(p for p in (incoming_dir(lake_dir) / spec.source.name).glob("*") if p.is_file())


def _sorted_ids(raw: pl.Series) -> pl.Series:
    """Unique raw ids in a stable order: numeric when every id is an integer, else lexicographic."""
    unique = raw.unique()
    numeric = unique.cast(pl.Int64, strict=False)
    if numeric.null_count() == 0:
        return pl.DataFrame({"raw": unique, "key": numeric}).sort("key")["raw"]
    return unique.sort()


def _index(pairs: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Replace raw string ids by contiguous int32 ids; returns the indexed edges and the id mapping."""
    users = _sorted_ids(pairs["raw_user"])
    items = _sorted_ids(pairs["raw_item"])
    user_map = pl.DataFrame(
        {"raw_user": users, "user_id": pl.arange(0, len(users), dtype=pl.Int32, eager=True)}
    )
    item_map = pl.DataFrame(
        {"raw_item": items, "item_id": pl.arange(0, len(items), dtype=pl.Int32, eager=True)}
    )
    edges = pairs.join(user_map, on="raw_user").join(item_map, on="raw_item").drop("raw_user", "raw_item")
    mapping = pl.concat(
        [
            user_map.select(
                pl.lit("user").alias("entity"),
                pl.col("user_id").alias("id"),
                pl.col("raw_user").alias("raw_id"),
            ),
            item_map.select(
                pl.lit("item").alias("entity"),
                pl.col("item_id").alias("id"),
                pl.col("raw_item").alias("raw_id"),
            ),
        ]
    )
    return edges, mapping


def reject_repeated_pairs(
    edges: pl.DataFrame, path: Path, user_col: str = "user_id", item_col: str = "item_id"
) -> None:
    """A pair twice in one split is a duplicate row; a pair in two splits is a leak between them."""
    repeated = (
        edges.group_by(user_col, item_col)
        .agg(
            pl.len().alias("rows"),
            pl.col("split").n_unique().alias("splits"),
            pl.col("split").unique().sort().alias("in_splits"),
        )
        .filter(pl.col("rows") > 1)
    )
    if repeated.height == 0:
        return
    overlap = repeated.filter(pl.col("splits") > 1)
    if overlap.height:
        ex = overlap.row(0, named=True)
        raise DatasetError(
            path,
            f"{overlap.height} (user, item) pair(s) appear in more than one split, e.g. "
            f"user {ex[user_col]} item {ex[item_col]} in {ex['in_splits']} "
            "(train/test overlap)",
        )
    ex = repeated.row(0, named=True)
    raise DatasetError(
        path,
        f"{repeated.height} duplicate (user, item) row(s), e.g. user {ex[user_col]} "
        f"item {ex[item_col]} ({ex['rows']} times)",
    )


def _from_rlmrec(spec: DatasetSpec, shared_dir: Path, settings: SplitSettings) -> StageZeroResult:
    folder = shared_dir / spec.source.folder
    edges, n_users, n_items = rlmrec.load_rlmrec_splits(folder)
    reject_repeated_pairs(edges, folder)
    if spec.protocol is Protocol.LLARD:
        train = edges.filter(pl.col("split") != "test")
        train = train.with_columns(carve_per_user(train, {"valid": settings.valid_fraction}, settings.seed))
        edges = pl.concat([train, edges.filter(pl.col("split") == "test")])
    mappings = pl.concat(
        [
            rlmrec.load_mapper(folder / "mapper_user.json", "user", n_users).select(
                pl.lit("user").alias("entity"), "id", "raw_id"
            ),
            rlmrec.load_mapper(folder / "mapper_item.json", "item", n_items).select(
                pl.lit("item").alias("entity"), "id", "raw_id"
            ),
        ]
    )
    return StageZeroResult(
        edges, mappings, n_users, n_items, [folder / f for f in rlmrec.SPLIT_FILES.values()]
    )


def _from_pairs(
    pairs: pl.DataFrame, path: Path, files: list[Path], settings: SplitSettings
) -> StageZeroResult:
    reject_repeated_pairs(
        pairs.with_columns(pl.col("split").fill_null("unsplit")), path, "raw_user", "raw_item"
    )
    edges, mapping = _index(pairs)
    notes = []
    if edges["split"].null_count() == edges.height:
        edges = edges.with_columns(
            carve_per_user(
                edges, {"valid": settings.valid_fraction, "test": settings.test_fraction}, settings.seed
            )
        )
        notes.append(f"no split given: seeded per-user split, seed {settings.seed}")
    elif edges["split"].null_count():
        raise DatasetError(
            path, f"{edges['split'].null_count()} row(s) have an empty split while others have one"
        )
    n_users = int(mapping.filter(pl.col("entity") == "user").height)
    n_items = int(mapping.filter(pl.col("entity") == "item").height)
    return StageZeroResult(edges, mapping, n_users, n_items, files, notes)


MIN_USERS, MIN_ITEMS = 2, 2


def check_trainable(result: StageZeroResult, path: Path) -> None:
    """Reject, at stage 0, a dataset too small for any later stage to train or evaluate on."""
    per_split = dict(result.interactions.group_by("split").len().iter_rows())
    problems = []
    if result.n_users < MIN_USERS or result.n_items < MIN_ITEMS:
        problems.append(
            f"{result.n_users} user(s) and {result.n_items} item(s); at least {MIN_USERS} of each"
        )
    for split in ("train", "test"):
        if not per_split.get(split):
            problems.append(f"no {split} interaction after the split")
    if problems:
        raise DatasetError(path, f"too small to train and evaluate on: {'; '.join(problems)}")


def hide_train_edges(edges: pl.DataFrame, ratio: float, seed: int) -> pl.DataFrame:
    """``ratio`` of each user's train edges (seeded, stochastic rounding, at least one train edge kept per user)
    relabelled as split ``hidden``; every other row, valid and test included, unchanged."""
    train = edges.filter(pl.col("split") == "train")
    carved = train.with_columns(carve_per_user(train, {HIDDEN: ratio}, seed))
    return pl.concat([carved, edges.filter(pl.col("split") != "train")])


def build_raw_interactions(
    spec: DatasetSpec, lake_dir: LakePath, shared_dir: Path, settings: SplitSettings | None = None
) -> StageZeroResult:
    """Load, validate, split and (for noise variants) corrupt one dataset; ids contiguous from 0."""
    settings = settings or SplitSettings()
    kind = spec.source.kind
    if kind is SourceKind.RLMREC:
        result = _from_rlmrec(spec, shared_dir, settings)
    elif kind is SourceKind.MOVIELENS:
        folder = raw_dir(lake_dir) / spec.source.folder
        pairs = movielens.load_movielens_interactions(folder, settings.min_rating)
        result = _from_pairs(
            pairs.with_columns(split=pl.lit(None, pl.String)),
            folder / "ml-100k.inter",
            source_files_of(spec, lake_dir, shared_dir),
            settings,
        )
        result.notes.append(f"ratings >= {settings.min_rating:g} kept as positives")
    else:
        folder = incoming_dir(lake_dir) / spec.source.name
        pairs, path = incoming.load_incoming_interactions(folder)
        result = _from_pairs(pairs, path, source_files_of(spec, lake_dir, shared_dir), settings)
        check_trainable(result, path)

    edges = result.interactions.with_columns(is_injected=pl.lit(False))
    if spec.hide_ratio:
        edges = hide_train_edges(
            edges, spec.hide_ratio, settings.seed + HIDE_SEED_OFFSET + round(spec.hide_ratio * 100)
        )
        result.notes.append(
            f"{int((edges['split'] == HIDDEN).sum())} train edges held back from G as split {HIDDEN!r} "
            f"(share {spec.hide_ratio:.2f} per user; known false negatives)"
        )
    if spec.noise_ratio:
        fake = inject_noise(
            edges, result.n_items, spec.noise_ratio, settings.seed + round(spec.noise_ratio * 100)
        )
        edges = pl.concat(
            [edges, fake.with_columns(split=pl.lit("train"), is_injected=pl.lit(True))], how="diagonal"
        )
        result.notes.append(f"{fake.height} fake train edges injected (ratio {spec.noise_ratio:.2f})")
    result.interactions = (
        edges.with_columns(noise_ratio=pl.lit(spec.noise_ratio))
        .select([pl.col(c).cast(t) for c, t in INTERACTION_SCHEMA.items()])
        .sort("split", "user_id", "item_id")
    )
    return result


def summarize(result: StageZeroResult, spec: DatasetSpec) -> dict[str, object]:
    """Numbers for the asset's metadata: sizes per split, density, cold entities, protocol."""
    table = result.interactions
    per_split = dict(table.group_by("split").len().iter_rows())
    train = table.filter(pl.col("split") == "train")
    summary: dict[str, object] = {
        "users": result.n_users,
        "items": result.n_items,
        **{f"{s}_interactions": int(per_split.get(s, 0)) for s in SPLIT_ORDER},
        "density": round(table.height / (result.n_users * result.n_items), 6),
        "protocol": str(spec.protocol),
        "noise_ratio": spec.noise_ratio,
        "injected_edges": int(table["is_injected"].sum()),
        "users_without_train": result.n_users - train["user_id"].n_unique(),
        "items_without_train": result.n_items - train["item_id"].n_unique(),
        "source_fingerprint": result.fingerprint(),
    }
    if spec.hide_ratio:
        summary["hide_ratio"] = spec.hide_ratio
        summary["hidden_edges"] = int(per_split.get(HIDDEN, 0))
    return summary
