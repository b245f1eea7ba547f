"""Persistent call cache: append-only Parquet segments in the lake, one per finished batch.

Each segment is written to a temporary file and renamed (on an object store: uploaded as one object), so a
process killed at any moment leaves either a whole segment or none. Reading takes the first row per key (a crash
during compaction may leave a row in two segments). Keys hash backend, model, prompt version and the exact input; nothing else is needed to decide
whether a call was already paid for.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import polars as pl

from llmhni_pipeline.lake import LakePath, atomic_write, is_remote, source

COMPACT_AFTER = 256  # segments


def cache_key(backend: str, model: str, prompt_version: str, payload: str) -> str:
    text = f"{backend}\x00{model}\x00{prompt_version}\x00{payload}"
    return hashlib.sha256(text.encode()).hexdigest()


class CallCache:
    """A namespace of cached results (``embeddings`` or ``judgments``) under ``<lake>/_llm_cache/``."""

    def __init__(self, root: LakePath, namespace: str):
        self.folder = root / namespace
        self.remote = is_remote(self.folder)
        self._compaction = None  # the compaction lease on an object store
        self.folder.mkdir(parents=True, exist_ok=True)

    def segments(self) -> list[LakePath]:
        return sorted(self.folder.glob("seg-*.parquet"), key=str)

    def load(self, keys: list[str] | None = None) -> pl.DataFrame:
        """Cached rows, first per key; restricted to ``keys`` when given.

        Another process may compact between our listing and our read (its merged segment is in place before
        it deletes the old ones): a vanished segment means the listing is stale, so list and read again while
        holding the compaction lock shared, which waits for that compaction to finish. An object store has no
        shared lock: there the listing is simply taken again, a few times."""
        if self.remote:
            for _ in range(4):
                try:
                    return self._read(keys)
                except (FileNotFoundError, pl.exceptions.ComputeError):
                    time.sleep(0.2)
            return self._read(keys)
        try:
            return self._read(keys)
        except FileNotFoundError:
            with open(self.folder / "_compact.lock", "a+") as handle:
                fcntl.flock(handle, fcntl.LOCK_SH)
                return self._read(keys)

    def _read(self, keys: list[str] | None) -> pl.DataFrame:
        segments = self.segments()
        if not segments:
            return pl.DataFrame()
        frame = pl.scan_parquet([source(segment) for segment in segments])
        if keys is not None:
            frame = frame.filter(pl.col("key").is_in(pl.Series(keys).implode()))
        if "status" in frame.collect_schema().names():
            # an answer read from the answer word (no log-probabilities) gives way to one that has them
            text = pl.col("status") == "text"
            better = frame.filter(~text).unique("key", keep="first", maintain_order=True)
            fallback = frame.filter(text).unique("key", keep="first", maintain_order=True)
            frame = pl.concat([better, fallback.join(better.select("key"), on="key", how="anti")])
        return frame.unique("key", keep="first", maintain_order=True).collect()

    @contextmanager
    def claim(
        self, keys: list[str], report: Callable[[str], None] = print, label: str = ""
    ) -> Iterator[None]:
        """Hold the work ``keys`` for this process, across processes and hosts that share the folder.

        Two runs asking for the same inputs at once (two runs of one partition launched by mistake, on two
        workers) would both find them uncached and both pay. The second waits here, saying who holds the
        work, then finds every answer the first one cached. The claim is an advisory ``flock`` on a file named
        by the keys' digest; the kernel releases it when its holder dies, so a killed run never blocks. On an
        object store it is a lease object of that name (``object_lake.ObjectLease``): a killed holder stops
        refreshing it, and a waiter takes it over one TTL later."""
        digest = hashlib.sha256("\n".join(sorted(set(keys))).encode()).hexdigest()[:20]
        if self.remote:
            from llmhni_pipeline.object_lake import hold

            what = f"is calling for the same {len(set(keys))} inputs; what it caches is not paid again"
            with hold(self.folder / "_claims" / f"{digest}.claim", lambda m: report(f"{label}: {m}"), what):
                yield
            return
        folder = self.folder / "_claims"
        folder.mkdir(exist_ok=True)
        with open(folder / f"{digest}.lock", "a+") as handle:
            waiting, blocked_since = False, None
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    blocked_since = blocked_since or time.monotonic()
                    if not waiting:
                        handle.seek(0)
                        holder = handle.read().strip()
                        # the holder writes its name just after taking the lock: give it a moment to do so
                        if holder or time.monotonic() - blocked_since > 2.0:
                            report(
                                f"{label}: waiting: {holder or 'another process'} is calling for the same "
                                f"{len(set(keys))} inputs; what it caches is not paid again"
                            )
                            waiting = True
                    time.sleep(0.5 if waiting else 0.05)  # a plain sleep, so Ctrl-C stops the wait
            handle.seek(0)
            handle.truncate()
            handle.write(f"process {os.getpid()} on {socket.gethostname()}")
            handle.flush()
            yield

    def put(self, rows: pl.DataFrame) -> LakePath | None:
        """Persist one batch of results as a new segment."""
        if rows.height == 0:
            return None
        path = self.folder / f"seg-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        atomic_write(path, lambda tmp: rows.write_parquet(tmp))
        if len(self.segments()) > COMPACT_AFTER:
            self.compact()
        return path

    def compact(self) -> None:
        """Merge all segments into one; the new segment is in place before the old ones go. One process
        compacts at a time; another that finds it busy leaves it to that one."""
        if self.remote:
            from llmhni_pipeline.object_lake import ObjectLease

            if self._compaction is None:  # kept, so that a lease left by a killed compactor expires for us
                self._compaction = ObjectLease(self.folder / "_compact.claim")
            if self._compaction.try_acquire():
                try:
                    self._compact()
                finally:
                    self._compaction.release()
            return
        with open(self.folder / "_compact.lock", "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            self._compact()

    def _compact(self) -> None:
        old = self.segments()
        merged = (
            pl.scan_parquet([source(segment) for segment in old])
            .unique("key", keep="first", maintain_order=True)
            .collect()
        )
        path = self.folder / f"seg-{time.time_ns():020d}-compact.parquet"
        atomic_write(path, lambda tmp: merged.write_parquet(tmp))
        for segment in old:
            segment.unlink(missing_ok=True)

    def __len__(self) -> int:
        return self.load().height
