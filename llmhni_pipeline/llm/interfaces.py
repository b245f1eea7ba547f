"""The two things LLMHNI asks an LLM for: text embeddings and a High/Mid/Low relevance judgment."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import numpy as np


class Label(StrEnum):
    HIGH = "High"
    MID = "Mid"
    LOW = "Low"


class CallStatus(StrEnum):
    OK = "ok"
    # answered without log-probabilities (some servers and batch runners omit them): the label read from the
    # answer word with probability 1, so it cannot rank; cached, but replaced by an answer that has them
    TEXT = "text"
    MALFORMED = "malformed"  # answered, but no label could be read from it
    EMPTY = "empty"  # answered with nothing

    @property
    def usable(self) -> bool:
        """A label was read (with log-probabilities or from the answer word): worth caching."""
        return self in (CallStatus.OK, CallStatus.TEXT)


@dataclass(frozen=True)
class JudgePrompt:
    """One chat request: a system instruction and a user message, versioned for the cache."""

    system: str
    user: str
    prompt_version: str

    def fingerprint(self) -> str:
        return hashlib.sha256(f"{self.prompt_version}\x00{self.system}\x00{self.user}".encode()).hexdigest()


@dataclass
class JudgeResult:
    """Probabilities over {High, Mid, Low} (renormalised over the label tokens) and what the model said."""

    p_high: float
    p_mid: float
    p_low: float
    label_mass: float  # share of the next-token probability that fell on label tokens
    raw: str  # the answer text or the top tokens it was read from
    status: CallStatus = CallStatus.OK
    tokens_in: int = 0
    tokens_out: int = 0

    @property
    def score(self) -> float:
        """P(High) − P(Low) ∈ [−1, 1]: the quantity labels are thresholded on."""
        return self.p_high - self.p_low


@dataclass
class EmbedBatch:
    vectors: np.ndarray  # float32 [n, d]
    tokens_in: int = 0
    extra: dict[str, object] = field(default_factory=dict)


class Embedder(Protocol):
    backend: str  # e.g. "openai", "local-minilm"
    model: str

    def embed(self, texts: list[str]) -> EmbedBatch:
        """One batch; the dimension is whatever the model returns."""
        ...


class Judge(Protocol):
    backend: str
    model: str

    def score(self, prompts: list[JudgePrompt]) -> list[JudgeResult]:
        """One batch, in order."""
        ...
