"""Which datasets exist and how a partition key maps to a source, a split protocol and a noise level.

Partition keys read ``<source>[-<protocol>][-hide<percent>][-noise<percent>]``, e.g. ``ml-100k``,
``amazon-book-llard``, ``amazon-book-llard-noise10`` or ``ml-100k-hide10``. Every built-in source has a default
protocol; any folder dropped into the lake's incoming area is a source of kind ``incoming`` named after the
folder.

The two suffixes plant a truth that a judge can be measured against without touching validation or test:
``-noiseNN`` adds NN% fake training edges (known false positives), ``-hideNN`` holds back NN% of each user's
training edges from G (known false negatives: a perfect judge would add them back). Both may be combined.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from llmhni_pipeline.datasets.errors import DatasetError
from llmhni_pipeline.lake import LakePath, incoming_dir


class Protocol(StrEnum):
    RLMREC = "rlmrec"  # the given 3:1:1 train/valid/test split
    LLARD = "llard"  # train = trn ∪ val, test = tst, a seeded per-user validation slice carved from train
    RANDOM = "random"  # seeded per-user 8:1:1 split for datasets that ship none


class SourceKind(StrEnum):
    MOVIELENS = "movielens"
    RLMREC = "rlmrec"
    INCOMING = "incoming"


@dataclass(frozen=True)
class Source:
    name: str
    kind: SourceKind
    folder: str  # sub-folder of the shared data dir (rlmrec) or of the raw area (movielens)
    protocols: tuple[Protocol, ...]
    description: str


BUILTIN_SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source(
            "ml-100k",
            SourceKind.MOVIELENS,
            "ml-100k",
            (Protocol.RANDOM,),
            "MovieLens-100K from the recbole==1.2.1 wheel; ratings >= 4 as positives, seeded 8:1:1",
        ),
        Source(
            "amazon-book",
            SourceKind.RLMREC,
            "amazon",
            (Protocol.RLMREC, Protocol.LLARD),
            "RLMRec Amazon-Book with LLM-written user and item profiles",
        ),
        Source(
            "yelp",
            SourceKind.RLMREC,
            "yelp",
            (Protocol.RLMREC, Protocol.LLARD),
            "RLMRec Yelp (no text profiles)",
        ),
        Source(
            "steam",
            SourceKind.RLMREC,
            "steam",
            (Protocol.RLMREC, Protocol.LLARD),
            "RLMRec Steam (item profiles; the train split is not shipped)",
        ),
    )
}

DEFAULT_DATASET = "ml-100k"
NOISE_RATIOS = (0.05, 0.10, 0.15, 0.20)
HIDE_RATIOS = NOISE_RATIOS

_KEY_RE = re.compile(
    r"^(?P<source>[a-z0-9][a-z0-9_.-]*?)(?:-(?P<protocol>rlmrec|llard|random))?"
    r"(?:-hide(?P<hide>\d{1,2}))?(?:-noise(?P<noise>\d{1,2}))?$"
)


@dataclass(frozen=True)
class DatasetSpec:
    """Everything stage 0 needs to know about one partition."""

    key: str
    source: Source
    protocol: Protocol
    noise_ratio: float  # share of fake training edges added (RocSE "add" protocol); 0 for clean data
    hide_ratio: float = 0.0  # share of each user's training edges held back from G (split "hidden")

    @property
    def is_builtin(self) -> bool:
        return self.source.kind is not SourceKind.INCOMING

    @property
    def planted_truth(self) -> bool:
        """Whether some candidate pairs have a known truth: injected edges (``-noiseNN``) or held-back ones
        (``-hideNN``)."""
        return bool(self.noise_ratio or self.hide_ratio)

    @property
    def is_clean(self) -> bool:
        """The source's own split, nothing injected or held back."""
        return not self.planted_truth


