"""A fake OpenAI + Anthropic HTTP API on 127.0.0.1, for driving the real client SDKs and instrumentors.

It answers with fixed, documented token counts so that tests can assert exact costs:

* OpenAI Chat Completions and Responses: 1200 input tokens (200 of them cached), 300 output tokens
  (100 of them reasoning). Chat reports them as ``prompt_tokens``/``completion_tokens`` with
  ``prompt_tokens_details.cached_tokens`` and ``completion_tokens_details.reasoning_tokens``; the
  Responses API as ``input_tokens``/``output_tokens`` with ``*_details``.
* OpenAI embeddings: 1000 prompt tokens.
* Anthropic Messages: ``input_tokens`` 1000 (the *uncached* part, as Anthropic reports it),
  ``cache_read_input_tokens`` 2000, ``cache_creation_input_tokens`` 500, ``output_tokens`` 400. All
  input is therefore 3500 tokens.

Requests for the model ``trigger-429`` get an HTTP 429 in the provider's error format, with
``x-should-retry: false`` so that the SDKs do not retry (and the tests do not wait for back-off).

Only the standard library is used; the server binds 127.0.0.1 on a free port. Use :func:`serve`
(a context manager) or the ``fake_provider`` pytest fixture in ``test_instrumentations.py``.
"""

from __future__ import annotations

import base64
import itertools
import json
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# --- The documented numbers -------------------------------------------------------------------
OPENAI_INPUT_TOKENS = 1200  # all input, cached included (OpenAI's prompt_tokens / input_tokens)
OPENAI_CACHED_TOKENS = 200
OPENAI_OUTPUT_TOKENS = 300  # all output, reasoning included
OPENAI_REASONING_TOKENS = 100
EMBEDDING_TOKENS = 1000
ANTHROPIC_INPUT_TOKENS = 1000  # uncached input only, as the Anthropic API reports it
ANTHROPIC_CACHE_READ_TOKENS = 2000
ANTHROPIC_CACHE_WRITE_TOKENS = 500
ANTHROPIC_OUTPUT_TOKENS = 400
ANTHROPIC_ALL_INPUT_TOKENS = ANTHROPIC_INPUT_TOKENS + ANTHROPIC_CACHE_READ_TOKENS + ANTHROPIC_CACHE_WRITE_TOKENS

ERROR_MODEL = "trigger-429"
# The dated model each alias resolves to, as the real APIs answer. Other names are echoed back.
RESPONSE_MODELS = {
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o": "gpt-4o-2024-08-06",
    "o3-mini": "o3-mini-2025-01-31",
    "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
}
REPLY_WORDS = ("Hello", " from", " the", " fake", " provider", ".")
REPLY_TEXT = "".join(REPLY_WORDS)
CREATED = 1_767_225_600  # 2026-01-01T00:00:00Z: a fixed "created" so responses are reproducible
EMBEDDING_DIMENSIONS = 8


def response_model(request_model: str) -> str:
    return RESPONSE_MODELS.get(request_model, request_model)


