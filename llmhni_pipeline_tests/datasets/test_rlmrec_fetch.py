"""``llmhni fetch rlmrec``: pinned files over HTTP, each checked by size and SHA-256; a corrupted, truncated or
killed download never leaves a file that looks good. Against loopback servers: no machine here reaches GitHub."""

from __future__ import annotations

import hashlib
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from llmhni_pipeline.datasets.rlmrec_fetch import CATALOG, FetchError, PinnedFile, fetch, is_fetched


class Server:
    """A loopback HTTP server over ``root``; ``truncate`` names files it cuts off halfway (announcing the full
    length, then closing)."""

    def __init__(self, root: Path, truncate: set[str] = frozenset()):
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.requests.append(self.path)
                name = self.path.lstrip("/")
                if name in truncate:
                    body = (root / name).read_bytes()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                super().do_GET()

        self.requests: list[str] = []
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _pinned(root: Path, path: str, data: bytes) -> PinnedFile:
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_bytes(data)
    return PinnedFile(
        path, "owner/repo", "0" * 40, f"data/{path}", hashlib.sha256(data).hexdigest(), len(data)
    )


def test_files_are_fetched_verified_and_not_fetched_twice(tmp_path):
    mirror, target = tmp_path / "mirror", tmp_path / "data"
    files = [_pinned(mirror, "a/x.pkl", b"x" * 5000), _pinned(mirror, "a/llard/y.npy", os.urandom(70_000))]
    lines: list[str] = []
    with Server(mirror) as server:
        paths = fetch(target, mirror=server.url, files=files, report=lines.append)
        assert [p.read_bytes() for p in paths] == [(mirror / f.path).read_bytes() for f in files]
        assert "SHA-256 verified" in lines[0] and "2 files" in lines[-1]
        fetch(target, mirror=server.url, files=files, report=lines.append)
        assert len(server.requests) == 2  # the second fetch found both present and verified
    assert files[0].url() == "https://raw.githubusercontent.com/owner/repo/" + "0" * 40 + "/data/a/x.pkl"


def test_a_corrupted_or_truncated_download_leaves_nothing_that_looks_good(tmp_path):
    mirror, target = tmp_path / "mirror", tmp_path / "data"
    good = _pinned(mirror, "a/good.pkl", b"g" * 1000)
    corrupt = _pinned(mirror, "a/corrupt.pkl", b"c" * 1000)
    (mirror / corrupt.path).write_bytes(b"C" * 1000)  # same size, other bytes: only the hash can tell
    cut = _pinned(mirror, "a/cut.pkl", os.urandom(200_000))
    with Server(mirror, truncate={cut.path}) as server:
        with pytest.raises(FetchError, match="a/corrupt.pkl: SHA-256 .* is not the pinned"):
            fetch(target, mirror=server.url, files=[good, corrupt])
        with pytest.raises(FetchError, match="a/cut.pkl"):
            fetch(target, mirror=server.url, files=[cut])
    assert (target / good.path).read_bytes() == b"g" * 1000  # fetched before the failure: kept
    assert sorted(p.name for p in (target / "a").iterdir()) == ["good.pkl"]  # no corrupt, cut or .part file


def test_a_killed_download_leaves_no_file_and_the_next_fetch_completes(tmp_path):
    mirror, target = tmp_path / "mirror", tmp_path / "data"
    big = _pinned(mirror, "a/big.pkl", os.urandom(1 << 20))
    (target / "a").mkdir(parents=True)
    (target / "a" / ".big.pkl.k3j2.part").write_bytes(b"half of it")  # what a kill -9 mid-download leaves
    with Server(mirror) as server:
        fetch(target, mirror=server.url, files=[big])
    assert sorted(p.name for p in (target / "a").iterdir()) == ["big.pkl"]
    assert hashlib.sha256((target / big.path).read_bytes()).hexdigest() == big.sha256


def test_the_pinned_catalog_is_the_shared_folder_s_checksums():
    """The catalog against the workplace's checksum list where there is one, else against the files a fetch left
    (which it checked, file by file, when it downloaded them)."""
    sums = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "SHA256SUMS"
    if sums.is_file():
        listed = dict(line.split()[::-1] for line in sums.read_text().splitlines() if line.strip())
        assert {f"./{f.path}": f.sha256 for f in CATALOG} == listed
        return
    from llmhni_pipeline.datasets.rlmrec_fetch import is_fetched, sha256_file
    from llmhni_pipeline.lake import default_shared_data_dir
    from llmhni_pipeline_tests.conftest import RLMREC_MISSING

    folder = default_shared_data_dir()
    if not is_fetched(folder):
        pytest.skip(RLMREC_MISSING)
    assert {f.path: f.sha256 for f in CATALOG} == {f.path: sha256_file(folder / f.path) for f in CATALOG}


@pytest.mark.rlmrec
def test_the_cli_fetches_every_file_from_a_mirror_into_the_lake(shared_data, tmp_path):
    """The real entry point, from a loopback server over a copy of the data: the same path as from GitHub."""
    env = {**os.environ, "LLMHNI_LAKE_DIR": str(tmp_path / "lake")}
    env.pop("LLMHNI_SHARED_DATA_DIR", None)
    with Server(shared_data) as server:
        done = subprocess.run(
            [str(Path(sys.executable).with_name("llmhni")), "fetch", "rlmrec", "--mirror", server.url],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "rlmrec: 25 files" in done.stdout and done.stdout.count("SHA-256 verified") == 25
    assert is_fetched(tmp_path / "lake" / "raw" / "rlmrec")
