"""From next-token probabilities to High/Mid/Low.

Labels are read from the probability the model puts on label tokens, never from free text, and mapped with
thresholds on P(High) − P(Low) rather than the argmax: small judges put most mass on "High" for everything
(llm_backends.md §2.3), so the argmax carries no signal while the probabilities still rank correctly.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from llmhni_pipeline.llm.interfaces import CallStatus, JudgeResult, Label

LABEL_VARIANTS = {"high": Label.HIGH, "mid": Label.MID, "medium": Label.MID, "low": Label.LOW}


# an endpoint's answer whose label tokens hold less of the next-token probability than this is not an answer in
# the format asked for ("The …" with 8·10⁻⁷ on " High" was once read as P(High) = 1): unreadable. Qwen2.5-Coder
# 0.5B puts 0.99 there; the embedded judges' constrained scoring reads exact label probabilities instead
MIN_LABEL_MASS = 0.5


def label_of_token(token: str) -> Label | None:
    """The label a token names, read in its NFKC form without invisible characters, quotes or markup
    (``" High"``, ``"**high"``, ``"ＨＩＧＨ"``, ``"Hi\u200bgh"``)."""
    from llmhni_pipeline.denoise.prompts import visible

    text = visible(unicodedata.normalize("NFKC", token)).strip().strip("\"'*`_.:").lower()
    return LABEL_VARIANTS.get(text)


def result_from_top_logprobs(
    top: Iterable[tuple[str, float]],
    raw: str,
    tokens_in: int = 0,
    tokens_out: int = 0,
    min_label_mass: float = MIN_LABEL_MASS,
) -> JudgeResult:
    """Sum the probability of every variant of each label (" High", "high", "HIGH", ...) and renormalise. An
    endpoint's answer whose top tokens put less than ``min_label_mass`` on labels is unreadable; the embedded
    judge reads every label token's exact probability from the full distribution (constrained scoring) and
    passes 0."""
    mass = {Label.HIGH: 0.0, Label.MID: 0.0, Label.LOW: 0.0}
    for token, logprob in top:
        label = label_of_token(token)
        if label is not None and logprob is not None and math.isfinite(logprob):
            mass[label] += math.exp(logprob)
    total = sum(mass.values())
    if total <= 0:
        status = CallStatus.EMPTY if not raw.strip() else CallStatus.MALFORMED
        return JudgeResult(math.nan, math.nan, math.nan, 0.0, raw, status, tokens_in, tokens_out)
    if total < min_label_mass:  # the model answered something else: its label probabilities mean nothing
        return JudgeResult(
            math.nan, math.nan, math.nan, total, raw, CallStatus.MALFORMED, tokens_in, tokens_out
        )
    return JudgeResult(
        mass[Label.HIGH] / total,
        mass[Label.MID] / total,
        mass[Label.LOW] / total,
        min(total, 1.0),
        raw,
        CallStatus.OK,
        tokens_in,
        tokens_out,
    )


def result_from_margin(margin: float, raw: str) -> JudgeResult:
    """A judge answer whose P(High) − P(Low) is ``margin`` ∈ [−1, 1], for judges that score rather than speak (the
    simulated and the semantic judge): the margin's sign decides which of High or Low holds |margin|, and the rest
    is spread evenly over the three labels, so P(Mid) is largest near 0. NaN: no answer (status empty)."""
    if not math.isfinite(margin):
        return JudgeResult(math.nan, math.nan, math.nan, 0.0, raw, CallStatus.EMPTY)
    margin = min(1.0, max(-1.0, margin))
    rest = (1.0 - abs(margin)) / 3.0
    return JudgeResult(max(margin, 0.0) + rest, rest, max(-margin, 0.0) + rest, 1.0, raw)


@dataclass(frozen=True)
class LabelThresholds:
    """``fixed``: High if score ≥ high, Low if score ≤ low, else Mid (score = P(High) − P(Low)).
    ``quantile``: High for the top ``high`` share of scores in the batch, Low for the bottom ``low`` share."""

    mode: str = "fixed"
    high: float = 0.5
    low: float = -0.5

    def labels(self, scores: np.ndarray) -> list[Label | None]:
        scores = np.asarray(scores, dtype=np.float64)
        valid = np.isfinite(scores)
        if self.mode == "quantile":
            if not valid.any():
                return [None] * len(scores)
            hi = np.quantile(scores[valid], 1 - self.high)
            lo = np.quantile(scores[valid], self.low)
        elif self.mode == "fixed":
            hi, lo = self.high, self.low
        else:
            raise ValueError(f"unknown threshold mode {self.mode!r} (fixed | quantile)")
        out: list[Label | None] = []
        for s, ok in zip(scores, valid, strict=True):
            out.append(None if not ok else Label.HIGH if s >= hi else Label.LOW if s <= lo else Label.MID)
        return out