def openai_chat_usage() -> dict[str, Any]:
    return {
        "prompt_tokens": OPENAI_INPUT_TOKENS,
        "completion_tokens": OPENAI_OUTPUT_TOKENS,
        "total_tokens": OPENAI_INPUT_TOKENS + OPENAI_OUTPUT_TOKENS,
        "prompt_tokens_details": {"cached_tokens": OPENAI_CACHED_TOKENS, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": OPENAI_REASONING_TOKENS,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def openai_responses_usage() -> dict[str, Any]:
    return {
        "input_tokens": OPENAI_INPUT_TOKENS,
        "input_tokens_details": {"cached_tokens": OPENAI_CACHED_TOKENS},
        "output_tokens": OPENAI_OUTPUT_TOKENS,
        "output_tokens_details": {"reasoning_tokens": OPENAI_REASONING_TOKENS},
        "total_tokens": OPENAI_INPUT_TOKENS + OPENAI_OUTPUT_TOKENS,
    }


def anthropic_usage(output_tokens: int = ANTHROPIC_OUTPUT_TOKENS) -> dict[str, Any]:
    return {
        "input_tokens": ANTHROPIC_INPUT_TOKENS,
        "cache_read_input_tokens": ANTHROPIC_CACHE_READ_TOKENS,
        "cache_creation_input_tokens": ANTHROPIC_CACHE_WRITE_TOKENS,
        "cache_creation": {"ephemeral_5m_input_tokens": ANTHROPIC_CACHE_WRITE_TOKENS, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeProvider:
    """The running server. ``requests`` lists every request received, in order."""

    host: str
    port: int
    requests: list[RecordedRequest] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url  # the Anthropic SDK adds /v1/messages itself

    def next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    # --- plumbing ------------------------------------------------------------------------------
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        path = self.path.split("?", 1)[0]
        fake = self.server.fake
        fake.record(RecordedRequest("POST", path, {k.lower(): v for k, v in self.headers.items()}, body))
        routes = {
            "/v1/chat/completions": self._chat_completions,
            "/v1/responses": self._responses,
            "/v1/embeddings": self._embeddings,
            "/v1/messages": self._messages,
        }
        route = routes.get(path)
        if route is None:
            self._json(404, {"error": {"message": f"no route {path}", "type": "invalid_request_error"}})
            return
        if body.get("model") == ERROR_MODEL:
            self._rate_limited(anthropic=path == "/v1/messages")
            return
        route(body, fake.next_id())

    def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, events: list[tuple[str | None, Any]]) -> None:
        """Send server-sent events; ``None`` as an event name sends a bare ``data:`` line."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        for event, data in events:
            text = data if isinstance(data, str) else json.dumps(data)
            chunk = (f"event: {event}\n" if event else "") + f"data: {text}\n\n"
            self.wfile.write(chunk.encode())
            self.wfile.flush()
        self.close_connection = True

    def _rate_limited(self, *, anthropic: bool) -> None:
        headers = {"x-should-retry": "false", "retry-after": "0"}
        if anthropic:
            payload: dict[str, Any] = {
                "type": "error",
                "error": {
                    "type": "rate_limit_error",
                    "message": "Number of request tokens has exceeded your rate limit",
                },
            }
            headers["request-id"] = "req_fake_429"
        else:
            payload = {
                "error": {
                    "message": "Rate limit reached for requests",
                    "type": "requests",
                    "param": None,
                    "code": "rate_limit_exceeded",
                }
            }
        self._json(429, payload, headers)

    # --- OpenAI Chat Completions ---------------------------------------------------------------
    def _chat_completions(self, body: dict[str, Any], n: int) -> None:
        model = response_model(str(body.get("model")))
        base = {"id": f"chatcmpl-{n}", "created": CREATED, "model": model, "system_fingerprint": "fp_fake"}
        if not body.get("stream"):
            message = {"role": "assistant", "content": REPLY_TEXT, "refusal": None, "annotations": []}
            self._json(
                200,
                {
                    **base,
                    "object": "chat.completion",
                    "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
                    "usage": openai_chat_usage(),
                    "service_tier": "default",
                },
            )
            return
        chunk = {**base, "object": "chat.completion.chunk", "service_tier": "default"}
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        extra = {"usage": None} if include_usage else {}

        def choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

        events: list[tuple[str | None, Any]] = [
            (None, {**chunk, "choices": [choice({"role": "assistant", "content": "", "refusal": None})], **extra})
        ]
        events += [(None, {**chunk, "choices": [choice({"content": word})], **extra}) for word in REPLY_WORDS]
        events.append((None, {**chunk, "choices": [choice({}, "stop")], **extra}))
        if include_usage:
            events.append((None, {**chunk, "choices": [], "usage": openai_chat_usage()}))
        events.append((None, "[DONE]"))
        self._sse(events)

    # --- OpenAI Responses API ------------------------------------------------------------------
    def _responses(self, body: dict[str, Any], n: int) -> None:
        model = response_model(str(body.get("model")))
        text_part = {"type": "output_text", "text": REPLY_TEXT, "annotations": [], "logprobs": []}
        message = {
            "type": "message",
            "id": f"msg_{n}",
            "status": "completed",
            "role": "assistant",
            "content": [text_part],
        }
        response: dict[str, Any] = {
            "id": f"resp_{n}",
            "object": "response",
            "created_at": CREATED,
            "status": "completed",
            "background": False,
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": model,
            "output": [message],
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "service_tier": "default",
            "store": True,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": "auto",
            "tools": [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": openai_responses_usage(),
            "user": None,
            "metadata": {},
        }
        if not body.get("stream"):
            self._json(200, response)
            return
        seq = itertools.count()
        in_progress = {**response, "status": "in_progress", "output": [], "usage": None}
        empty_message = {**message, "status": "in_progress", "content": []}
        empty_part = {**text_part, "text": ""}
        events: list[dict[str, Any]] = [
            {"type": "response.created", "response": in_progress},
            {"type": "response.in_progress", "response": in_progress},
            {"type": "response.output_item.added", "output_index": 0, "item": empty_message},
            {
                "type": "response.content_part.added",
                "item_id": message["id"],
                "output_index": 0,
                "content_index": 0,
                "part": empty_part,
            },
        ]
        for word in REPLY_WORDS:
            events.append(
                {
                    "type": "response.output_text.delta",
                    "item_id": message["id"],
                    "output_index": 0,
                    "content_index": 0,
                    "delta": word,
                    "logprobs": [],
                }
            )
        events += [
            {
                "type": "response.output_text.done",
                "item_id": message["id"],
                "output_index": 0,
                "content_index": 0,
                "text": REPLY_TEXT,
                "logprobs": [],
            },
            {
                "type": "response.content_part.done",
                "item_id": message["id"],
                "output_index": 0,
                "content_index": 0,
                "part": text_part,
            },
            {"type": "response.output_item.done", "output_index": 0, "item": message},
            {"type": "response.completed", "response": response},
        ]
        self._sse([(event["type"], {**event, "sequence_number": next(seq)}) for event in events])

    # --- OpenAI embeddings ---------------------------------------------------------------------
    def _embeddings(self, body: dict[str, Any], n: int) -> None:
        inputs = body.get("input")
        count = len(inputs) if isinstance(inputs, list) and inputs and not isinstance(inputs[0], int) else 1
        vector = [round(0.1 * (i + 1), 3) for i in range(EMBEDDING_DIMENSIONS)]
        embedding: Any = vector
        if body.get("encoding_format") == "base64":  # what the openai SDK asks for by default
            embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        self._json(
            200,
            {
                "object": "list",
                "data": [{"object": "embedding", "index": i, "embedding": embedding} for i in range(count)],
                "model": str(body.get("model")),
                "usage": {"prompt_tokens": EMBEDDING_TOKENS, "total_tokens": EMBEDDING_TOKENS},
            },
        )

    # --- Anthropic Messages --------------------------------------------------------------------
    def _messages(self, body: dict[str, Any], n: int) -> None:
        model = response_model(str(body.get("model")))
        message: dict[str, Any] = {
            "id": f"msg_{n:024d}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": REPLY_TEXT}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": anthropic_usage(),
        }
        headers = {"request-id": f"req_{n:024d}"}
        if not body.get("stream"):
            self._json(200, message, headers)
            return
        # As the real API streams: message_start carries the input usage and a token or so of
        # output; message_delta carries the cumulative output_tokens at the end.
        start = {**message, "content": [], "stop_reason": None, "usage": anthropic_usage(output_tokens=1)}
        events: list[tuple[str | None, Any]] = [
            ("message_start", {"type": "message_start", "message": start}),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            ("ping", {"type": "ping"}),
        ]
        events += [
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}},
            )
            for word in REPLY_WORDS
        ]
        events += [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": ANTHROPIC_OUTPUT_TOKENS},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        self._sse(events)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeProvider


@contextmanager
def serve() -> Iterator[FakeProvider]:
    """Run the fake provider on 127.0.0.1 and a free port until the block ends."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = FakeProvider(host="127.0.0.1", port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


if __name__ == "__main__":  # handy for poking at it with curl
    with serve() as fake:
        print(f"fake provider on {fake.url} (Ctrl-C to stop)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
