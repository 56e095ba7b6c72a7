"""A realistic synthetic LLM workload, run through the real OpenTelemetry SDK into a DuckDB file.

Five services, each with its own ``TracerProvider`` (``service.name``, ``deployment.environment.name``)
and all sharing one :class:`LLMCostSpanProcessor`, make provider calls the way instrumented apps do:
HTTP server spans (not LLM calls) around ``chat``/``embeddings``/``generate_content`` client spans,
an agent whose ``invoke_agent`` span repeats its children's summed usage (an aggregate, never a
call), Anthropic prompt caching, OpenAI reasoning tokens, rate limits retried by the client,
timeouts and broken streams, and a model no price catalog knows.

Everything random comes from the seed: the workload from one ``random.Random``, the trace and span
ids from :class:`SeededIdGenerator`. The same seed therefore replays the same ids, and since writes
are insert-or-ignore on ``(trace_id, span_id)``, running the demo twice stores every call once.
Timestamps are spread over the 14 UTC days up to ``now`` (today included) and do not feed back into
the random draws, so the ids stay the same from one day to the next.
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_llm_cost import attributes as a
from otel_llm_cost.processor import LLMCostSpanProcessor
from otel_llm_cost.store import DuckDBStore

logger = logging.getLogger(__name__)

DEFAULT_CALLS = 3000
DEFAULT_SEED = 2026
WINDOW_DAYS = 14
MAX_CALLS = 50_000
_S = 10**9  # nanoseconds per second
_DAY_NS = 86_400 * _S
# Flush this often so the processor's bounded queue never fills (a full queue drops spans).
_FLUSH_EVERY_CALLS = 1000

# (service.name, deployment.environment.name, service.version)
SERVICES: tuple[tuple[str, str, str], ...] = (
    ("support-chat", "production", "2.14.0"),
    ("search-api", "production", "1.8.3"),
    ("doc-pipeline", "production", "0.9.1"),
    ("code-review-bot", "staging", "0.4.0"),
    ("labs-playground", "development", "0.1.0"),
)


class SeededIdGenerator(IdGenerator):
    """Trace and span ids from a seeded PRNG, so a re-run produces the same ids.

    Args:
        seed: the demo's seed; the ids use their own stream, apart from the workload's.
    """

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"otel-llm-cost-demo-ids:{seed}")

    def generate_span_id(self) -> int:
        return self._rng.getrandbits(64) or 1  # 0 is the invalid span id

    def generate_trace_id(self) -> int:
        return self._rng.getrandbits(128) or 1

    def is_trace_id_random(self) -> bool:
        return True


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


class _Workload:
    """The scenarios. Each one writes one or more whole traces, charging every call span to the budget."""

    def __init__(self, rng: random.Random, tracers: dict[str, trace.Tracer], calls: int, now_ns: int) -> None:
        self.rng = rng
        self.tracers = tracers
        self.remaining = calls
        self.now_ns = now_ns
        # The window is today and the 13 UTC days before, as `otel-llm-cost report` shows them.
        self.window_start_ns = (now_ns // _DAY_NS - (WINDOW_DAYS - 1)) * _DAY_NS
        self.result = DemoResult("", 0, services=tuple(tracers))
        # Zipf-like weights: a few heavy users, a long tail, as in real traffic.
        self.users = [f"user-{i:04d}" for i in range(1, 121)]
        self.user_weights = [1 / (i**1.1) for i in range(1, 121)]

    def run(self, flush: Callable[[], object]) -> None:
        scenarios = (self.support_conversation, self.search, self.document_batch, self.code_review, self.playground)
        weights = (30, 30, 12, 12, 16)
        flushed_at = 0
        while self.remaining > 0:
            self.rng.choices(scenarios, weights)[0]()
            if self.result.calls - flushed_at >= _FLUSH_EVERY_CALLS:
                flush()
                flushed_at = self.result.calls

    # -- helpers ---------------------------------------------------------------------------------

    def tokens(self, median: float, sigma: float, low: int, high: int) -> int:
        return max(low, min(high, round(self.rng.lognormvariate(math.log(median), sigma))))

    def user(self) -> str:
        return self.rng.choices(self.users, self.user_weights)[0]

    def start_ns(self, reserve_s: float) -> int:
        """A start time in the window, ``reserve_s`` before ``now`` at least; recent days a bit busier.

        One draw whatever ``now`` is, so the ids (drawn in the same order) do not depend on the clock.
        """
        latest = self.now_ns - int((reserve_s + 60) * _S)
        return latest - int((latest - self.window_start_ns) * self.rng.random() ** 1.3)

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

    # -- scenarios -------------------------------------------------------------------------------

    def support_conversation(self) -> None:
        """A multi-turn support chat: one trace per turn, an agent with prompt caching and a tool."""
        rng = self.rng
        user = self.user()
        conversation = f"conv_{rng.getrandbits(64):016x}"
        turns = rng.choices((1, 2, 3, 4, 5, 6, 8), (20, 20, 18, 15, 12, 9, 6))[0]
        gaps = [rng.uniform(15, 400) for _ in range(turns)]  # think time before each turn
        start = self.start_ns(sum(gaps) + 300 * turns)
        caller = _Caller(user, conversation, "support-assistant")
        prefix = 4_300  # system prompt and tool definitions
        history = 0  # earlier turns' messages and answers
        cached = 0  # tokens in Anthropic's prompt cache, which lives 5 minutes
        for gap in gaps:
            if self.remaining <= 0:
                return
            if gap >= 300:
                cached = 0
            tr = self.new_trace("support-chat", start + int(gap * _S))
            with self.http(tr, "POST", "/v1/chat/messages", user) as request:
                agent_attributes = {
                    a.GEN_AI_OPERATION_NAME: "invoke_agent",
                    a.GEN_AI_PROVIDER_NAME: "anthropic",
                    a.GEN_AI_AGENT_NAME: "support-assistant",
                    a.GEN_AI_REQUEST_MODEL: SONNET.request,
                    a.GEN_AI_CONVERSATION_ID: conversation,
                }
                self.result.aggregate_spans += 1
                with tr.span("invoke_agent support-assistant", SpanKind.INTERNAL, agent_attributes) as agent_span:
                    total = _Usage(0)
                    message = self.tokens(70, 0.8, 5, 2_000)
                    if not history or rng.random() < 0.25:
                        reply = self.call(tr, HAIKU, _Usage(350 + message, self.tokens(8, 0.5, 2, 40)), caller)
                        total += reply.usage or _Usage(0)
                        request.failed |= not reply.ok
                    # The cache breakpoint sits before the new message: what was cached is read back,
                    # the rest of the prefix and history is written for the next turn.
                    prompt = prefix + history + message
                    uses_tool = rng.random() < 0.35
                    answer = self.tokens(45, 0.6, 10, 300) if uses_tool else self.tokens(260, 0.6, 20, 2_000)
                    if not request.failed:
                        usage = _Usage(prompt, answer, cached, prefix + history - cached)
                        reply = self.call(tr, SONNET, usage, caller)
                        total += reply.usage or _Usage(0)
                        request.failed |= not reply.ok
                        cached = prefix + history if reply.usage else cached
                    if uses_tool and not request.failed and self.remaining > 0:
                        tool = {a.GEN_AI_OPERATION_NAME: "execute_tool", "gen_ai.tool.name": "lookup_order"}
                        self.result.aggregate_spans += 1
                        with tr.span("execute_tool lookup_order", SpanKind.INTERNAL, tool):
                            tr.advance(rng.uniform(0.05, 0.6))
                        follow_up = prompt + answer + self.tokens(600, 0.7, 50, 6_000)
                        answer = self.tokens(260, 0.6, 20, 2_000)
                        reply = self.call(tr, SONNET, _Usage(follow_up, answer, cached), caller)
                        total += reply.usage or _Usage(0)
                        request.failed |= not reply.ok
                    if total.input_tokens:
                        # The agent span repeats its children's summed usage: an aggregate, not a call.
                        agent_span.set_attributes(
                            {
                                a.GEN_AI_USAGE_INPUT_TOKENS: total.input_tokens,
                                a.GEN_AI_USAGE_OUTPUT_TOKENS: total.output_tokens,
                                a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: total.cache_read,
                            }
                        )
            history += message + answer
            start = tr.now_ns

    def search(self) -> None:
        """Retrieval-augmented search: embed the query, then answer from retrieved chunks."""
        rng = self.rng
        user = self.user()
        tr = self.new_trace("search-api", self.start_ns(300))
        with self.http(tr, "GET", "/v1/search", user) as request:
            reply = self.call(tr, EMBEDDING, _Usage(self.tokens(14, 0.6, 2, 200)), _Caller(user))
            if not reply.ok:
                request.failed = True
                return
            tr.advance(rng.uniform(0.01, 0.08))  # vector search
            prompt = 1_150 + sum(self.tokens(320, 0.3, 80, 900) for _ in range(rng.randint(4, 10)))
            # OpenAI caches prompt prefixes of 1,024+ tokens automatically, in 128-token steps.
            cached = 1_024 if rng.random() < 0.55 else 0
            reply = self.call(tr, GPT_4O_MINI, _Usage(prompt, self.tokens(220, 0.5, 20, 1_200), cached), _Caller(user))
            request.failed = not reply.ok

    def document_batch(self) -> None:
        """A queue consumer: embed and summarise a batch of documents (no user, no HTTP)."""
        rng = self.rng
        documents = rng.randint(1, 4)
        tr = self.new_trace("doc-pipeline", self.start_ns(900))
        attributes = {
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": "documents.ingest",
            "messaging.batch.message_count": documents,
        }
        self.result.other_spans += 1
        with tr.span("process documents.ingest", SpanKind.CONSUMER, attributes) as span:
            for _ in range(documents):
                size = self.tokens(9_000, 0.8, 800, 120_000)
                reply = self.call(tr, EMBEDDING, _Usage(size))
                if reply.ok:
                    # Contracts get the bigger model; everything else the cheap fast one.
                    if rng.random() < 0.2:
                        usage = _Usage(min(size, 110_000) + 900, self.tokens(1_100, 0.4, 200, 4_000))
                        reply = self.call(tr, GPT_4O, usage)
                    else:
                        reply = self.call(tr, GEMINI_FLASH, _Usage(size + 600, self.tokens(550, 0.4, 100, 2_000)))
                if not reply.ok:
                    span.set_status(Status(StatusCode.ERROR))

    def code_review(self) -> None:
        """A GitHub webhook: triage a diff with a small model, then review it with a reasoning model."""
        rng = self.rng
        user = self.user()
        tr = self.new_trace("code-review-bot", self.start_ns(900))
        with self.http(tr, "POST", "/webhooks/github", user) as request:
            diff = self.tokens(6_000, 0.9, 300, 150_000)
            reply = self.call(tr, HAIKU, _Usage(min(diff, 3_000) + 700, self.tokens(30, 0.5, 5, 200)), _Caller(user))
            if not reply.ok:
                request.failed = True
                return
            if rng.random() < 0.2:
                return  # a trivial change gets no review
            model = GPT_5 if rng.random() < 0.65 else O4_MINI
            reasoning = self.tokens(2_500, 0.7, 200, 30_000)
            visible = self.tokens(700, 0.5, 50, 4_000)
            # Repository guidelines form a stable 2,048-token prefix that OpenAI often has cached.
            cached = 2_048 if rng.random() < 0.5 else 0
            reply = self.call(
                tr, model, _Usage(diff + 2_300, reasoning + visible, cached, reasoning=reasoning), _Caller(user)
            )
            request.failed = not reply.ok

    def playground(self) -> None:
        """An internal playground, mostly trying a self-hosted model no price catalog knows."""
        rng = self.rng
        user = self.user()
        conversation = f"play_{rng.getrandbits(48):012x}"
        tr = self.new_trace("labs-playground", self.start_ns(300))
        with self.http(tr, "POST", "/playground/completions", user) as request:
            model = rng.choices((ACME, GPT_4O_MINI, HAIKU), (55, 25, 20))[0]
            for _ in range(rng.randint(1, 3)):
                usage = _Usage(self.tokens(900, 0.8, 30, 12_000), self.tokens(300, 0.7, 5, 3_000))
                reply = self.call(tr, model, usage, _Caller(user, conversation))
                if not reply.ok:
                    request.failed = True
                    return


def run_demo(
    db_path: str | os.PathLike[str],
    *,
    calls: int = DEFAULT_CALLS,
    seed: int = DEFAULT_SEED,
    now_ns: int | None = None,
    span_processors: Sequence[SpanProcessor] = (),
) -> DemoResult:
    """Generate the workload through OpenTelemetry into ``db_path`` and wait until it is stored.

    Args:
        db_path: the DuckDB file; created and migrated if needed.
        calls: how many LLM call spans to generate (exactly).
        seed: the same seed gives the same spans and ids.
        now_ns: end of the 14-day window, in ns since the epoch; the current time by default.
        span_processors: extra processors that see every span too (an OTLP exporter, a test's recorder).

    Returns:
        What was generated and what the processor did with it.

    Raises:
        ValueError: ``calls`` is out of range.
        otel_llm_cost.store.StoreUnavailable: the file cannot be opened for writing.
    """
    if not 1 <= calls <= MAX_CALLS:
        raise ValueError(f"calls must be between 1 and {MAX_CALLS}, got {calls}")
    began = time.monotonic()
    # Opened here, not lazily in the worker, so a locked or missing folder fails before any work.
    store = DuckDBStore(db_path)
    processor = LLMCostSpanProcessor(store=store, flush_at_exit=False)
    ids = SeededIdGenerator(seed)
    providers: list[TracerProvider] = []
    tracers: dict[str, trace.Tracer] = {}
    for name, environment, version in SERVICES:
        resource = Resource.create(
            {"service.name": name, "service.version": version, "deployment.environment.name": environment}
        )
        provider = TracerProvider(resource=resource, id_generator=ids, shutdown_on_exit=False)
        provider.add_span_processor(processor)
        for extra in span_processors:
            provider.add_span_processor(extra)
        providers.append(provider)
        tracers[name] = provider.get_tracer("otel_llm_cost.demo")
    workload = _Workload(random.Random(seed), tracers, calls, now_ns if now_ns is not None else time.time_ns())
    try:
        workload.run(processor.force_flush)
    finally:
        processor.shutdown()  # writes what is queued and closes the store
        for provider in providers:
            provider.shutdown()
    result = workload.result
    stats = processor.stats()
    result.db_path, result.seed = str(db_path), seed
    result.stored, result.already_present = stats.stored, stats.already_stored
    result.unpriced, result.dropped = stats.unpriced, stats.dropped
    result.seconds = time.monotonic() - began
    if result.dropped:
        logger.warning("%d demo spans were dropped before reaching the database", result.dropped)
    return result
