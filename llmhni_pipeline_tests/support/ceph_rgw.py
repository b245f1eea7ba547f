"""A real S3 server for the object-store lake's tests: Ceph's RADOS Gateway on a one-node Ceph cluster.

Debian ships Ceph (``apt-get install -y ceph-mon ceph-osd radosgw``); this starts, in a temporary folder, one
monitor, one OSD whose objects live in memory (``memstore``, 1 GiB) and one ``radosgw`` on a loopback port, with
authentication off inside the cluster (S3 requests are still signed with a user's keys), and creates that
user. Startup takes about 15 seconds. Every daemon runs in the foreground in its own process group and is
stopped, and waited for, on exit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from llmhni_pipeline_tests.support.s3_server import CREDENTIALS, free_port

BINARIES = ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "ceph", "ceph-authtool", "monmaptool")


def missing_binaries() -> list[str]:
    return [name for name in BINARIES if shutil.which(name) is None]


class CephRGW:
    """``with CephRGW() as rgw:`` a running gateway; ``rgw.env`` points boto3, s3fs and polars at it."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="llmhni-ceph-", dir="/tmp"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**CREDENTIALS, "AWS_ENDPOINT_URL": self.url, "AWS_REGION": "us-east-1"}
        self.conf = self.folder / "ceph.conf"
        self.daemons: list[subprocess.Popen] = []

    def _config(self, fsid: str, mon_v1: int, mon_v2: int) -> str:
        d = self.folder
        return f"""[global]
fsid = {fsid}
mon host = [v2:127.0.0.1:{mon_v2},v1:127.0.0.1:{mon_v1}]
ms bind ipv6 = false
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
ms client mode = crc
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
mon max pg per osd = 1000
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = 1073741824
run dir = {d}/run
admin socket = {d}/run/$name.asok
log file = {d}/log/$name.log
mon data = {d}/mon/$name
osd data = {d}/osd/$name
keyring = {d}/keyring
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:{self.port}
rgw data = {d}/rgw
"""

    def _run(self, *argv: str, timeout: float = 60) -> str:
        done = subprocess.run(
            [*argv[:1], "-c", str(self.conf), *argv[1:]], capture_output=True, text=True, timeout=timeout
        )
        if done.returncode:
            raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-2000:]}")
        return done.stdout

    def _daemon(self, *argv: str) -> None:
        log = (self.folder / "log" / f"{argv[0]}.out").open("ab")
        self.daemons.append(
            subprocess.Popen(
                [argv[0], "-c", str(self.conf), *argv[1:], "-f"],
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        )
        log.close()

    def __enter__(self) -> CephRGW:
        d = self.folder
        for sub in ("run", "log", "mon", "osd/osd.0", "rgw"):
            (d / sub).mkdir(parents=True)
        fsid, mon_v1, mon_v2 = str(uuid.uuid4()), free_port(), free_port()
        self.conf.write_text(self._config(fsid, mon_v1, mon_v2))
        try:
            subprocess.run(
                ["ceph-authtool", "--create-keyring", str(d / "keyring"), "--gen-key", "-n", "mon.",
                 "--cap", "mon", "allow *"], check=True, capture_output=True,
            )  # fmt: skip
            subprocess.run(
                ["monmaptool", "--create", "--addv", "a", f"[v2:127.0.0.1:{mon_v2},v1:127.0.0.1:{mon_v1}]",
                 "--fsid", fsid, str(d / "monmap")], check=True, capture_output=True,
            )  # fmt: skip
            self._run(
                "ceph-mon",
                "--mkfs",
                "-i",
                "a",
                "--monmap",
                str(d / "monmap"),
                "--keyring",
                str(d / "keyring"),
            )
            self._daemon("ceph-mon", "-i", "a")
            osd = self._run("ceph", "osd", "create", timeout=60).strip()
            if osd != "0":
                raise RuntimeError(f"expected osd 0, the monitor made osd {osd!r}")
            self._run("ceph-osd", "-i", "0", "--mkfs")
            self._daemon("ceph-osd", "-i", "0")
            self._daemon("radosgw", "-n", "client.rgw")
            self._wait_for_gateway(90)
            self._run(
                "radosgw-admin", "-n", "client.rgw", "user", "create", "--uid=llmhni", "--display-name=llmhni",
                f"--access-key={CREDENTIALS['AWS_ACCESS_KEY_ID']}", f"--secret={CREDENTIALS['AWS_SECRET_ACCESS_KEY']}",
            )  # fmt: skip
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_for_gateway(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(self.url + "/", timeout=2).close()
                return
            except urllib.error.HTTPError:
                return  # it answers
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                dead = [p.args[0] for p in self.daemons if p.poll() is not None]
                if dead or time.monotonic() > deadline:
                    logs = "\n".join(
                        f.read_text(errors="replace")[-800:] for f in (self.folder / "log").glob("*")
                    )
                    raise RuntimeError(f"radosgw did not start (ended: {dead}): {logs}") from None
                time.sleep(0.5)

    def __exit__(self, *exc: object) -> None:
        for process in reversed(self.daemons):
            if process.poll() is None:
                os.killpg(process.pid, 15)
        for process in reversed(self.daemons):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()
        self.daemons.clear()
        shutil.rmtree(self.folder, ignore_errors=True)

    def new_bucket(self) -> str:
        import boto3

        name = f"lake-{uuid.uuid4().hex[:12]}"
        boto3.client(
            "s3", endpoint_url=self.url, region_name="us-east-1",
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        ).create_bucket(Bucket=name)  # fmt: skip
        return name
