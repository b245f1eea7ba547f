"""OpenAI-compatible backend (OpenAI, vLLM, Ollama, llama.cpp server, ...) through the ``openai`` SDK.

The SDK's own retries are off (``max_retries=0``): tenacity retries 429, 5xx, timeouts, connection errors and
malformed bodies, waiting what Retry-After says (capped) or an exponential backoff with jitter. The API key is
held out of every repr and scrubbed from any error text this module produces.
"""

from __future__ import annotations

import json
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import openai
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from llmhni_pipeline.llm.accounting import Allowance, AllowanceSpent
from llmhni_pipeline.llm.interfaces import CallStatus, EmbedBatch, JudgePrompt, JudgeResult
from llmhni_pipeline.llm.labels import result_from_top_logprobs


class LLMCallError(RuntimeError):
    """A call failed after every retry; the message never contains the API key."""


class FatalLLMError(LLMCallError):
    """An answer no retry can change (401, 403, 404): the run stops at once."""


FATAL = (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError)


class MalformedResponse(ValueError):
    """The server answered, but not with what the API promises (bad JSON, wrong number of rows)."""


class Interrupted(RuntimeError):
    """The run was stopped (Ctrl-C, SIGTERM): no further attempt is made and nothing more is sent."""


RETRYABLE = (
    openai.RateLimitError,
    openai.InternalServerError,
    openai.APITimeoutError,
    openai.APIConnectionError,
    MalformedResponse,
)


@dataclass(frozen=True)
class OpenAISettings:
    base_url: str | None = None  # None: the SDK's default (api.openai.com) or $OPENAI_BASE_URL
    api_key: str = field(default="", repr=False)
    embed_model: str = "text-embedding-ada-002"
    judge_model: str = "gpt-4o-mini"
    timeout_s: float = 30.0
    max_attempts: int = 6
    max_wait_s: float = 60.0
    max_in_flight: int = 8
    top_logprobs: int = 10
    embed_max_tokens: int = 8191  # the embedding model's input limit (OpenAI's text-embedding models: 8191)


