"""The lake on an object store (``LLMHNI_LAKE_DIR=s3://bucket/prefix``): paths, atomic writes and leases.

Paths are ``UPath`` objects from universal_pathlib over s3fs (the fsspec project's own S3 filesystem), so the
code that joins, lists and opens lake paths is the same for a folder and a bucket; polars reads the same
objects through its native object-store reader (``lake.source``), DuckDB through the same s3fs filesystem
(``lake_catalog``). Credentials come from the environment only: ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY`` (and ``AWS_SESSION_TOKEN`` when temporary), ``AWS_ENDPOINT_URL`` for an S3-compatible
server, ``AWS_REGION``. No key is ever written to the lake, a log or an error.

What a shared folder gets from the kernel, a bucket gets from the store:
- an atomic replace: one object is uploaded whole, and readers see the old object until the upload completes;
- a claim held by one process at a time: a lease object created with ``If-None-Match: *``, refreshed by its
  holder and taken over with ``If-Match`` once its holder has stopped refreshing it (``ObjectLease``).
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from llmhni_pipeline.settings import env_number

if TYPE_CHECKING:
    from upath import UPath

SCHEMES = ("s3",)
CREDENTIAL_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
LEASE_TTL_ENV = "LLMHNI_LEASE_TTL_S"
DEFAULT_LEASE_TTL_S = 60.0


class LakeConfigError(ValueError):
    """The lake URL, or what it needs from the environment or the installation, is wrong or missing."""


def object_lake(url: str) -> UPath:
    """The lake at ``url`` as a path object, after checking the scheme, the credentials and the installation.

    Listings are not cached: another worker may have written since this process last listed a folder. The keys
    stay in the environment, where s3fs reads them; they are never part of the path's options."""
    scheme, _, rest = url.partition("://")
    if scheme not in SCHEMES:
        raise LakeConfigError(
            f"LLMHNI_LAKE_DIR={url}: the lake may be a folder or an s3:// URL (any S3-compatible store, "
            f"through AWS_ENDPOINT_URL), not {scheme}://"
        )
    if not rest.strip("/"):
        raise LakeConfigError(f"LLMHNI_LAKE_DIR={url}: name a bucket, e.g. s3://bucket/prefix")
    missing = [name for name in CREDENTIAL_ENV if not os.environ.get(name)]
    if missing:
        raise LakeConfigError(
            f"LLMHNI_LAKE_DIR={url} needs {' and '.join(missing)} in the environment (the lake's credentials "
            "are read from the environment only; AWS_ENDPOINT_URL names an S3-compatible server)"
        )
    try:
        import s3fs  # noqa: F401  (what UPath opens s3:// with; its absence would surface only at first use)
        from upath import UPath
    except ModuleNotFoundError as exc:
        raise LakeConfigError(
            f"LLMHNI_LAKE_DIR={url} needs the s3 extra: pip install -e '.[s3]' ({exc.name} is missing)"
        ) from None
    # the endpoint goes into the options (it is no secret) because fsspec keeps one filesystem per set of
    # options for the life of the process: a process whose AWS_ENDPOINT_URL changed would reach the old server
    endpoint = {"endpoint_url": os.environ["AWS_ENDPOINT_URL"]} if os.environ.get("AWS_ENDPOINT_URL") else {}
    return UPath(url.rstrip("/"), use_listings_cache=False, **endpoint)


def upload_atomically(path: UPath, write: Callable[[Path], None]) -> None:
    """``write`` a local temporary file, then upload it as the object at ``path`` in one put (a multipart
    upload above s3fs's part size, which the store also shows only once it completes)."""
    with tempfile.TemporaryDirectory(prefix="llmhni-upload-") as folder:
        tmp = Path(folder) / path.name
        write(tmp)
        path.fs.put_file(str(tmp), path.path)


def lease_ttl_s() -> float:
    """Seconds a lease outlives its holder's last refresh: ``$LLMHNI_LEASE_TTL_S`` or 60."""
    try:
        return env_number(
            LEASE_TTL_ENV, DEFAULT_LEASE_TTL_S, float, 0, exclusive_minimum=True, what="a number of seconds"
        )
    except ValueError as exc:
        raise LakeConfigError(str(exc)) from None


