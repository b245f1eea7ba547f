"""Stage 1: one text per user and per item.

Provided profiles are used where a dataset ships them (RLMRec's LLM-written Amazon-Book profiles, Steam item
profiles, an incoming folder's ``items``/``users`` tables). Otherwise texts are templated from metadata and,
for users, from their **training** history only: valid and test items never enter a profile.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from llmhni_pipeline.datasets import incoming, movielens, rlmrec
from llmhni_pipeline.datasets.errors import DatasetError
from llmhni_pipeline.datasets.registry import DatasetSpec, SourceKind
from llmhni_pipeline.lake import LakePath, incoming_dir, raw_dir

PROFILE_SCHEMA = {"entity": pl.String, "id": pl.Int32, "text": pl.String, "source": pl.String}
# A templated user profile is the judge's per-user context, evaluated once per user: every token of it is paid
# for on 2 CPU cores (docs/notebook/2026-12-02-benchmarks.md, §15). So it quotes short titles where the items have them (the issue's
# "titles as evidence"), the user's most frequent genres where the items have genres, and a few items.
HISTORY_ITEMS = 6  # items quoted in a templated user profile
HISTORY_CHARS = 120  # characters kept of each quoted item text (items without a title)
TOP_GENRES = 3  # most frequent genres of the user's training items named in the profile


def _raw_to_id(id_mappings: pl.DataFrame, entity: str) -> pl.DataFrame:
    return id_mappings.filter(pl.col("entity") == entity).select("id", "raw_id")


def _provided_rlmrec(folder: Path, entity: str) -> pl.DataFrame | None:
    path = folder / f"{folder.name}_{entity}_profiles.csv"
    if not path.is_file():
        return None
    return rlmrec.read_profile_csv(path, entity).rename({"profile_text": "text"})


def _provided_incoming(
    folder: Path, entity: str, id_mappings: pl.DataFrame, notes: list[str] | None = None
) -> pl.DataFrame | None:
    """An incoming folder's ``items``/``users`` texts by id; ids are read as ``interactions`` ids are (stripped,
    NFC). A text whose id is in no interaction is left out and named in ``notes``."""
    path = incoming.find_table(folder, f"{entity}s")
    if path is None:
        return None
    table = incoming.read_table(path)
    id_col = f"{entity}_id"
    incoming.check_columns(table, path, f"{entity}s")
    raw_ids = incoming.clean_ids(table[id_col])
    incoming.check_id_characters(raw_ids, id_col, path)
    table = pl.DataFrame({"raw_id": raw_ids, "text": table["text"].cast(pl.String)}).with_row_index(
        "line", offset=2
    )
    dupes = table.filter(pl.col("raw_id").is_duplicated())
    if dupes.height:
        shown = ", ".join(f"{r['raw_id']} (line {r['line']})" for r in dupes.head(6).iter_rows(named=True))
        raise DatasetError(path, f"{id_col} repeats: {shown}; give each {entity} one text")
    empty = table.filter(pl.col("text").is_null() | (pl.col("text").str.strip_chars() == ""))
    if empty.height:
        lines = empty["line"].head(5).to_list()
        raise DatasetError(path, f"{empty.height} {entity}(s) have an empty text, e.g. on line(s) {lines}")
    mapping = _raw_to_id(id_mappings, entity)
    unmatched = table.join(mapping, on="raw_id", how="anti")
    if unmatched.height and notes is not None:
        shown = ", ".join(
            f"{r['raw_id']!r} (line {r['line']})" for r in unmatched.head(5).iter_rows(named=True)
        )
        notes.append(
            f"{path}: {unmatched.height} text(s) name {'an' if entity == 'item' else 'a'} {entity} with no "
            f"interaction and are not used, e.g. {shown}"
        )
    return table.join(mapping, on="raw_id").select("id", "text")


def _movielens_items(folder: Path, id_mappings: pl.DataFrame) -> pl.DataFrame:
    items = movielens.load_movielens_items(folder)
    text = pl.format(
        "{} ({}). Genres: {}.",
        pl.col("title"),
        pl.col("year"),
        pl.col("genres").str.split(" ").list.join(", "),
    )
    return (
        items.select(pl.col("raw_item").alias("raw_id"), text.alias("text"), "title", "genres")
        .join(_raw_to_id(id_mappings, "item"), on="raw_id")
        .select("id", "text", "title", "genres")
    )


def _movielens_user_intro(folder: Path, id_mappings: pl.DataFrame) -> pl.DataFrame:
    users = movielens.load_movielens_users(folder)
    gender = pl.when(pl.col("gender") == "F").then(pl.lit("female")).otherwise(pl.lit("male"))
    intro = pl.format("A {}-year-old {} {}.", pl.col("age"), gender, pl.col("occupation"))
    return (
        users.select(pl.col("raw_user").alias("raw_id"), intro.alias("intro"))
        .join(_raw_to_id(id_mappings, "user"), on="raw_id")
        .select("id", "intro")
    )


def history_profiles(
    train: pl.DataFrame, item_text: pl.DataFrame, intro: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Templated user texts: an optional intro, the user's ``TOP_GENRES`` most frequent genres (when
    ``item_text`` has a space-separated ``genres`` column), then up to ``HISTORY_ITEMS`` training items, quoted by
    their ``title`` column when there is one, else by the first ``HISTORY_CHARS`` characters of their text.

    ``train`` must hold training edges only; the caller filters, this function never sees valid/test.
    """
    quoted = pl.col("title") if "title" in item_text.columns else pl.col("text").str.slice(0, HISTORY_CHARS)
    edges = train.select(pl.col("user_id").alias("id"), pl.col("item_id")).join(
        item_text.select(pl.col("id").alias("item_id"), quoted.alias("quoted")), on="item_id"
    )
    liked = (
        edges.sort("id", "item_id")
        .group_by("id", maintain_order=True)
        .agg(pl.col("quoted").head(HISTORY_ITEMS).str.join("; ").alias("liked"), pl.len().alias("n"))
    )
    mostly = pl.lit("")
    if "genres" in item_text.columns:
        counts = (
            edges.join(
                item_text.select(pl.col("id").alias("item_id"), pl.col("genres").str.split(" ")),
                on="item_id",
            )
            .explode("genres")
            .filter(pl.col("genres").str.len_chars() > 0)
            .group_by("id", "genres")
            .len()
            .sort(["id", "len", "genres"], descending=[False, True, False])
        )
        top = counts.group_by("id", maintain_order=True).agg(pl.col("genres").head(TOP_GENRES))
        liked = liked.join(top, on="id", how="left")
        mostly = (
            pl.when(pl.col("genres").list.len() > 1)
            .then(
                pl.format(
                    ", mostly {} and {}",
                    pl.col("genres").list.head(pl.col("genres").list.len() - 1).list.join(", "),
                    pl.col("genres").list.last(),
                )
            )
            .when(pl.col("genres").list.len() == 1)
            .then(pl.format(", mostly {}", pl.col("genres").list.first()))
            .otherwise(pl.lit(""))
        )
    text = pl.format("Liked {} items in training{}, including: {}.", pl.col("n"), mostly, pl.col("liked"))
    if intro is not None:
        liked = liked.join(intro, on="id", how="full", coalesce=True)
        text = pl.concat_str([pl.col("intro"), pl.lit(" "), text], ignore_nulls=True)
    return liked.select("id", text.alias("text"))