def redact(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


def retry_after_seconds(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms`` or ``retry-after``), if any."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        if "retry-after" in headers:
            return float(headers["retry-after"])
    except (TypeError, ValueError):
        return None
    return None


class WaitRetryAfter:
    """Honour Retry-After (capped, plus a little jitter); otherwise exponential backoff with full jitter."""

    def __init__(self, max_wait_s: float):
        self.max_wait_s = max_wait_s
        self.backoff = wait_random_exponential(multiplier=0.25, max=max_wait_s)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        asked = retry_after_seconds(exc) if exc else None
        if asked is not None:
            return min(asked, self.max_wait_s) * (1 + 0.1 * np.random.random())
        return self.backoff(state)


def _retrying(settings: OpenAISettings, stop: threading.Event | None = None) -> Retrying:
    """The retry policy; with ``stop``, the wait between attempts ends as soon as it is set."""
    return Retrying(
        retry=retry_if_exception_type(RETRYABLE),
        stop=stop_after_attempt(settings.max_attempts),
        wait=WaitRetryAfter(settings.max_wait_s),
        sleep=(lambda seconds: stop.wait(seconds)) if stop is not None else time.sleep,
        reraise=True,
    )


def make_client(settings: OpenAISettings, base_url: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=base_url if base_url is not None else settings.base_url,
        api_key=settings.api_key or "unused",
        max_retries=0,
        timeout=settings.timeout_s,
    )


def base_urls(value: str | None) -> list[str | None]:
    """``LLMHNI_LLM_BASE_URL`` as a list: several endpoints separated by commas or spaces; ``[None]`` (the SDK's
    default, api.openai.com or ``$OPENAI_BASE_URL``) when unset."""
    urls = [u for u in re.split(r"[,\s]+", value or "") if u]
    return list(dict.fromkeys(urls)) or [None]


# failures that say something about the endpoint (down, overloaded, broken), not about the request
ENDPOINT_FAILURES = (openai.APIConnectionError, openai.APITimeoutError, openai.InternalServerError)


@dataclass
class _Endpoint:
    url: str | None
    client: openai.OpenAI
    in_flight: int = 0
    failures_in_a_row: int = 0
    out_until: float = 0.0
    requests: int = 0


class EndpointPool:
    """Several OpenAI-compatible endpoints serving the same model, used as one.

    Each request leases the endpoint with the fewest requests in flight among those not taken out, at most
    ``per_endpoint`` at a time on each (a lease waits for a free slot). ``eject_after`` failures in a row
    (connection errors, timeouts, 5xx) take an endpoint out for ``cooldown_s``; the retry of the failed request
    leases again, so its work goes to the others. When every endpoint is out, the one due back first is tried
    (a probe) rather than none. Paid-once and the budget hold across the pool because they are the gateway's:
    the pool only routes. A small pool rather than LiteLLM's ``Router``: that is a 44 MB wheel with tiktoken,
    boto3 and huggingface-hub for routing we do in a page, and its pass-through of ``logprobs`` is not
    documented, while the judge reads nothing else."""

    def __init__(
        self,
        settings: OpenAISettings,
        client: openai.OpenAI | None = None,
        eject_after: int = 3,
        cooldown_s: float = 30.0,
        stop: threading.Event | None = None,
    ):
        self.stop = stop  # once set, a request waiting for a free slot is not sent (``Interrupted``)
        urls = base_urls(settings.base_url)
        self.endpoints = [
            _Endpoint(url, client if client is not None and i == 0 else make_client(settings, url))
            for i, url in enumerate(urls)
        ]
        self.per_endpoint = max(1, settings.max_in_flight)
        self.eject_after, self.cooldown_s = eject_after, cooldown_s
        self._cond = threading.Condition()

    def __len__(self) -> int:
        return len(self.endpoints)

    def describe(self) -> str:
        return ", ".join(str(e.client.base_url) if e.url is None else e.url for e in self.endpoints)

    def _pick(self) -> _Endpoint:
        with self._cond:
            while True:
                if self.stop is not None and self.stop.is_set():
                    raise Interrupted("stopped while waiting for a free slot: not sent")
                now = time.monotonic()
                free = [e for e in self.endpoints if e.in_flight < self.per_endpoint]
                up = [e for e in free if e.out_until <= now]
                if not any(e.out_until <= now for e in self.endpoints):
                    up = free and [min(free, key=lambda e: e.out_until)]  # all out: probe the first due back
                if up:
                    chosen = min(up, key=lambda e: (e.in_flight, e.requests))
                    chosen.in_flight += 1
                    chosen.requests += 1
                    return chosen
                self._cond.wait(timeout=0.5)

    @contextmanager
    def lease(self):
        """The client of one endpoint for one request; its outcome counts for that endpoint."""
        endpoint = self._pick()
        try:
            yield endpoint.client
        except ENDPOINT_FAILURES:
            with self._cond:
                endpoint.failures_in_a_row += 1
                if endpoint.failures_in_a_row >= self.eject_after and len(self.endpoints) > 1:
                    endpoint.out_until = time.monotonic() + self.cooldown_s
                    endpoint.failures_in_a_row = 0
            raise
        else:
            with self._cond:
                endpoint.failures_in_a_row = 0
        finally:
            with self._cond:
                endpoint.in_flight -= 1
                self._cond.notify_all()


class _OpenAIBase:
    backend = "openai"

    def __init__(self, settings: OpenAISettings, client: openai.OpenAI | None = None):
        self.settings = settings
        self._stop = (
            threading.Event()
        )  # set by interrupt(): no new attempt, waits end, callers return at once
        self.pool = EndpointPool(settings, client, stop=self._stop)
        self._lock = threading.Lock()
        self._retry = _retrying(settings, self._stop)  # one retry policy per backend, not one per request
        # the run's cap, set by the gateway for a run: asked before every attempt, so retries count against it
        self.allowance: Allowance | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.settings.base_url!r}, model={self.model!r})"

    def endpoint(self) -> str:
        return self.pool.describe()

    def _interruptible(self, fn, *args, **kwargs):
        """``fn`` on a daemon thread, waited for until it ends or ``interrupt()`` is called (then ``Interrupted``;
        a request in flight is abandoned, not awaited, and the thread sends nothing more)."""
        out: dict[str, object] = {}
        done = threading.Event()

        def run() -> None:
            try:
                out["value"] = fn(*args, **kwargs)
            except BaseException as exc:  # re-raised in the caller's thread
                out["error"] = exc
            finally:
                done.set()

        threading.Thread(target=run, daemon=True, name="openai-request").start()
        while not done.wait(0.05):
            if self._stop.is_set():
                raise Interrupted("stopped while a request was in flight; it is not awaited")
        if "error" in out:
            raise out["error"]
        return out["value"]

    def _call(self, fn, *args, inputs: int = 1):
        """Run ``fn`` with retries, each attempt first taking ``inputs`` from the run's allowance (``AllowanceSpent``
        when it is spent, not retried); errors leave here naming the endpoint and never the key."""
        retrying = self._retry.copy()

        def attempt(*a):
            if self._stop.is_set():
                raise Interrupted("stopped: no further request is sent")
            allowance = self.allowance
            if allowance is not None and not allowance.take(inputs):
                raise AllowanceSpent(f"the run's cap of {allowance.limit} inputs is spent")
            return fn(*a)

        try:
            return retrying(attempt, *args)
        except FATAL as exc:
            status = getattr(exc, "status_code", "?")
            hint = "check OPENAI_API_KEY" if status in (401, 403) else "check the base URL and model name"
            raise FatalLLMError(
                redact(
                    f"{status} {type(exc).__name__} from {self.endpoint()} ({hint}): {exc}",
                    self.settings.api_key,
                )
            ) from None
        except openai.OpenAIError as exc:
            attempts = retrying.statistics.get("attempt_number", "?")
            raise LLMCallError(
                redact(
                    f"{type(exc).__name__} from {self.endpoint()} after {attempts} attempt(s): {exc}",
                    self.settings.api_key,
                )
            ) from None


