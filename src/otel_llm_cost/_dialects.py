"""Where each instrumentation library puts each concept: one small table per concept.

Every tuple lists attribute names in order of preference; the first one present on a span wins.
The OTel GenAI conventions come first, then the libraries that predate or ignore them. Sources and
versions are in shared/CONVENTIONS.md and the README's table.
"""

from __future__ import annotations

from typing import Final

from otel_llm_cost import attributes as a

PROVIDER: Final = (
    a.GEN_AI_PROVIDER_NAME,
    a.GEN_AI_SYSTEM,  # also Vercel AI SDK, with values like "openai.chat"
    "llm.provider",  # OpenInference (inferred from the host; absent for a custom base_url)
    "llm.system",  # OpenInference
)
REQUEST_MODEL: Final = (
    a.GEN_AI_REQUEST_MODEL,
    "llm.request.model_name",  # OpenInference Anthropic
    "ai.model.id",  # Vercel AI SDK
    "langfuse.observation.model.name",
)
RESPONSE_MODEL: Final = (
    a.GEN_AI_RESPONSE_MODEL,
    "llm.response.model_name",  # OpenInference Anthropic
    "llm.model_name",  # OpenInference: the response model
    "embedding.model_name",  # OpenInference embeddings
    "ai.response.model",  # Vercel AI SDK
)
INPUT_TOKENS: Final = (
    a.GEN_AI_USAGE_INPUT_TOKENS,
    a.GEN_AI_USAGE_PROMPT_TOKENS,  # semconv < 1.27, OpenLLMetry before 2025
    "llm.token_count.prompt",  # OpenInference
    "ai.usage.inputTokens",  # Vercel AI SDK 5+
    "ai.usage.promptTokens",  # Vercel AI SDK 4
    "llm.usage.prompt_tokens",
)
OUTPUT_TOKENS: Final = (
    a.GEN_AI_USAGE_OUTPUT_TOKENS,
    a.GEN_AI_USAGE_COMPLETION_TOKENS,
    "llm.token_count.completion",
    "ai.usage.outputTokens",
    "ai.usage.completionTokens",
    "llm.usage.completion_tokens",
)
CACHE_READ_TOKENS: Final = (
    a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    "gen_ai.usage.cache_read_input_tokens",  # OpenLLMetry before 2026-03
    "llm.token_count.prompt_details.cache_read",  # OpenInference
    "gen_ai.usage.details.cache_read_tokens",  # pydantic-ai
    "ai.usage.inputTokenDetails.cacheReadTokens",  # Vercel AI SDK 6
    "ai.usage.cachedInputTokens",  # Vercel AI SDK 5
    "gen_ai.usage.input_tokens.cached",  # Sentry
)
CACHE_WRITE_TOKENS: Final = (
    a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,  # GenAI repo (unreleased), anthropic SDK native
    a.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,  # semconv 1.40/1.41, OpenLLMetry, OpenLIT
    "gen_ai.usage.cache_creation_input_tokens",  # OpenLLMetry before 2026-03
    "llm.token_count.prompt_details.cache_write",  # OpenInference
    "gen_ai.usage.details.cache_write_tokens",  # pydantic-ai
    "ai.usage.inputTokenDetails.cacheWriteTokens",  # Vercel AI SDK 6
)
# The part of the cache writes kept for one hour (priced above the 5-minute default).
CACHE_WRITE_1H_TOKENS: Final = ("anthropic.usage.cache_creation.ephemeral_1h_input_tokens",)
# Input without any cache tokens, where a library states it apart (Vercel AI SDK 6).
UNCACHED_INPUT_TOKENS: Final = ("ai.usage.inputTokenDetails.noCacheTokens",)
REASONING_TOKENS: Final = (
    a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
    "gen_ai.usage.reasoning_tokens",  # OpenLLMetry, OpenLIT (non-standard)
    "llm.usage.reasoning_tokens",  # OpenLLMetry, old
    "llm.token_count.completion_details.reasoning",  # OpenInference
    "gen_ai.usage.details.reasoning_tokens",  # pydantic-ai
    "ai.usage.outputTokenDetails.reasoningTokens",  # Vercel AI SDK 6
    "ai.usage.reasoningTokens",  # Vercel AI SDK 5
    "gen_ai.usage.output_tokens.reasoning",  # Sentry
)
# Modality details (OTel GenAI repo main; OpenInference), each a subset of the input or output total.
INPUT_AUDIO_TOKENS: Final = ("gen_ai.usage.audio.input_tokens", "llm.token_count.prompt_details.audio")
CACHE_AUDIO_READ_TOKENS: Final = ("gen_ai.usage.audio.cache_read.input_tokens",)
OUTPUT_AUDIO_TOKENS: Final = ("gen_ai.usage.audio.output_tokens", "llm.token_count.completion_details.audio")
INPUT_IMAGE_TOKENS: Final = ("gen_ai.usage.image.input_tokens", "llm.token_count.prompt_details.image")
CACHE_IMAGE_READ_TOKENS: Final = ("gen_ai.usage.image.cache_read.input_tokens",)
OUTPUT_IMAGE_TOKENS: Final = ("gen_ai.usage.image.output_tokens", "llm.token_count.completion_details.image")
# The tier that served the call: the response's word first (a request may say "auto").
SERVICE_TIER: Final = (
    "openai.response.service_tier",  # GenAI repo; otel openai-v2
    "gen_ai.openai.response.service_tier",  # semconv < 1.37
    "anthropic.response.service_tier",  # anthropic SDK native tracing (usage.service_tier)
    "openai.request.service_tier",
    "gen_ai.openai.request.service_tier",
    "anthropic.request.service_tier",
)
# A cost the emitter computed, in USD.
REPORTED_COST: Final = (
    a.GEN_AI_USAGE_COST_AMOUNT,  # proposed semconv (with gen_ai.usage.cost.currency)
    "gen_ai.usage.cost",  # OpenLIT
    "operation.cost",  # Logfire / pydantic-ai (genai-prices)
    "llm.cost.total",  # OpenInference
)
USER_ID: Final = (
    a.USER_ID,  # semconv, OpenInference
    a.ENDUSER_ID,
    "traceloop.association.properties.user_id",
    "langfuse.user.id",
    "ai.telemetry.metadata.userId",
    "gen_ai.request.user",  # OpenLIT: the API's `user` field
)
CONVERSATION_ID: Final = (
    a.GEN_AI_CONVERSATION_ID,
    "session.id",  # OpenInference, Langfuse
    "traceloop.association.properties.session_id",
    "langfuse.session.id",
    "ai.telemetry.metadata.sessionId",
    "anthropic.session.thread.id",
)
CUSTOMER_ID: Final = (
    "traceloop.association.properties.customer_id",
    "customer.id",
    "ai.telemetry.metadata.customerId",
)
AGENT_NAME: Final = (a.GEN_AI_AGENT_NAME, "agent.name")
ENVIRONMENT: Final = (a.DEPLOYMENT_ENVIRONMENT_NAME, a.DEPLOYMENT_ENVIRONMENT, "langfuse.environment")

