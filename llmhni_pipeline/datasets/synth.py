"""Synthetic datasets for measuring cost, never quality (issue 28).

``synthesize`` draws ``n`` distinct (user, item) interactions with amazon-book's shape — as many users and items
per interaction, and degree distributions with the same skew (a rank power law fitted to it) — plus a templated
text per item, seeded, in seconds at 10⁷ interactions. The folder it writes is an ordinary incoming dataset, so
its partitions go through the real pipeline; a ``synthetic.json`` marker beside the files makes every report of
it say that its metrics mean nothing.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from llmhni_pipeline.datasets.errors import DatasetError
from llmhni_pipeline.lake import atomic_write

if TYPE_CHECKING:
    import polars as pl

MARKER = "synthetic.json"


@dataclass(frozen=True)
class Shape:
    """amazon-book ``llard``'s raw_interactions (200,860 interactions, 11,000 users, 9,332 items), measured
    2026-12-04: interactions per user and per item, and a rank power law (P(rank r) ∝ r^-a) per side whose
    exponent is set so that the drawn degrees have amazon-book's degree Gini coefficients, 0.44 for users and
    0.35 for items, at its size (a least-squares fit of degree against rank gives 0.65 and 0.54; drawing adds
    inequality of its own, so the exponents that reproduce the Gini are lower)."""

    per_user: float = 18.26
    per_item: float = 21.52
    user_exponent: float = 0.59
    item_exponent: float = 0.49


AMAZON_BOOK = Shape()

_GENRES = np.array(
    [
        "mystery",
        "romance",
        "history",
        "fantasy",
        "science",
        "cooking",
        "travel",
        "poetry",
        "thriller",
        "biography",
        "horror",
        "philosophy",
        "art",
        "business",
        "comics",
        "sport",
    ]
)
_TOPICS = np.array(
    [
        "a lighthouse",
        "an old city",
        "a lost letter",
        "two sisters",
        "a chess match",
        "the sea",
        "a detective",
        "a garden",
        "the war",
        "a long winter",
        "a small bakery",
        "a failed expedition",
        "a family secret",
        "the mountains",
        "a strange machine",
        "an election",
    ]
)
_TONES = np.array(["gentle", "dark", "funny", "slow-burning", "vivid", "clear", "moving", "brisk"])


def gini(values: np.ndarray) -> float:
    """The Gini coefficient of a degree sequence (0: all equal)."""
    v = np.sort(np.asarray(values, dtype=np.float64))
    n = len(v)
    return float((2 * np.arange(1, n + 1) - n - 1) @ v / (n * v.sum())) if n and v.sum() else 0.0


def _draw(
    n_entities: int, exponent: float, size: int, order: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """``size`` entity ids with P(rank r) ∝ r^-exponent, by the inverse of the continuous power law's CDF (one
    vectorised step; exact enough for cost), then through ``order`` so that ids do not follow degree."""
    if exponent == 1.0:
        raise ValueError("a rank exponent of exactly 1 needs the logarithmic CDF")
    power = 1.0 - exponent
    x = (rng.random(size) * (n_entities**power - 1.0) + 1.0) ** (1.0 / power)
    return order[np.minimum(x.astype(np.int64) - 1, n_entities - 1)]


MIN_INTERACTIONS, MAX_INTERACTIONS = (
    100,
    10**8,
)  # 10⁸: about 8 GB while drawing, the most a 24 GB machine holds
_ROUNDS = 100  # draws of fresh pairs before giving up (a handful suffice at amazon-book's density)
_MAX_DENSITY = (
    0.1  # small sets get a catalogue of at least 10 pairs per interaction, so n distinct pairs exist
)


def catalogue(n: int, shape: Shape = AMAZON_BOOK) -> tuple[int, int]:
    """Users and items for ``n`` interactions: amazon-book's ratios, widened alike where they would be denser than
    ``_MAX_DENSITY`` (at 100 interactions the ratios give 5 × 5 = 25 possible pairs)."""
    n_users, n_items = max(2, round(n / shape.per_user)), max(2, round(n / shape.per_item))
    if n_users * n_items * _MAX_DENSITY < n:
        grow = (n / (_MAX_DENSITY * n_users * n_items)) ** 0.5
        n_users, n_items = int(np.ceil(n_users * grow)), int(np.ceil(n_items * grow))
    return n_users, n_items


def draw_interactions(
    n: int, seed: int = 2026, shape: Shape = AMAZON_BOOK
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """``n`` distinct (user, item) pairs as two arrays sorted by user, and the user and item counts. numpy only, so
    the GPU scale script (``benchmarks/gpu_scale.py``) draws the same data where polars is not installed."""
    if not MIN_INTERACTIONS <= n <= MAX_INTERACTIONS:
        raise ValueError(f"--interactions: from {MIN_INTERACTIONS:,} to {MAX_INTERACTIONS:,}, not {n:,}")
    rng = np.random.default_rng(seed)
    n_users, n_items = catalogue(n, shape)
    user_order, item_order = rng.permutation(n_users), rng.permutation(n_items)
    keys = np.empty(0, dtype=np.int64)
    for _ in range(_ROUNDS):  # repeated pairs are dropped: draw until n distinct ones are there
        if len(keys) >= n:
            break
        draw = int((n - len(keys)) * 1.2) + 1000
        users = _draw(n_users, shape.user_exponent, draw, user_order, rng)
        items = _draw(n_items, shape.item_exponent, draw, item_order, rng)
        keys = np.unique(np.concatenate([keys, users * n_items + items]))
    if len(keys) < n:
        raise ValueError(f"only {len(keys):,} distinct pairs after {_ROUNDS} draws, {n:,} wanted")
    keys = np.sort(keys[rng.permutation(len(keys))[:n]])
    return keys // n_items, keys % n_items, n_users, n_items


def synthesize(n: int, seed: int = 2026, shape: Shape = AMAZON_BOOK) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``n`` distinct interactions (``user_id``, ``item_id``) and a text per item (``item_id``, ``text``)."""
    import polars as pl

    users, items, _, _ = draw_interactions(n, seed, shape)
    rng = np.random.default_rng(seed + 1)
    interactions = pl.DataFrame({"user_id": users, "item_id": items})
    used = np.unique(interactions["item_id"].to_numpy())
    texts = pl.DataFrame(
        {
            "item_id": used,
            "g": _GENRES[rng.integers(0, len(_GENRES), len(used))],
            "t": _TOPICS[rng.integers(0, len(_TOPICS), len(used))],
            "u": _TOPICS[rng.integers(0, len(_TOPICS), len(used))],
            "o": _TONES[rng.integers(0, len(_TONES), len(used))],
        }
    ).select(
        "item_id",
        text=pl.format("Book {}: a {} {} story about {} and {}.", "item_id", "o", "g", "t", "u"),
    )
    return interactions, texts


