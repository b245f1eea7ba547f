"""User-supplied datasets dropped as a folder into ``<lake>/incoming/<name>/``.

Layout: ``interactions.parquet`` or ``interactions.csv`` (one of them: both is an error) with integer or string
``user_id`` and ``item_id`` columns (CSV ids are read as text, so ``07`` and ``7`` stay two ids; surrounding
spaces are stripped; empty ids and ``NaN``/``null`` are rejected) and an optional ``split`` column (train/valid/test; without it a seeded per-user 8:1:1 split is made);
optional ``items.{parquet,csv}`` (``item_id``, ``text``) and ``users.{parquet,csv}`` (``user_id``, ``text``).
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from llmhni_pipeline.datasets.errors import DatasetError
from llmhni_pipeline.lake import source

SPLITS = ("train", "valid", "test")
TABLES = ("interactions", "items", "users")
OTHER_FILES = ("synthetic.json",)  # the marker `llmhni datasets synth` writes
# the columns each table may have: any other is an error (a `rating` or `timestamp` column would be silently
# ignored, and the user would believe it was used)
COLUMNS = {
    "interactions": ({"user_id", "item_id"}, {"split"}),
    "items": ({"item_id", "text"}, set()),
    "users": ({"user_id", "text"}, set()),
}


def check_folder_files(folder: Path) -> None:
    """Refuse a file the pipeline would not read (``ratings.csv`` beside ``interactions.csv``), naming it:
    its content would otherwise be silently ignored. Hidden files (``.DS_Store``) are left alone."""
    allowed = {f"{t}.{ext}" for t in TABLES for ext in ("parquet", "csv")} | set(OTHER_FILES)
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name in allowed:
            continue
        raise DatasetError(
            path,
            f"{'a folder' if path.is_dir() else 'a file'} the pipeline does not read: a dataset folder holds "
            "interactions.csv|parquet and optionally items.csv|parquet and users.csv|parquet "
            "(docs/guide/datasets.md); move it out so that nothing in the folder is silently ignored",
        )


def check_columns(frame: pl.DataFrame, path: Path, table: str) -> None:
    """The table's required columns are there and no other is."""
    required, optional = COLUMNS[table]
    missing = required - set(frame.columns)
    if missing:
        raise DatasetError(path, f"missing column(s) {sorted(missing)}; found {frame.columns}")
    extra = [c for c in frame.columns if c not in required | optional]
    if extra:
        allowed = sorted(required) + sorted(optional)
        raise DatasetError(
            path,
            f"column(s) {extra} are not read (allowed: {allowed}); remove them, so that nothing in the file is "
            "silently ignored",
        )


MISSING_IDS = ("", "nan", "null", "none", "na", "n/a")


def find_table(folder: Path, stem: str) -> Path | None:
    found = [folder / f"{stem}.{ext}" for ext in ("parquet", "csv") if (folder / f"{stem}.{ext}").is_file()]
    if len(found) > 1:
        raise DatasetError(
            found[1], f"both {found[0].name} and {found[1].name} exist; keep one so it is clear which is read"
        )
    return found[0] if found else None


def read_table(path: Path) -> pl.DataFrame:
    """A Parquet file as typed; a CSV file with every column as text (ids keep leading zeros)."""
    if path.stat().st_size == 0:
        raise DatasetError(path, "file is empty")
    try:
        if path.suffix == ".parquet":
            return pl.read_parquet(source(path))
        return pl.read_csv(source(path), infer_schema=False)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DatasetError(path, f"cannot be read as {path.suffix[1:]} ({exc})") from exc


MAX_ID_CHARS_ENV = "LLMHNI_MAX_ID_CHARS"
DEFAULT_MAX_ID_CHARS = 512


def max_id_chars() -> int:
    """The longest raw id accepted: ``$LLMHNI_MAX_ID_CHARS`` or 512 characters."""
    value = os.environ.get(MAX_ID_CHARS_ENV) or str(DEFAULT_MAX_ID_CHARS)
    if not value.isdigit() or int(value) < 1:
        raise DatasetError(MAX_ID_CHARS_ENV, f"must be a positive whole number of characters, not {value!r}")
    return int(value)


def _where(bad: pl.Series, path: Path) -> str:
    """Where the first offending rows are: CSV line numbers (the header is line 1), else 0-based rows."""
    rows = bad.arg_true().head(5)
    if path.suffix == ".csv":
        return f"on line(s) {(rows + 2).to_list()}"
    return f"in row(s) {rows.to_list()}"


# ids are compared as text in one Unicode form, so that "café" written composed (é) and decomposed (e + ◌́) in two
# files is one id
ID_FORM = "NFC"
# what an id may not hold: C0 and C1 control characters (a line break, tab, NUL, NEL U+0085, CSI U+009B), and the
# invisible ones that make two ids look alike or reorder what a terminal shows: zero-width characters and marks
# (U+200B–U+200F, U+2060–U+2064), direction overrides and isolates (U+202A–U+202E, U+2066–U+2069), and the
# byte-order mark U+FEFF
FORBIDDEN_ID_CHARS = r"[\x00-\x1f\x7f-\x9f\x{200b}-\x{200f}\x{202a}-\x{202e}\x{2060}-\x{2069}\x{feff}]"


def clean_ids(series: pl.Series) -> pl.Series:
    """Ids as the pipeline compares them: text, surrounding spaces stripped, in Unicode form ``ID_FORM``."""
    return series.cast(pl.String).str.strip_chars().str.normalize(ID_FORM)


def check_id_characters(text: pl.Series, column: str, path: Path) -> None:
    """Refuse ids holding a ``FORBIDDEN_ID_CHARS`` character, naming the first one and its line."""
    bad = text.str.contains(FORBIDDEN_ID_CHARS)
    if bad.any():
        example = text.filter(bad).head(1).str.slice(0, 40).to_list()[0]
        raise DatasetError(
            path,
            f"column {column!r} has {int(bad.sum())} id(s) with a control character or an invisible one (a line "
            f"break, tab, NUL, C1 control, zero-width character, direction override or byte-order mark: "
            f"{ascii(example)}), e.g. {_where(bad, path)}; such an id would read as another, or look like one",
        )


def _id_as_text(frame: pl.DataFrame, column: str, path: Path) -> pl.Series:
    """Raw ids may be integers or strings; anything else (floats, booleans, nulls) is rejected."""
    series = frame[column]
    if series.dtype.is_integer() or series.dtype == pl.String:
        text = clean_ids(series)
        missing = text.is_null() | text.str.to_lowercase().is_in(MISSING_IDS)
        if missing.any():
            raise DatasetError(
                path,
                f"column {column!r} has {int(missing.sum())} empty or NaN id(s), e.g. {_where(missing, path)}",
            )
        limit = max_id_chars()
        too_long = text.str.len_chars() > limit
        if too_long.any():
            raise DatasetError(
                path,
                f"column {column!r} has {int(too_long.sum())} id(s) longer than {limit} characters (the longest "
                f"{int(text.str.len_chars().max())}), e.g. {_where(too_long, path)}; an id names a user or an "
                f"item: if yours really are that long, raise {MAX_ID_CHARS_ENV}",
            )
        check_id_characters(text, column, path)
        return text
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
    check_folder_files(folder)
    frame = read_table(path)
    check_columns(frame, path, "interactions")
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
