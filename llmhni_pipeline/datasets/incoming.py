"""User-supplied datasets dropped as a folder into ``<lake>/incoming/<name>/``.

Layout: ``interactions.parquet`` or ``interactions.csv`` with integer or string ``user_id`` and ``item_id``
columns and an optional ``split`` column (train/valid/test; without it a seeded per-user 8:1:1 split is made);
optional ``items.{parquet,csv}`` (``item_id``, ``text``) and ``users.{parquet,csv}`` (``user_id``, ``text``).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from llmhni_pipeline.datasets.errors import DatasetError

SPLITS = ("train", "valid", "test")


def find_table(folder: Path, stem: str) -> Path | None:
    for ext in ("parquet", "csv"):
        path = folder / f"{stem}.{ext}"
        if path.is_file():
            return path
    return None


def read_table(path: Path) -> pl.DataFrame:
    if path.stat().st_size == 0:
        raise DatasetError(path, "file is empty")
    try:
        if path.suffix == ".parquet":
            return pl.read_parquet(path)
        return pl.read_csv(path, infer_schema_length=None)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DatasetError(path, f"cannot be read as {path.suffix[1:]} ({exc})") from exc


def _id_as_text(frame: pl.DataFrame, column: str, path: Path) -> pl.Series:
    """Raw ids may be integers or strings; anything else (floats, booleans, nulls) is rejected."""
    series = frame[column]
    if series.null_count():
        raise DatasetError(path, f"column {column!r} has {series.null_count()} empty id(s)")
    if series.dtype.is_integer() or series.dtype == pl.String:
        return series.cast(pl.String)
    example = series.head(3).to_list()
    raise DatasetError(
        path,
        f"column {column!r} holds {series.dtype} values such as {example}; ids must be integers or strings",
    )


def load_incoming_interactions(folder: Path) -> tuple[pl.DataFrame, Path]:
    """``raw_user, raw_item, split`` (split null when the file has none) and the file it came from."""
    path = find_table(folder, "interactions")
    if path is None:
        raise DatasetError(
            folder / "interactions.csv", "no interactions.parquet or interactions.csv in the dataset folder"
        )
    frame = read_table(path)
    missing = {"user_id", "item_id"} - set(frame.columns)
    if missing:
        raise DatasetError(path, f"missing column(s) {sorted(missing)}; found {frame.columns}")
    if frame.height == 0:
        raise DatasetError(path, "file has a header but no rows")
    out = pl.DataFrame(
        {"raw_user": _id_as_text(frame, "user_id", path), "raw_item": _id_as_text(frame, "item_id", path)}
    )
    if "split" in frame.columns:
        split = frame["split"].cast(pl.String).str.strip_chars().str.to_lowercase()
        bad = split.filter(~split.is_in(SPLITS) | split.is_null()).unique().head(5).to_list()
        if bad:
            raise DatasetError(path, f"column 'split' has values {bad}; allowed: {list(SPLITS)}")
        out = out.with_columns(split=split)
    else:
        out = out.with_columns(split=pl.lit(None, pl.String))
    return out, path