def parse_dataset_key(key: str, lake_dir: LakePath) -> DatasetSpec:
    """Resolve a partition key, or raise a ``DatasetError`` that lists what is known."""
    match = _KEY_RE.match(key)
    if not match:
        raise DatasetError(
            key, "not a valid dataset key; expected <source>[-rlmrec|-llard|-random][-hideNN][-noiseNN]"
        )
    name = match["source"]
    source = BUILTIN_SOURCES.get(name)
    if source is None and (swapped := re.search(r"-noise(\d{1,2})-hide(\d{1,2})$", key)):
        raise DatasetError(
            key,
            f"write -hideNN before -noiseNN: {key[: swapped.start()]}-hide{swapped[2]}-noise{swapped[1]}",
        )
    if source is None:
        folder = incoming_dir(lake_dir) / name
        whole = incoming_dir(lake_dir) / key  # a folder named like the whole key: say why it is no dataset
        if not folder.is_dir() and whole.is_dir() and (why := incoming_folder_problem(whole)):
            raise DatasetError(whole, f"not a dataset folder: {why}")
        if not folder.is_dir():
            known = ", ".join(sorted(BUILTIN_SOURCES) + list_incoming(lake_dir))
            raise DatasetError(
                folder, f"unknown dataset {name!r}: not built in and no such incoming folder (known: {known})"
            )
        if why := incoming_folder_problem(folder):
            raise DatasetError(folder, f"not a dataset folder: {why}")
        source = Source(name, SourceKind.INCOMING, name, (Protocol.RANDOM,), f"incoming folder {folder}")
    protocol = Protocol(match["protocol"]) if match["protocol"] else source.protocols[0]
    if protocol not in source.protocols:
        raise DatasetError(
            key, f"protocol {protocol} does not apply to {name} (allowed: {', '.join(source.protocols)})"
        )
    noise = int(match["noise"]) / 100 if match["noise"] else 0.0
    if noise and round(noise, 2) not in NOISE_RATIOS:
        raise DatasetError(key, f"noise level {noise:.2f} is not one of {NOISE_RATIOS}")
    hide = int(match["hide"]) / 100 if match["hide"] else 0.0
    if hide and round(hide, 2) not in HIDE_RATIOS:
        raise DatasetError(key, f"hidden share {hide:.2f} is not one of {HIDE_RATIOS}")
    return DatasetSpec(key=key, source=source, protocol=protocol, noise_ratio=noise, hide_ratio=hide)


# a partition's folder is dataset=<name>-noiseNN (or -hideNN) and a file name holds at most 255 bytes: with room
# for the longest suffix and to spare, an incoming name has at most 200 characters (ASCII: 200 bytes)
MAX_INCOMING_NAME = 200


def incoming_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name an incoming dataset folder (``None``: it can), before anything is written."""
    if len(name) > MAX_INCOMING_NAME:
        return (
            f"a dataset folder name has at most {MAX_INCOMING_NAME} characters, not {len(name)}: its partitions' "
            "folders (dataset=<name>-noiseNN) must fit a file name's 255 bytes"
        )
    match = _KEY_RE.match(name)
    if not match or name in (".", ".."):
        return "a dataset folder name uses lower-case letters, digits, '.', '_' and '-' only, and starts with a letter or digit"
    if match["source"] != name:
        return (
            f"the name ends in a partition suffix (-rlmrec, -llard, -random, -hideNN, -noiseNN), which would be "
            f"read as protocol, hidden share or noise of {match['source']!r}; rename the folder"
        )
    if name in BUILTIN_SOURCES:
        return f"{name!r} is a built-in dataset; rename the folder"
    return None


def incoming_folder_problem(folder: Path) -> str | None:
    """Why an incoming folder cannot be a dataset (``None``: it can)."""
    if why := incoming_name_problem(folder.name):
        return why
    if not any((folder / f"interactions.{ext}").is_file() for ext in ("parquet", "csv")):
        return "no interactions.parquet or interactions.csv inside"
    return None


def rejected_incoming(lake_dir: LakePath) -> dict[str, str]:
    """Incoming folders that are not datasets, with the reason, so they are reported rather than skipped."""
    root = incoming_dir(lake_dir)
    if not root.is_dir():
        return {}
    problems = {p.name: incoming_folder_problem(p) for p in sorted(root.iterdir()) if p.is_dir()}
    return {name: why for name, why in problems.items() if why}


def list_incoming(lake_dir: LakePath) -> list[str]:
    """Names of incoming dataset folders that can be materialized."""
    root = incoming_dir(lake_dir)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and incoming_folder_problem(p) is None)


def builtin_dataset_keys() -> list[str]:
    """The clean built-in partitions, one per source and protocol (noise variants are added on demand)."""
    keys = []
    for source in BUILTIN_SOURCES.values():
        for i, protocol in enumerate(source.protocols):
            keys.append(source.name if i == 0 else f"{source.name}-{protocol}")
    return keys
