"""``llmhni fetch rlmrec``: RLMRec's Amazon-Book, Yelp and Steam files and LLaRD's derived ones, downloaded from
their public repositories at pinned commits, each checked against a pinned SHA-256.

Every file comes from a GitHub repository at a full commit id (``raw.githubusercontent.com/<repo>/<commit>/
<path>``); which repository holds which file, and why, is in the data guide (docs/guide/datasets.md). A file is
downloaded into a temporary file beside its destination, hashed while it streams, and renamed into place only when
its size and SHA-256 are the pinned ones: a corrupted, truncated or interrupted download never leaves a file that
looks good, and a file already present with the right hash is not downloaded again. ``--mirror URL`` (or
``LLMHNI_RLMREC_MIRROR``) reads the same files from a copy laid out as the data folder (``<URL>/amazon/
trn_mat.pkl``), a ``file://`` folder or an ``http://`` server, through the same code.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MIRROR_ENV = "LLMHNI_RLMREC_MIRROR"
GITHUB_RAW = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class PinnedFile:
    path: str  # where it lives in the data folder
    repo: str
    commit: str
    source: str  # its path in the repository
    sha256: str
    size: int

    def url(self, mirror: str | None = None) -> str:
        if mirror:
            return f"{mirror.rstrip('/')}/{self.path}"
        return f"{GITHUB_RAW}/{self.repo}/{self.commit}/{self.source}"


IRLLREC = ("wangyu0627/IRLLRec", "ee8330b456e568f87869ec6c0c553c55d43fce6e")
PROREC = ("BlueGhostYi/ProRec", "48a3a3d5075c1112c793b9bfc78de9a8b000ffe2")
RLMREC = ("HKUDS/RLMRec", "22413752246de3dee8ab0d509f7f7a8889080f95")
PROFILES = ("allynee/LLM-UserEmbedding", "61c8751ab563b8557fdf31ab5179259134683bc8")
LLARD = ("shuyao-wang/LLaRD", "936fe15d11d332054d8485833a56e02159d67994")

# (data-folder path, (repository, commit), repository path, SHA-256, bytes)
_TABLE = [
    ("amazon/trn_mat.pkl", IRLLREC, "data/amazon/trn_mat.pkl", "535cc15f915858a64249e3a893cceac9efe8e6f1ce17c08879a3c099c510b309", 1927826),
    ("amazon/val_mat.pkl", IRLLREC, "data/amazon/val_mat.pkl", "90cd52a011f9b31081461a010e9bccb98d12a1dd7a7760085facbc7d1a2c46c3", 645036),
    ("amazon/tst_mat.pkl", IRLLREC, "data/amazon/tst_mat.pkl", "c279ce551d32536ed90d916212bc0b891ce4c189ea7cfa5e4051e0dbfc728d17", 642092),
    ("amazon/mapper_user.json", RLMREC, "data/mapper/amazon_user.json", "56495e3dd4bb0e94a64771876064216e829a779721e37e69e96cbfac5fe3fbd4", 503061),
    ("amazon/mapper_item.json", RLMREC, "data/mapper/amazon_item.json", "b473f639c1e8995f5eb8590835b3c2ef89a744290b2ab92ff63b1cafe83d4e25", 334841),
    ("amazon/amazon_user_profiles.csv", PROFILES, "data/exports/amazon_user_profiles.csv", "1fb7c7c6c5047875e248ac9748d7f14d24ea80bb36cb927300c94dc7c2223c5c", 4069803),
    ("amazon/amazon_item_profiles.csv", PROFILES, "data/exports/amazon_item_profiles.csv", "1c5b6b121b236f5c0dd35fbb342208160c6bf580faea9e2bea91ddfc04689b8a", 3444236),
    ("amazon/llard/traindata.npy", LLARD, "data/amazon_book/traindata.npy", "67ea24ebda3c2fecf9ce214ce11115aa7c1e63946feebb6ede35d42721f67fb0", 595138),
    ("amazon/llard/testdata.npy", LLARD, "data/amazon_book/testdata.npy", "7784b25c6a6ced5eb4f4c9e3cf1a8339da52d0f7625389b1f7317bac09744d82", 224081),
    ("amazon/llard/aug_traindata.npy", LLARD, "data/amazon_book/rel_k/aug_traindata.npy", "da0b7a4db3c75b51d8b400ec4ee60f0d483e4ed8861dcba570281664150604a1", 595245),
    ("amazon/llard/uu_data.npy", LLARD, "data/amazon_book/rel_k/uu_data.npy", "744861f6d4e3fb3160b982a0c8ca8a21761f80150b8f4fcf3770acbac09812e6", 142263),
    ("yelp/trn_mat.pkl", IRLLREC, "data/yelp/trn_mat.pkl", "2306f5b9de8f3dd3342744d937a45b04abd22ede422304a549fb324e12e5f6bd", 2666322),
    ("yelp/val_mat.pkl", IRLLREC, "data/yelp/val_mat.pkl", "33aaf3bd27bd25d7d3e8223700fbd2d5400feec217c9ce09c87785460bcb355b", 888060),
    ("yelp/tst_mat.pkl", IRLLREC, "data/yelp/tst_mat.pkl", "3007de4f5955223bf7752f59cadb3b069d92acb879987e7eee286f252772a564", 887372),
    ("yelp/mapper_user.json", RLMREC, "data/mapper/yelp_user.json", "15eef148de31b1ca1afb17bfe2cc450ba4fa3bca043a72c4006630bd4a359228", 565621),
    ("yelp/mapper_item.json", RLMREC, "data/mapper/yelp_item.json", "42f674d89d20499b7fc1ece5bb06b7c9a2730e45bee9de47496c37409be818f5", 605449),
    ("yelp/llard/traindata.npy", LLARD, "data/yelp/traindata.npy", "fbb9a9bb7c8b5615b0c19a04f9099a26dc601dad27a6b1b3edc22080f70224bf", 774775),
    ("yelp/llard/testdata.npy", LLARD, "data/yelp/testdata.npy", "9f3b27206b76aed508d3a8b9b3a7791e02ca762e4cbec802b6aaf406e1bb7d94", 277683),
    ("yelp/llard/aug_traindata.npy", LLARD, "data/yelp/rel_k/aug_traindata.npy", "9c857db0fed6160a17d42ec6c9e13a41044d20ee7de77f0d5777fc6448fefaee", 775151),
    ("yelp/llard/uu_data.npy", LLARD, "data/yelp/rel_k/uu_data.npy", "8aa393c23bb622e9b81a03a999dfa68a5d1e085e08a84721630929a9fba5cee9", 143512),
    ("steam/val_mat.pkl", PROREC, "data/steam/val_mat.pkl", "10c762435cfee4e80b04df1fedee7cb37c6602eaec8c661b399c26337b7ca6e2", 1678754),
    ("steam/tst_mat.pkl", PROREC, "data/steam/tst_mat.pkl", "703ee5e29bdadcd9636ce0af4babb19db607622654e7dde24a3086988c231818", 1677762),
    ("steam/mapper_user.json", RLMREC, "data/mapper/steam_user.json", "58618479712bbc6d1457d49c446754eb0f58187fd95817409ad3bbd6f2981b14", 964482),
    ("steam/mapper_item.json", RLMREC, "data/mapper/steam_item.json", "36a5419c5194ad9821e3a374696bae030bc395e724f5eb4fa6d94892f71a5b60", 196824),
    ("steam/steam_item_profiles.csv", PROFILES, "data/exports/steam_item_profiles.csv", "d122c3830863817e5107bbff06796eda695813f6eeccb71f75aa3959534e361a", 2796707),
]  # fmt: skip
CATALOG: tuple[PinnedFile, ...] = tuple(
    PinnedFile(path, repo, commit, source, sha, size) for path, (repo, commit), source, sha, size in _TABLE
)
# what `llmhni fetch` takes: the whole set, or one dataset's folder (its LLaRD files included)
GROUPS = {
    "rlmrec": ("amazon", "yelp", "steam"),
    "amazon-book": ("amazon",),
    "yelp": ("yelp",),
    "steam": ("steam",),
}


class FetchError(RuntimeError):
    """A file could not be fetched, or came with the wrong size or hash; nothing was left in its place."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_fetched(folder: Path, group: str = "rlmrec") -> bool:
    """Whether every file of ``group`` is in ``folder`` at its pinned size (hashes are checked by ``fetch``)."""
    return all(
        (folder / f.path).is_file() and (folder / f.path).stat().st_size == f.size for f in files_of(group)
    )