class OpenAIEmbedder(_OpenAIBase):
    def __init__(self, settings: OpenAISettings, client: openai.OpenAI | None = None):
        super().__init__(settings, client)
        self.model = settings.embed_model
        # a text is cut to the model's token limit in bytes before it is sent (``gateway.fit_texts``); a few bytes
        # spare for the tokens a model adds around its input
        self.max_input_bytes = max(1, settings.embed_max_tokens - 8)

    def _request(self, texts: list[str]) -> EmbedBatch:
        try:
            with self.pool.lease() as client:
                try:
                    response = client.embeddings.create(model=self.model, input=texts)
                except AttributeError:  # the SDK's own parser met a string where the JSON's fields should be
                    response = "(not JSON)"
                response = _json_or_fail(response, self.endpoint())
        except (openai.APIResponseValidationError, json.JSONDecodeError) as exc:
            raise MalformedResponse(f"unreadable embeddings response: {exc}") from exc
        data = sorted(response.data or [], key=lambda d: d.index)
        if len(data) != len(texts):
            raise MalformedResponse(f"{len(data)} embeddings returned for {len(texts)} inputs")
        per_token = (
            "expected one vector per input, but the server returned per-token vectors (llama_cpp.server "
            "does for chat models): point the embedder at a pooling embedding model"
        )
        try:
            vectors = np.asarray([d.embedding for d in data], dtype=np.float32)
        except ValueError as exc:  # ragged: token vectors of texts of different lengths
            raise MalformedResponse(per_token) from exc
        if vectors.ndim != 2:
            raise MalformedResponse(f"embeddings have shape {vectors.shape}; {per_token}")
        usage = getattr(response, "usage", None)
        return EmbedBatch(vectors, int(getattr(usage, "prompt_tokens", 0) or 0))

    def embed(self, texts: list[str]) -> EmbedBatch:
        """One batch; after ``interrupt()`` this returns at once (``Interrupted``) even while a request hangs,
        and no further attempt is sent."""
        return self._interruptible(self._call, self._request, texts, inputs=len(texts))

    def interrupt(self) -> None:
        self._stop.set()


def _json_or_fail(response, endpoint: str):
    """The SDK hands back a plain string when the server answers with something other than JSON (a web page at
    a wrong base URL, a proxy's error page): no retry changes that, so the run stops with what it was."""
    if isinstance(response, str) or not hasattr(response, "model_dump"):
        text = " ".join(str(response).split())[:120]
        raise FatalLLMError(
            f"{endpoint} answered with text, not the OpenAI API's JSON (a web page? check LLMHNI_LLM_BASE_URL: "
            f"it usually ends in /v1): {text!r}"
        )
    return response