def _precondition_failed(exc: OSError) -> bool:
    """Whether s3fs's error is the store's 412 Precondition Failed. s3fs makes it a FileExistsError when the store
    names the failed condition (``If-None-Match``, as AWS and moto do) and an EINVAL OSError otherwise (Ceph's
    RGW); the store's own answer is kept as the error's cause."""
    if isinstance(exc, FileExistsError):
        return True
    response = getattr(exc.__cause__, "response", None) or {}
    code = response.get("Error", {}).get("Code")
    return code == "PreconditionFailed" or response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 412


def _bare(etag: object) -> str | None:
    """An ETag without its quotes: Ceph's RGW (16.2) matches ``If-Match`` on a put against the bare ETag only
    (a quoted one always fails); moto accepts both forms."""
    return None if etag is None else str(etag).strip('"')


class ObjectLease:
    """One process's hold on a key of an object store, for as long as it keeps refreshing it.

    Taken by creating the lease object only if it does not exist (``If-None-Match: *``); refreshed every third
    of the TTL by a background thread; released by deleting it. A holder that dies stops refreshing: a waiter
    that has seen the same version of the lease for a whole TTL, by its own clock (so hosts' clocks need not
    agree), replaces exactly that version (``If-Match``), so of several waiters only one takes it over."""

    def __init__(self, path: UPath):
        self.path = path
        self.ttl_s = lease_ttl_s()
        self.holder = f"process {os.getpid()} on {socket.gethostname()}"
        self._etag: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen: tuple[str, float] | None = None  # (version of another's lease, when first seen)
        self.lost = False

    def _body(self) -> bytes:
        return f"{self.holder} ({uuid.uuid4().hex[:8]} at {time.time():.0f})".encode()

    def _put(self, **condition: str) -> bool:
        try:
            reply = self.path.fs.pipe_file(self.path.path, self._body(), **condition)
        except OSError as exc:  # the condition did not hold (412); anything else is a real error
            if _precondition_failed(exc):
                return False
            raise
        self._etag = _bare(reply.get("ETag")) if isinstance(reply, dict) else None
        return True

    def version(self) -> str | None:
        """The version (bare ETag) of the lease now in the store, or None when there is none."""
        try:
            return _bare(self.path.fs.info(self.path.path).get("ETag"))
        except FileNotFoundError:
            return None

    def holder_now(self) -> str | None:
        """Who holds the lease now (``process <pid> on <host>``), or None when nobody does."""
        try:
            return self.path.fs.cat_file(self.path.path).decode(errors="replace").split(" (")[0]
        except FileNotFoundError:
            return None

    def try_acquire(self) -> bool:
        """Take the lease if it is free or abandoned; never blocks."""
        if self._put(mode="create"):
            self._start()
            return True
        now = time.monotonic()
        version = self.version()
        if version is None:
            return False  # released between our put and our look: the next try creates it
        if self._seen is None or self._seen[0] != version:
            self._seen = (version, now)  # its holder refreshed it (or someone took it): the clock restarts
            return False
        if now - self._seen[1] < self.ttl_s:
            return False
        if self._put(IfMatch=version):
            self._start()
            return True
        return False

    def _start(self) -> None:
        self._stop.clear()
        self._seen, self.lost = None, False
        self._thread = threading.Thread(target=self._refresh_loop, name="llmhni-lease", daemon=True)
        self._thread.start()

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                kept = self._etag is not None and self._put(IfMatch=self._etag)
            except OSError:
                continue  # the store did not answer: try again at the next tick, within the TTL
            if not kept:
                self.lost = True  # we stalled past the TTL and another process took the lease over
                return

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if not self.lost and self._etag is not None and self.version() == self._etag:
            self.path.fs.rm_file(self.path.path)
        self._etag = None


@contextmanager
def hold(
    path: UPath,
    report: Callable[[str], None],
    waiting_for: str,
    poll_s: float = 0.5,
) -> Iterator[ObjectLease]:
    """Wait for the lease at ``path`` and hold it for the block, saying once who holds it meanwhile."""
    lease = ObjectLease(path)
    said = False
    while not lease.try_acquire():
        if not said:
            report(f"waiting: {lease.holder_now() or 'another process'} {waiting_for}")
            said = True
        time.sleep(poll_s)  # a plain sleep, so Ctrl-C stops the wait
    try:
        yield lease
    finally:
        lease.release()
