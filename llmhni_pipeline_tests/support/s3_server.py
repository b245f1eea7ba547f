"""moto's S3 server on a free loopback port: the S3-compatible store the object-store lake is tested against.

moto is a protocol double (it keeps objects in memory and answers S3's REST API, conditional puts included);
nothing else S3-compatible runs on this machine (Debian ships no MinIO). Each test gets a bucket of its own.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "llmhni-test", "AWS_SECRET_ACCESS_KEY": "llmhni-test-secret"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class S3Server:
    """``with S3Server(log) as s3:`` a running server; ``s3.env`` points boto3, s3fs and polars at it."""

    def __init__(self, log: Path):
        self.log = log
        self.url = f"http://127.0.0.1:{free_port()}"
        self.env = {**CREDENTIALS, "AWS_ENDPOINT_URL": self.url, "AWS_REGION": "us-east-1"}
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> S3Server:
        port = self.url.rsplit(":", 1)[1]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", port], stdout=log, stderr=log
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(self.url + "/moto-api/", timeout=1).close()
                return self
            except urllib.error.HTTPError:  # it answers: it is up
                return self
            except (urllib.error.URLError, ConnectionError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise RuntimeError(
                        f"moto's S3 server did not start: {self.log.read_text()[-2000:]}"
                    ) from None
                time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def new_bucket(self) -> str:
        import boto3

        name = f"lake-{uuid.uuid4().hex[:12]}"
        boto3.client(
            "s3", endpoint_url=self.url, region_name="us-east-1", **_boto(CREDENTIALS)
        ).create_bucket(Bucket=name)
        return name


def _boto(credentials: dict[str, str]) -> dict[str, str]:
    return {"aws_access_key_id": credentials["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": credentials["AWS_SECRET_ACCESS_KEY"]}  # fmt: skip