def build_text_profiles(
    spec: DatasetSpec,
    raw_interactions: pl.DataFrame,
    id_mappings: pl.DataFrame,
    lake_dir: LakePath,
    shared_dir: Path,
    notes: list[str] | None = None,
) -> pl.DataFrame:
    """``entity, id, text, source`` for every user and item that has a text; raises if none has any. What was
    left out (a text naming no interacting user or item) is said in ``notes``."""
    train = raw_interactions.filter(pl.col("split") == "train")
    kind = spec.source.kind
    items = users = None
    item_source = user_source = "provided"
    intro = None
    if kind is SourceKind.RLMREC:
        folder = shared_dir / spec.source.folder
        items, users = _provided_rlmrec(folder, "item"), _provided_rlmrec(folder, "user")
    elif kind is SourceKind.MOVIELENS:
        folder = raw_dir(lake_dir) / spec.source.folder
        items = _movielens_items(folder, id_mappings)
        intro = _movielens_user_intro(folder, id_mappings)
        item_source = "template"
    else:
        folder = incoming_dir(lake_dir) / spec.source.name
        items = _provided_incoming(folder, "item", id_mappings, notes)
        users = _provided_incoming(folder, "user", id_mappings, notes)
    if items is None and users is None:
        raise DatasetError(
            folder,
            f"dataset {spec.source.name!r} has no text for users or items: the text "
            "stages (profiles, embeddings, projector, LLM judging) cannot run for it",
        )
    users = users.select("id", "text", pl.lit(user_source).alias("source")) if users is not None else None
    if items is not None:
        # a user without a text of its own (none given, or users.csv covers only some) gets the templated
        # profile from the items it liked in training
        templated = history_profiles(train, items, intro).with_columns(source=pl.lit("template"))
        users = templated if users is None else pl.concat([users, templated.join(users, on="id", how="anti")])
        items = items.select("id", "text")
    parts = [users.select(pl.lit("user").alias("entity"), "id", "text", "source")]
    if items is not None:
        parts.append(
            items.select(pl.lit("item").alias("entity"), "id", "text", pl.lit(item_source).alias("source"))
        )
    table = pl.concat([p.select([pl.col(c).cast(t) for c, t in PROFILE_SCHEMA.items()]) for p in parts])
    return (
        table.with_columns(pl.col("text").str.strip_chars())
        .filter(pl.col("text").str.len_chars() > 0)
        .sort("entity", "id")
    )


def coverage(profiles: pl.DataFrame, n_users: int, n_items: int) -> dict[str, int]:
    """How many users/items have no text (reported in metadata and checked)."""
    have = dict(profiles.group_by("entity").len().iter_rows())
    return {
        "users_without_text": n_users - have.get("user", 0),
        "items_without_text": n_items - have.get("item", 0),
    }


def without_text(profiles: pl.DataFrame, id_mappings: pl.DataFrame, entity: str, n: int) -> list[str]:
    """The raw ids of the ``entity``s (of ``n``) that have no text, in id order."""
    ids = pl.DataFrame({"id": pl.Series(range(n), dtype=pl.Int64)})
    have = profiles.filter(pl.col("entity") == entity).select(pl.col("id").cast(pl.Int64))
    raw = id_mappings.filter(pl.col("entity") == entity).select(pl.col("id").cast(pl.Int64), "raw_id")
    missing = ids.join(have, on="id", how="anti").join(raw, on="id", how="left").sort("id")
    return [str(r if r is not None else i) for i, r in missing.iter_rows()]
