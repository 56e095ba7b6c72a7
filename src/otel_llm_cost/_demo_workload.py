"""The demo's workload: what five services do with LLMs, and how many tokens and when.

Each scenario writes one or more whole traces through :class:`~otel_llm_cost._demo_calls._SpanWriter`:
a multi-turn support chat whose agent (``invoke_agent``, an aggregate of its children's usage, never
a call) uses Anthropic prompt caching and a tool, retrieval-augmented search with OpenAI's automatic
prefix caching, a queue consumer embedding and summarising documents, a code-review bot on reasoning
models, and a playground mostly calling a model no price catalog knows. Token counts are log-normal,
users Zipf-like, and start times spread over the 14 UTC days up to ``now``.

Everything is drawn from one ``random.Random``, in an order that does not depend on ``now``, so a seed
always makes the same spans (and, with the runner's seeded id generator, the same ids).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_llm_cost import attributes as a
from otel_llm_cost._demo_calls import (
    _S,
    ACME,
    EMBEDDING,
    GEMINI_FLASH,
    GPT_4O,
    GPT_4O_MINI,
    GPT_5,
    HAIKU,
    O4_MINI,
    SONNET,
    _Caller,
    _SpanWriter,
    _Usage,
)

WINDOW_DAYS = 14
_DAY_NS = 86_400 * _S
# Flush this often so the processor's bounded queue never fills (a full queue drops spans).
_FLUSH_EVERY_CALLS = 1000


class _Workload(_SpanWriter):
    """The scenarios, picked at random by weight until the budget of calls is spent; each writes whole traces."""

    def __init__(self, rng: random.Random, tracers: dict[str, trace.Tracer], calls: int, now_ns: int) -> None:
        super().__init__(rng, tracers, calls)
        self.now_ns = now_ns
        # The window is today and the 13 UTC days before, as `otel-llm-cost report` shows them.
        self.window_start_ns = (now_ns // _DAY_NS - (WINDOW_DAYS - 1)) * _DAY_NS
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
