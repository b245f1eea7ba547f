import os
import stat

from llmhni_pipeline.lake import _UMASK, atomic_write


def test_lake_files_are_readable_under_the_users_umask(tmp_path):
    path = tmp_path / "t" / "part-0.parquet"
    atomic_write(path, lambda tmp: tmp.write_bytes(b"x"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_UMASK
    assert path.stat().st_mode & stat.S_IRGRP or _UMASK & 0o040  # group-readable unless the umask says no


def test_an_object_store_lake_names_a_missing_credential_and_an_unknown_scheme(monkeypatch, tmp_path):
    import pytest

    from llmhni_pipeline.lake import default_lake_dir, lake_location
    from llmhni_pipeline.object_lake import LakeConfigError

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "id")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    monkeypatch.setenv("LLMHNI_LAKE_DIR", "s3://bucket/lake")
    with pytest.raises(
        LakeConfigError, match=r"s3://bucket/lake needs AWS_SECRET_ACCESS_KEY in the environment"
    ):
        default_lake_dir()
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    with pytest.raises(LakeConfigError, match="needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"):
        lake_location("s3://bucket/lake")
    with pytest.raises(LakeConfigError, match=r"not gs://"):
        lake_location("gs://bucket/lake")
    with pytest.raises(LakeConfigError, match="name a bucket"):
        lake_location("s3://")
    assert lake_location(f"file://{tmp_path}") == tmp_path.resolve() == lake_location(str(tmp_path))


def test_a_write_killed_mid_way_leaves_a_temporary_file_the_next_write_removes(tmp_path):
    """A SIGKILL mid-write leaves ``.<name>.<host>.<pid>.….tmp`` beside the table (the table itself untouched); the
    next write of that table removes it. A live writer's file, and another host's, are left alone."""
    import signal
    import subprocess
    import sys

    from llmhni_pipeline.lake import _tmp_prefix, atomic_write

    target = tmp_path / "part-0.parquet"
    target.write_bytes(b"good")
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from llmhni_pipeline.lake import atomic_write\n"
            f"atomic_write(Path({str(target)!r}), lambda tmp: (tmp.write_bytes(b'half'), print('writing', "
            "flush=True), time.sleep(300)))",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "writing"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    (left,) = tmp_path.glob(".part-0.parquet.*.tmp")
    assert left.name.startswith(f"{_tmp_prefix(target)}{child.pid}.") and target.read_bytes() == b"good"
    live = tmp_path / f"{_tmp_prefix(target)}{os.getpid()}.x.tmp"
    other_host = tmp_path / f".part-0.parquet.another-host.{child.pid}.x.tmp"
    live.write_bytes(b"")
    other_host.write_bytes(b"")
    atomic_write(target, lambda tmp: tmp.write_bytes(b"new"))
    assert not left.exists() and live.exists() and other_host.exists() and target.read_bytes() == b"new"