def chat_request_body(prompt: JudgePrompt, model: str, top_logprobs: int) -> dict[str, object]:
    """The chat-completions request of one judge prompt: one token, greedy, log-probabilities on. The synchronous
    call and every batch file line (``llm/batch.py``) send exactly this body."""
    return {
        "model": model,
        "max_tokens": 1,
        "temperature": 0,
        "logprobs": True,
        "top_logprobs": top_logprobs,
        "messages": [
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": prompt.user},
        ],
    }


def judge_result_from_chat(body: dict) -> tuple[JudgeResult, bool]:
    """A chat completion as JSON (the SDK response's ``model_dump()``, or a batch output line's
    ``response.body``) read as a judgment, and whether it was read from the answer text (no log-probabilities:
    several OpenAI-compatible servers, and possibly batch endpoints, omit them; the answer word then counts with
    probability 1)."""
    choices = body.get("choices") or []
    if not choices:
        raise MalformedResponse("chat response without choices")
    choice = choices[0] or {}
    content = (choice.get("message") or {}).get("content") or ""
    usage = body.get("usage") or {}
    tokens = (int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
    scored = (choice.get("logprobs") or {}).get("content") or []
    first = scored[0] if scored else None
    if first is None:
        result = result_from_top_logprobs([(content, 0.0)], content, *tokens)
        if result.status is CallStatus.OK:
            result.status = CallStatus.TEXT
        return result, True
    top = [(t["token"], t["logprob"]) for t in (first.get("top_logprobs") or [])]
    top = top or [(first["token"], first["logprob"])]
    raw = json.dumps([[t, round(lp, 4)] for t, lp in top])
    return result_from_top_logprobs(top, raw, *tokens), False


class OpenAIJudge(_OpenAIBase):
    """One chat completion per prompt (``max_tokens=1``, log-probabilities on), a batch run concurrently."""

    def __init__(self, settings: OpenAISettings, client: openai.OpenAI | None = None):
        super().__init__(settings, client)
        self.model = settings.judge_model

    def _request(self, prompt: JudgePrompt) -> JudgeResult:
        try:
            with self.pool.lease() as client:
                response = client.chat.completions.create(
                    **chat_request_body(prompt, self.model, self.settings.top_logprobs)
                )
            body = _json_or_fail(response, self.endpoint()).model_dump()
        except (openai.APIResponseValidationError, json.JSONDecodeError) as exc:
            raise MalformedResponse(f"unreadable chat response: {exc}") from exc
        result, _ = judge_result_from_chat(body)
        return result

    def _one(self, prompt: JudgePrompt) -> JudgeResult | None:
        try:
            return self._call(self._request, prompt)
        except MalformedResponse as exc:  # answered every time, never readably: record it, don't crash
            return JudgeResult(np.nan, np.nan, np.nan, 0.0, str(exc)[:500], CallStatus.MALFORMED)
        except (AllowanceSpent, Interrupted):  # not sent (or not retried): no answer, nothing paid for it
            return None

    def score(self, prompts: list[JudgePrompt]) -> list[JudgeResult | None]:
        """Up to ``max_in_flight`` requests at a time, on daemon threads: after ``interrupt()`` this returns
        within a poll interval with the answers it has (``None`` for the rest), and no request still in flight
        keeps the process from exiting. An error no retry fixed stops the batch and is raised."""
        results: list[JudgeResult | None] = [None] * len(prompts)
        todo = iter(range(len(prompts)))
        errors: list[BaseException] = []
        done = threading.Semaphore(0)
        lock = threading.Lock()

        def work() -> None:
            while not self._stop.is_set() and not errors:
                with lock:
                    i = next(todo, None)
                if i is None:
                    break
                try:
                    results[i] = self._one(prompts[i])
                except BaseException as exc:  # reported by score(), in the caller's thread
                    errors.append(exc)
                done.release()

        for _ in range(min(len(prompts), max(1, self.settings.max_in_flight) * len(self.pool))):
            threading.Thread(target=work, daemon=True, name="openai-judge").start()
        for _ in prompts:
            while not done.acquire(timeout=0.05):
                if self._stop.is_set():
                    return results
            if errors:
                raise errors[0]
        return results

    def interrupt(self) -> None:
        """Stop: ``score`` returns what it has, and no further request (no retry either) is sent."""
        self._stop.set()