def files_of(group: str) -> list[PinnedFile]:
    if group not in GROUPS:
        raise ValueError(f"unknown data set {group!r}; known: {', '.join(GROUPS)}")
    return [f for f in CATALOG if f.path.split("/", 1)[0] in GROUPS[group]]


def _download(pinned: PinnedFile, url: str, target: Path, timeout_s: float) -> None:
    """Stream ``url`` into a temporary file beside ``target``, then rename it into place if its size and hash are
    the pinned ones. Any failure removes the temporary file and raises ``FetchError``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}.*.part"):  # left by a download that was killed
        stale.unlink(missing_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        digest, size = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout_s) as response:
                for block in iter(lambda: response.read(1 << 16), b""):
                    digest.update(block)
                    out.write(block)
                    size += len(block)
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            raise FetchError(
                f"{pinned.path}: download from {url} failed ({type(exc).__name__}: {exc})"
            ) from None
        if size != pinned.size:
            raise FetchError(
                f"{pinned.path}: {size:,} bytes from {url}, expected {pinned.size:,} (a truncated or wrong file); "
                "nothing was kept"
            )
        if digest.hexdigest() != pinned.sha256:
            raise FetchError(
                f"{pinned.path}: SHA-256 {digest.hexdigest()} from {url} is not the pinned {pinned.sha256} "
                "(a corrupted or altered file); nothing was kept"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def fetch(
    target: Path,
    group: str = "rlmrec",
    mirror: str | None = None,
    report: Callable[[str], None] = print,
    timeout_s: float = 60.0,
    files: list[PinnedFile] | None = None,
) -> list[Path]:
    """Every file of ``group`` (or of ``files``) in ``target`` (a data folder like ``../shared/data``), downloaded
    where missing or wrong; returns the files' paths. Raises ``FetchError`` at the first file that fails, with
    every file fetched before it kept."""
    mirror = mirror or os.environ.get(MIRROR_ENV) or None
    wanted = files if files is not None else files_of(group)
    total = sum(f.size for f in wanted)
    done_bytes, started, out = 0, time.perf_counter(), []
    for k, pinned in enumerate(wanted, 1):
        path = target / pinned.path
        if path.is_file() and path.stat().st_size == pinned.size and sha256_file(path) == pinned.sha256:
            report(f"[{k}/{len(wanted)}] {pinned.path}: present, SHA-256 verified")
        else:
            url = pinned.url(mirror)
            _download(pinned, url, path, timeout_s)
            done_bytes += pinned.size
            elapsed = time.perf_counter() - started
            left = sum(f.size for f in wanted[k:])
            eta = f", about {left / (done_bytes / elapsed):.0f} s left" if elapsed > 0 and left else ""
            report(
                f"[{k}/{len(wanted)}] {pinned.path}: {pinned.size / 2**20:.1f} MiB from {url}, SHA-256 verified{eta}"
            )
        out.append(path)
    report(f"{group}: {len(wanted)} files, {total / 2**20:.1f} MiB, in {target}")
    return out
