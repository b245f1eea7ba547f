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