# JSON-valued attributes holding usage or cost objects.
RAW_PROVIDER_USAGE: Final = "gen_ai.usage.raw"  # Logfire: the provider's own usage object
LANGFUSE_USAGE_DETAILS: Final = "langfuse.observation.usage_details"
LANGFUSE_COST_DETAILS: Final = "langfuse.observation.cost_details"

# --- call or aggregate --------------------------------------------------------------------------
OPENINFERENCE_SPAN_KIND: Final = "openinference.span.kind"
OPENINFERENCE_CALL_KINDS: Final = frozenset({"LLM", "EMBEDDING"})
TRACELOOP_SPAN_KIND: Final = "traceloop.span.kind"
TRACELOOP_AGGREGATE_KINDS: Final = frozenset({"workflow", "task", "agent", "tool"})
VERCEL_OPERATION_ID: Final = "ai.operationId"
# Vercel's outer spans repeat (or sum) their doGenerate/doStream children's usage.
VERCEL_AGGREGATE_OPERATIONS: Final = frozenset(
    {"ai.generateText", "ai.streamText", "ai.generateObject", "ai.streamObject", "ai.embed", "ai.embedMany"}
)
LANGFUSE_OBSERVATION_TYPE: Final = "langfuse.observation.type"
# Aggregate spans that are runs worth a row of their own (llm_agent_runs), by dialect.
RUN_OPERATIONS: Final = frozenset({"invoke_agent", "invoke_workflow"})
OPENINFERENCE_RUN_KINDS: Final = frozenset({"AGENT"})
TRACELOOP_RUN_KINDS: Final = frozenset({"agent", "workflow"})
LANGFUSE_RUN_TYPES: Final = frozenset({"agent"})
# Usage an aggregate span claims for itself (pydantic-ai puts it under gen_ai.aggregated_usage.*).
AGGREGATED_INPUT_TOKENS: Final = (*INPUT_TOKENS, "gen_ai.aggregated_usage.input_tokens")
AGGREGATED_OUTPUT_TOKENS: Final = (*OUTPUT_TOKENS, "gen_ai.aggregated_usage.output_tokens")
LANGFUSE_CALL_TYPES: Final = frozenset({"generation", "embedding"})

# Scopes whose streamed calls put the usage on a separate span: Logfire ends the request span when
# the stream opens and logs "streaming response ... took" with the usage later. Their request span
# without usage is not the call record (unless it failed: then it is a failed call).
USAGE_ELSEWHERE_SCOPES: Final = ("logfire.",)

# Instrumentation scopes whose input_tokens leave the cache tokens out, by provider. OpenLIT's
# Anthropic instrumentor copies Anthropic's own `input_tokens`, which is the uncached part only.
INPUT_EXCLUDES_CACHE: Final = (("openlit", "anthropic"),)

# Any of these on a span sends it to the worker thread for a closer look.
MARKERS: Final = frozenset(
    {
        a.GEN_AI_OPERATION_NAME,
        *PROVIDER,
        *REQUEST_MODEL,
        *RESPONSE_MODEL,
        *INPUT_TOKENS,
        *OUTPUT_TOKENS,
        RAW_PROVIDER_USAGE,
        LANGFUSE_USAGE_DETAILS,
        # Run spans (agents, workflows) carry no usage of their own in these dialects, but the
        # worker records them so calls can be attributed to their run.
        OPENINFERENCE_SPAN_KIND,
        TRACELOOP_SPAN_KIND,
        VERCEL_OPERATION_ID,
        LANGFUSE_OBSERVATION_TYPE,
    }
)