def write_synthetic(folder: Path, n: int, seed: int = 2026, fmt: str = "parquet") -> dict[str, object]:
    """Write the dataset as an incoming folder (interactions and items, in ``fmt``) with its marker; a summary."""
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"--format must be parquet or csv, not {fmt!r}")
    if folder.exists() and any(folder.iterdir()) and not (folder / MARKER).is_file():
        raise DatasetError(folder, "exists and is not a synthetic dataset; choose another name")
    started = time.perf_counter()
    interactions, texts = synthesize(n, seed)
    folder.mkdir(parents=True, exist_ok=True)
    for stem, frame in (("interactions", interactions), ("items", texts)):
        for old in folder.glob(f"{stem}.*"):
            old.unlink()
        path = folder / f"{stem}.{fmt}"
        write = frame.write_parquet if fmt == "parquet" else frame.write_csv
        atomic_write(path, lambda tmp, write=write: write(tmp))
    user_degree = interactions.group_by("user_id").len()["len"].to_numpy()
    item_degree = interactions.group_by("item_id").len()["len"].to_numpy()
    summary = {
        "interactions": interactions.height,
        "users": len(user_degree),
        "items": len(item_degree),
        "user_degree_gini": round(gini(user_degree), 3),
        "item_degree_gini": round(gini(item_degree), 3),
        "seed": seed,
        "shape": asdict(AMAZON_BOOK),
        "seconds": round(time.perf_counter() - started, 2),
        "note": "synthetic data for measuring cost: its metrics mean nothing",
    }
    atomic_write(folder / MARKER, lambda tmp: tmp.write_text(json.dumps(summary, indent=1)))
    return summary


def synthetic_note(folder: Path) -> str | None:
    """The marker's note when ``folder`` holds a synthetic dataset."""
    marker = folder / MARKER
    return json.loads(marker.read_text()).get("note") if marker.is_file() else None
