"""How an instrumented app's LLM calls look as spans: the demo's span writer, below its scenarios.

:class:`_SpanWriter` writes what OpenTelemetry instrumentation would for one request: an HTTP server
span (not an LLM call) around ``chat``/``embeddings``/``generate_content`` client spans carrying the
GenAI usage attributes each provider reports, with the failures real clients see (a rate limit
retried after a backoff, a timeout, a stream cut mid-answer). It keeps the budget of calls and
tallies everything it writes in a :class:`DemoResult`. The models are here too: a few of each
provider's, and one (``ACME``) that no price catalog knows.

Which calls are made, for whom, with how many tokens and when is the workload's business
(:mod:`otel_llm_cost._demo_workload`); every random draw comes from the ``random.Random`` it passes in.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_llm_cost import attributes as a

_S = 10**9  # nanoseconds per second


@dataclass(frozen=True)
class _Model:
    provider: str  # gen_ai.provider.name, as the instrumentation reports it
    request: str
    response: str  # providers answer with a dated snapshot name
    server: str
    tokens_per_s: float
    operation: str = "chat"


GPT_4O = _Model("openai", "gpt-4o", "gpt-4o-2024-08-06", "api.openai.com", 90)
GPT_4O_MINI = _Model("openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", "api.openai.com", 120)
GPT_5 = _Model("openai", "gpt-5", "gpt-5-2025-08-07", "api.openai.com", 70)
O4_MINI = _Model("openai", "o4-mini", "o4-mini-2025-04-16", "api.openai.com", 110)
EMBEDDING = _Model("openai", "text-embedding-3-small", "text-embedding-3-small", "api.openai.com", 0, "embeddings")
SONNET = _Model("anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929", "api.anthropic.com", 75)
HAIKU = _Model("anthropic", "claude-haiku-4-5", "claude-haiku-4-5-20251001", "api.anthropic.com", 150)
GEMINI_FLASH = _Model(
    "gcp.gemini", "gemini-2.5-flash", "gemini-2.5-flash", "generativelanguage.googleapis.com", 180, "generate_content"
)
# Not in any price catalog: stored with cost NULL and pricing_status 'unknown_model'.
ACME = _Model("acme", "acme-llm-2", "acme-llm-2", "llm.acme.internal", 60)


@dataclass
class _Usage:
    """Token counts as the OTel GenAI conventions define them (cache inside input, reasoning inside output)."""

    input_tokens: int
    output_tokens: int = 0
    cache_read: int = 0
    cache_write: int = 0
    reasoning: int = 0

    def __iadd__(self, other: _Usage) -> _Usage:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read += other.cache_read
        self.cache_write += other.cache_write
        self.reasoning += other.reasoning
        return self


@dataclass
class _Reply:
    usage: _Usage | None  # what the span reported; None when it reported nothing
    ok: bool = True


@dataclass(frozen=True)
class _Caller:
    """Who a call is made for: user.id, gen_ai.conversation.id and gen_ai.agent.name, when known."""

    user: str | None = None
    conversation: str | None = None
    agent: str | None = None


_NOBODY = _Caller()


@dataclass
class _Request:
    failed: bool = False  # a call failed for good: the HTTP response is an error


@dataclass
class DemoResult:
    """What the demo generated, and what the processor made of it.

    On a fresh database ``stored == calls``; on a re-run with the same seed ``already_present == calls``.
    """

    db_path: str
    seed: int
    services: tuple[str, ...] = ()
    calls: int = 0  #: LLM call spans emitted; each is one llm_calls row
    traces: int = 0
    unknown_model_calls: int = 0  #: calls to a model the catalog lacks that reported usage (unknown_model)
    failed_calls: int = 0  #: call spans with status ERROR
    failed_calls_without_usage: int = 0  #: of those, the ones that reported no tokens (no_usage)
    aggregate_spans: int = 0  #: invoke_agent and execute_tool spans: GenAI spans that are not calls
    other_spans: int = 0  #: HTTP server and queue consumer spans
    stored: int = 0  #: new llm_calls rows
    already_present: int = 0  #: calls whose ids were already in the file
    unpriced: int = 0  #: stored calls without a cost
    dropped: int = 0  #: LLM spans that did not reach the database (should be 0)
    seconds: float = 0.0
    call_span_ids: list[tuple[str, str]] = field(default_factory=list, repr=False)  #: (trace_id, span_id) hex


class _Trace:
    """One trace being written: a tracer, a simulated clock and the current parent span."""

    def __init__(self, tracer: trace.Tracer, start_ns: int) -> None:
        self.tracer = tracer
        self.now_ns = start_ns
        self._parent: trace.Span | None = None

    @contextmanager
    def span(self, name: str, kind: SpanKind, attributes: dict[str, Any]) -> Iterator[trace.Span]:
        # An empty Context for the root: the demo must not become a child of the caller's active span.
        context = trace.set_span_in_context(self._parent) if self._parent is not None else Context()
        span = self.tracer.start_span(name, context, kind, attributes, start_time=self.now_ns)
        outer, self._parent = self._parent, span
        try:
            yield span
        finally:
            self._parent = outer
            self.advance(0.002)
            span.end(end_time=self.now_ns)

    def advance(self, seconds: float) -> None:
        self.now_ns += int(seconds * _S)


class _SpanWriter:
    """Writes traces of HTTP requests and provider calls, charging every call span to the budget."""

    def __init__(self, rng: random.Random, tracers: dict[str, trace.Tracer], calls: int) -> None:
        self.rng = rng
        self.tracers = tracers
        self.remaining = calls
        self.result = DemoResult("", 0, services=tuple(tracers))

    def new_trace(self, service: str, start_ns: int) -> _Trace:
        self.result.traces += 1
        return _Trace(self.tracers[service], start_ns)

    @contextmanager
    def http(self, tr: _Trace, method: str, route: str, user: str | None = None) -> Iterator[_Request]:
        """An HTTP server span around a request; the caller sets ``failed`` when a call failed for good."""
        attributes: dict[str, Any] = {"http.request.method": method, "http.route": route, "url.scheme": "https"}
        if user:
            attributes[a.USER_ID] = user
        request = _Request()
        self.result.other_spans += 1
        with tr.span(f"{method} {route}", SpanKind.SERVER, attributes) as span:
            tr.advance(self.rng.uniform(0.005, 0.03))
            yield request
            status = 502 if request.failed else 200
            span.set_attribute("http.response.status_code", status)
            if request.failed:
                span.set_status(Status(StatusCode.ERROR))
                span.set_attribute(a.ERROR_TYPE, str(status))

    def call(
        self,
        tr: _Trace,
        model: _Model,
        usage: _Usage,
        caller: _Caller = _NOBODY,
        *,
        may_fail: bool = True,
    ) -> _Reply:
        """Emit one provider call span (and its retry after a 429). Does nothing once the budget is spent."""
        if self.remaining <= 0:
            return _Reply(None)
        attributes: dict[str, Any] = {
            a.GEN_AI_OPERATION_NAME: model.operation,
            a.GEN_AI_PROVIDER_NAME: model.provider,
            a.GEN_AI_REQUEST_MODEL: model.request,
            "server.address": model.server,
            "server.port": 443,
        }
        if model.operation != "embeddings":
            attributes["gen_ai.request.max_tokens"] = 4096
            attributes["gen_ai.request.temperature"] = 0.2
        ids = (
            (a.USER_ID, caller.user),
            (a.GEN_AI_CONVERSATION_ID, caller.conversation),
            (a.GEN_AI_AGENT_NAME, caller.agent),
        )
        for key, value in ids:
            if value:
                attributes[key] = value
        roll = self.rng.random() if may_fail else 1.0
        # Failure modes: a rate limit (no usage, the client retries), a timeout (no usage, the
        # request fails), and a stream cut mid-answer (prompt and partial output still billed).
        if roll < 0.02:
            failure, reported = "429", None
        elif roll < 0.026:
            failure, reported = "timeout", None
        elif roll < 0.032 and model.operation != "embeddings":
            partial = _Usage(usage.input_tokens, usage.output_tokens // 3, usage.cache_read, usage.cache_write)
            failure, reported = "stream_interrupted", partial
        else:
            failure, reported = None, usage
        if failure == "429":
            duration = self.rng.uniform(0.05, 0.3)
        elif failure == "timeout":
            duration = 60.0
        else:
            prefill = usage.input_tokens / 20_000
            gen = reported.output_tokens / model.tokens_per_s if reported and model.tokens_per_s else 0.0
            duration = self.rng.uniform(0.2, 0.9) + prefill + gen

        self.remaining -= 1
        self.result.calls += 1
        with tr.span(f"{model.operation} {model.request}", SpanKind.CLIENT, attributes) as span:
            tr.advance(duration)
            context = span.get_span_context()
            self.result.call_span_ids.append((format(context.trace_id, "032x"), format(context.span_id, "016x")))
            if reported is not None:
                span.set_attributes(self._usage_attributes(model, reported))
                if model is ACME:
                    self.result.unknown_model_calls += 1
            if failure is None:
                span.set_attribute("gen_ai.response.finish_reasons", ("stop",))
            else:
                span.set_status(Status(StatusCode.ERROR, f"{model.provider} call failed: {failure}"))
                span.set_attribute(a.ERROR_TYPE, failure)
                self.result.failed_calls += 1
                self.result.failed_calls_without_usage += int(reported is None)
        if failure == "429":
            tr.advance(self.rng.uniform(1.0, 6.0))  # the client's backoff before the retry
            return self.call(tr, model, usage, caller, may_fail=False)
        return _Reply(reported, ok=failure is None)

    def _usage_attributes(self, model: _Model, usage: _Usage) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            a.GEN_AI_RESPONSE_MODEL: model.response,
            a.GEN_AI_RESPONSE_ID: f"resp_{self.rng.getrandbits(80):020x}",
            a.GEN_AI_USAGE_INPUT_TOKENS: usage.input_tokens,
        }
        if model.operation != "embeddings":
            attributes[a.GEN_AI_USAGE_OUTPUT_TOKENS] = usage.output_tokens
        if model.provider == "anthropic":
            # Anthropic always reports both cache counts; the v1.40 conventions call a write "cache_creation".
            attributes[a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage.cache_read
            attributes[a.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = usage.cache_write
        elif usage.cache_read:
            attributes[a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage.cache_read
        if usage.reasoning:
            attributes[a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = usage.reasoning
        return attributes
