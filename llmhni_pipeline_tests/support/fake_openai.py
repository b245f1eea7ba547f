"""A standard-library fake of the OpenAI API on 127.0.0.1, with injectable faults.

Serves ``/v1/embeddings`` (deterministic hash-seeded unit vectors) and ``/v1/chat/completions`` (one token with
top log-probabilities). The judgment is read from a hidden ``[gold:High|Mid|Low]`` marker in the user
message, and the answer *text* is always "High" — like a small model that says High to everything — so only a
parser that reads the probabilities gets the label right. Faults: ``429`` (with retry-after-ms), ``500``,
``slow`` (sleeps past the client timeout), ``malformed`` (200 with broken JSON), ``short`` (one embedding
fewer than asked); scripted only: ``per_token`` (a list of token vectors per input, as llama_cpp.server
returns for chat models), ``no_choices`` (200 with ``choices: []``), ``no_logprobs`` (the answer text alone,
as servers without log-probabilities send it), ``chatty`` (no log-probabilities and a non-label answer). ``paid`` counts cleanly answered inputs, which a correct client pays for exactly once.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

FAULTS = ("429", "500", "slow", "malformed", "short")
GOLD = re.compile(r"\[gold:(High|Mid|Low)\]")
# the argmax is "High" for every gold label; only P(High) − P(Low) (0.75, 0.42, 0.15) orders them
GOLD_PROBS = {"High": (0.80, 0.15, 0.05), "Mid": (0.50, 0.42, 0.08), "Low": (0.55, 0.05, 0.40)}


def fake_vector(text: str, dim: int) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    v = np.random.default_rng(seed).standard_normal(dim)
    return (v / np.linalg.norm(v)).tolist()


class FakeOpenAI:
    def __init__(
        self,
        dim: int = 16,
        latency_s: float = 0.0,
        fault_rate: float = 0.0,
        seed: int = 0,
        slow_s: float = 1.5,
        expected_key: str | None = None,
    ):
        self.dim, self.latency_s, self.fault_rate, self.slow_s = dim, latency_s, fault_rate, slow_s
        self.expected_key = expected_key
        self.script: list[str] = []  # faults to serve first, in order
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.paid: Counter[str] = Counter()
        self.requests = 0
        self.received = 0  # every request, also those refused for their key
        self.auth_seen: set[str] = set()
        self.down = False
        self.chat_bodies: list[dict] = []  # every chat request as received, for byte-for-byte comparisons
        self.batch_api = FakeBatchAPI()
        self.max_input_bytes: int | None = None  # an embedding input longer than this is refused with a 400
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like a real API server (every reply has a length)
            disable_nagle_algorithm = (
                True  # TCP_NODELAY as real servers do: headers and body are separate writes
            )

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                if "/files" in self.path or "/batches" in self.path:
                    return server.batch_api.handle(server, self, "POST")
                server._handle(self)

            def do_GET(self):
                return server.batch_api.handle(server, self, "GET")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _next_fault(self) -> str | None:
        with self.lock:
            self.requests += 1
            if self.script:
                return self.script.pop(0)
            if self.fault_rate and self.rng.random() < self.fault_rate:
                return self.rng.choice(FAULTS)
        return None

    def _send(self, handler, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            handler.send_header(k, v)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def go_down(self) -> None:
        """From now on every request is dropped without an answer (open keep-alive connections too): a server
        that died."""
        self.down = True

    def _handle(self, handler) -> None:
        body = json.loads(handler.rfile.read(int(handler.headers.get("Content-Length", 0))) or b"{}")
        if self.down:
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        with self.lock:
            self.received += 1
        self.auth_seen.add(handler.headers.get("Authorization", ""))
        if self.expected_key and handler.headers.get("Authorization") != f"Bearer {self.expected_key}":
            return self._send(handler, 401, b'{"error": {"message": "bad key"}}')
        if self.latency_s:
            time.sleep(self.latency_s)
        fault = self._next_fault()
        if fault == "429":
            return self._send(
                handler, 429, b'{"error": {"message": "rate limited"}}', {"retry-after-ms": "20"}
            )
        if fault == "500":
            return self._send(handler, 500, b'{"error": {"message": "boom"}}')
        if fault == "slow":
            time.sleep(self.slow_s)
        if fault == "malformed":
            return self._send(handler, 200, b'{"object": "list", "data": [')
        if fault == "html":  # a web page where the API should be (a wrong base URL, a proxy's page)
            page = b"<!DOCTYPE html><html><head><title>Welcome</title></head><body>It works!</body></html>"
            handler.send_response(200)
            handler.send_header("Content-Type", "text/html; charset=utf-8")
            handler.send_header("Content-Length", str(len(page)))
            handler.end_headers()
            handler.wfile.write(page)
            return
        if handler.path.endswith("/embeddings"):
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            if self.max_input_bytes is not None and any(
                len(t.encode()) > self.max_input_bytes for t in texts
            ):
                # as OpenAI answers an input over the model's token limit: the whole request is refused
                message = {
                    "error": {
                        "message": "This model's maximum context length is exceeded",
                        "type": "invalid_request_error",
                        "code": "context_length_exceeded",
                    }
                }
                return self._send(handler, 400, json.dumps(message).encode())
            texts_out = texts[:-1] if fault == "short" else texts

            def embedding(text: str):
                if fault == "per_token":  # one vector per word, as llama_cpp.server returns for chat models
                    return [fake_vector(w, self.dim) for w in text.split()]
                return fake_vector(text, self.dim)

            data = [
                {"object": "embedding", "index": i, "embedding": embedding(t)}
                for i, t in enumerate(texts_out)
            ]
            if fault is None:
                with self.lock:
                    self.paid.update(texts)
            tokens = sum(len(t.split()) for t in texts)
            return self._send(
                handler,
                200,
                json.dumps(
                    {
                        "object": "list",
                        "data": data,
                        "model": body["model"],
                        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                    }
                ).encode(),
            )
        if handler.path.endswith("/chat/completions"):
            user = body["messages"][-1]["content"]
            with self.lock:
                self.chat_bodies.append(body)
                if fault in (None, "no_logprobs", "chatty"):
                    self.paid[user] += 1
            return self._send(handler, 200, json.dumps(chat_completion(body, fault)).encode())
        return self._send(handler, 404, b'{"error": {"message": "not found"}}')


def chat_completion(request: dict, fault: str | None = None, model: str | None = None) -> dict:
    """The fake's answer to a chat request (also the ``body`` of its batch output lines): the judgment from the
    hidden ``[gold:…]`` marker in the user message, as log-probabilities; the text always says "High"."""
    user = request["messages"][-1]["content"]
    match = GOLD.search(user)
    p_high, p_mid, p_low = GOLD_PROBS[match.group(1) if match else "Mid"]
    top = [
        (" High", p_high * 0.7),
        ("High", p_high * 0.3),
        (" Mid", p_mid),
        (" Low", p_low * 0.6),
        ("low", p_low * 0.4),
        (" The", 0.01),
    ]
    top_logprobs = [{"token": t, "logprob": math.log(p), "bytes": None} for t, p in top if p > 0]
    choice = {
        "index": 0,
        "finish_reason": "length",
        "message": {"role": "assistant", "content": "High"},
        "logprobs": {
            "content": [
                {
                    "token": "High",
                    "logprob": math.log(p_high * 0.3),
                    "bytes": None,
                    "top_logprobs": top_logprobs,
                }
            ]
        },
    }
    if fault in ("no_logprobs", "chatty"):
        choice["logprobs"] = None
        choice["message"]["content"] = "High" if fault == "no_logprobs" else "Sure"
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": model or request["model"],
        "choices": [] if fault == "no_choices" else [choice],
        "usage": {
            "prompt_tokens": len(user.split()),
            "completion_tokens": 1,
            "total_tokens": len(user.split()) + 1,
        },
    }


def batch_output(lines: list[dict], errors: set[str] = frozenset(), model: str | None = None) -> list[dict]:
    """What OpenAI's Batch API (or vLLM's run-batch) writes for these input lines: one output line each, an
    error line (HTTP 500) for the custom ids in ``errors``; ``model`` answers as another model."""
    out = []
    for i, line in enumerate(lines):
        if line["custom_id"] in errors:
            response = {"status_code": 500, "request_id": f"req-{i}", "body": {"error": {"message": "boom"}}}
        elif line["url"].endswith("/embeddings"):
            text = line["body"]["input"]
            body = {
                "object": "list",
                "model": model or line["body"]["model"],
                "data": [{"object": "embedding", "index": 0, "embedding": fake_vector(text, 16)}],
                "usage": {"prompt_tokens": len(text.split()), "total_tokens": len(text.split())},
            }
            response = {"status_code": 200, "request_id": f"req-{i}", "body": body}
        else:
            response = {
                "status_code": 200,
                "request_id": f"req-{i}",
                "body": chat_completion(line["body"], model=model),
            }
        out.append(
            {"id": f"batch_req_{i}", "custom_id": line["custom_id"], "response": response, "error": None}
        )
    return out


class FakeBatchAPI:
    """OpenAI's ``/v1/files`` and ``/v1/batches`` as the SDK sees them, in memory. A batch moves one state per
    ``retrieve`` (validating → in_progress → finalizing → completed); ``end`` changes how it ends: "completed",
    "expired" or "failed" (then only the first ``partial`` share of its lines has an output). ``cancel`` moves it
    to cancelling, then cancelled with the same partial output. Answers are the fake server's (``chat_completion``),
    errors for the custom ids in ``errors``. ``creates`` counts batches created: a client that never submits twice
    keeps it at one per file."""

    STATES = ("validating", "in_progress", "finalizing")

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.end, self.partial, self.errors = "completed", 0.5, set()
        self.creates = 0
        self.lock = threading.Lock()

    def _file(self, content: bytes, purpose: str, name: str) -> dict:
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = content
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": 0,
            "filename": name,
            "purpose": purpose,
            "status": "processed",
        }

    def _output(self, batch: dict, share: float) -> None:
        lines = [json.loads(t) for t in self.files[batch["input_file_id"]].decode().splitlines() if t.strip()]
        done = lines[: int(len(lines) * share)]
        answers = batch_output(done, errors=self.errors)
        good = [a for a in answers if a["response"]["status_code"] == 200]
        bad = [a for a in answers if a["response"]["status_code"] != 200]
        if good:
            batch["output_file_id"] = self._file(
                "".join(json.dumps(a) + "\n" for a in good).encode(), "batch_output", "output.jsonl"
            )["id"]
        if bad:
            batch["error_file_id"] = self._file(
                "".join(json.dumps(a) + "\n" for a in bad).encode(), "batch_output", "errors.jsonl"
            )["id"]
        batch["request_counts"] = {"total": len(lines), "completed": len(good), "failed": len(bad)}

    def _advance(self, batch: dict) -> None:
        if batch["status"] == "cancelling":
            batch["status"] = "cancelled"
            self._output(batch, self.partial)
        elif batch["status"] in self.STATES:
            index = self.STATES.index(batch["status"])
            if index + 1 < len(self.STATES):
                batch["status"] = self.STATES[index + 1]
            else:
                batch["status"] = self.end
                self._output(batch, 1.0 if self.end == "completed" else self.partial)

    def handle(self, server, handler, method: str) -> None:
        length = int(handler.headers.get("Content-Length", 0) or 0)
        raw = handler.rfile.read(length) if length else b""
        path = handler.path.split("?")[0].removeprefix("/v1")
        with self.lock:
            if method == "POST" and path == "/files":
                # multipart/form-data: the part named "file" holds the JSONL
                boundary = handler.headers["Content-Type"].split("boundary=")[1].encode()
                parts = raw.split(b"--" + boundary)
                file_part = next(p for p in parts if b'name="file"' in p)
                content = file_part.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n", 1)[0]
                return server._send(
                    handler, 200, json.dumps(self._file(content, "batch", "in.jsonl")).encode()
                )
            if method == "POST" and path == "/batches":
                request = json.loads(raw)
                self.creates += 1
                batch_id = f"batch_{len(self.batches) + 1}"
                self.batches[batch_id] = {
                    "id": batch_id,
                    "object": "batch",
                    "endpoint": request["endpoint"],
                    "errors": None,
                    "input_file_id": request["input_file_id"],
                    "completion_window": request["completion_window"],
                    "status": "validating",
                    "output_file_id": None,
                    "error_file_id": None,
                    "created_at": 0,
                    "request_counts": {"total": 0, "completed": 0, "failed": 0},
                    "metadata": request.get("metadata"),
                }
                return server._send(handler, 200, json.dumps(self.batches[batch_id]).encode())
            if method == "POST" and path.endswith("/cancel"):
                batch = self.batches[path.split("/")[2]]
                batch["status"] = "cancelling"
                return server._send(handler, 200, json.dumps(batch).encode())
            if method == "GET" and path == "/batches":
                data = list(reversed(self.batches.values()))
                body = {"object": "list", "data": data, "first_id": None, "last_id": None, "has_more": False}
                return server._send(handler, 200, json.dumps(body).encode())
            if method == "GET" and path.startswith("/batches/"):
                batch = self.batches[path.split("/")[2]]
                self._advance(batch)
                return server._send(handler, 200, json.dumps(batch).encode())
            if method == "GET" and path.startswith("/files/") and path.endswith("/content"):
                handler.send_response(200)
                content = self.files[path.split("/")[2]]
                handler.send_header("Content-Type", "application/octet-stream")
                handler.send_header("Content-Length", str(len(content)))
                handler.end_headers()
                handler.wfile.write(content)
                return None
        return server._send(handler, 404, b'{"error": {"message": "not found"}}')


def serve_forever(latency_s: float) -> None:
    """Run as a separate process (benchmarks): prints the base URL, then serves until killed."""
    with FakeOpenAI(latency_s=latency_s) as server:
        print(server.base_url, flush=True)
        server.thread.join()


if __name__ == "__main__":
    import sys

    serve_forever(float(sys.argv[1]) if len(sys.argv) > 1 else 0.0)
