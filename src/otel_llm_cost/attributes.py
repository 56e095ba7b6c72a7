"""Attribute names this package reads from spans and writes onto forwarded spans.

We keep our own constants instead of importing ``opentelemetry.semconv._incubating``: that package
marks every ``gen_ai.*`` constant as deprecated ("moved" to the GenAI conventions repository, which
has no release yet), and its names change between versions. Conventions that libraries still emit
after a rename are listed here too, as aliases, so one module knows every spelling.
"""

from __future__ import annotations

from typing import Final

# --- OTel GenAI semantic conventions (v1.41 and the unreleased GenAI repository) ---------------
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
# v1.40/v1.41 spell the cache write "cache_creation"; the GenAI repository renamed it "cache_write" (PR #440).
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
# Proposed in semantic-conventions-genai PR #443 (open): a cost the emitter already computed.
GEN_AI_USAGE_COST_AMOUNT: Final = "gen_ai.usage.cost.amount"
GEN_AI_USAGE_COST_CURRENCY: Final = "gen_ai.usage.cost.currency"
GEN_AI_USAGE_COST_SOURCE: Final = "gen_ai.usage.cost.source"

# --- Deprecated names still emitted by older instrumentation ----------------------------------
# gen_ai.system was replaced by gen_ai.provider.name in semconv v1.37.0.
GEN_AI_SYSTEM: Final = "gen_ai.system"
# prompt/completion tokens were renamed to input/output tokens in semconv v1.27.0.
GEN_AI_USAGE_PROMPT_TOKENS: Final = "gen_ai.usage.prompt_tokens"
GEN_AI_USAGE_COMPLETION_TOKENS: Final = "gen_ai.usage.completion_tokens"

# --- General semantic conventions used for attribution -----------------------------------------
SERVICE_NAME: Final = "service.name"
DEPLOYMENT_ENVIRONMENT_NAME: Final = "deployment.environment.name"
DEPLOYMENT_ENVIRONMENT: Final = "deployment.environment"  # deprecated spelling, still common
USER_ID: Final = "user.id"
ENDUSER_ID: Final = "enduser.id"  # deprecated in favour of user.id
ERROR_TYPE: Final = "error.type"

# --- Operation names (values of gen_ai.operation.name) ----------------------------------------
# Operations whose spans report the usage of one provider call.
CALL_OPERATIONS: Final = frozenset({"chat", "text_completion", "generate_content", "embeddings"})
# Operations whose spans, when they carry usage at all, carry the sum of their children's calls.
AGGREGATE_OPERATIONS: Final = frozenset(
    {"invoke_agent", "create_agent", "execute_tool", "invoke_workflow", "plan", "retrieval", "fetch_response"}
)

# --- Attributes we add to the spans we forward -------------------------------------------------
# OpenLIT's name: a USD float. Grafana's GenAI dashboards (OpenLIT shape) sum it. With it, the
# proposed gen_ai.usage.cost.amount / .currency / .source above.
GEN_AI_USAGE_COST: Final = "gen_ai.usage.cost"
# Ours, under one prefix. The breakdown adds up to the computed cost (as llm_calls' columns do).
LLM_COST_PRICING_STATUS: Final = "llm.cost.pricing_status"  # always set
LLM_COST_PRICING_DETAIL: Final = "llm.cost.pricing_detail"  # why a call is unpriced, when known
LLM_COST_INPUT_USD: Final = "llm.cost.input_usd"  # uncached input tokens
LLM_COST_CACHE_READ_USD: Final = "llm.cost.cache_read_usd"
LLM_COST_CACHE_WRITE_USD: Final = "llm.cost.cache_write_usd"
LLM_COST_OUTPUT_USD: Final = "llm.cost.output_usd"  # reasoning included
LLM_COST_OTHER_USD: Final = "llm.cost.other_usd"  # per-request fees and other units
LLM_COST_REPORTED_USD: Final = "llm.cost.reported_usd"  # the cost the span carried, if any
LLM_COST_PRICED_MODEL: Final = "llm.cost.priced_model"  # the catalog model that was priced
# Set (true) only on a span that reports a call another span already reported: sum costs over
# spans without it, or count the call twice.
LLM_COST_IS_DUPLICATE: Final = "llm.cost.is_duplicate"

# --- Attributes the pytest plugin sets ----------------------------------------------------------
# The pytest node id of the test that was running when the span started (stored in llm_calls.test_id).
LLM_COST_TEST_ID: Final = "otel_llm_cost.test_id"
