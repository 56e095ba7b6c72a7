"""Agent and workflow spans are not calls; their cost is the sum of the calls they contain."""

from __future__ import annotations

from decimal import Decimal

from conftest import chat_attributes, query
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from otel_llm_cost import LLMCostSpanProcessor

Traced = tuple[TracerProvider, LLMCostSpanProcessor]


def test_cost_per_agent_run_is_the_sum_of_its_calls(traced: Traced, db_path: str) -> None:
    provider, processor = traced
    tracer = provider.get_tracer("pydantic-ai")
    with tracer.start_as_current_span("POST /ask"):
        agent_attributes = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "support",
            "gen_ai.conversation.id": "conv-1",
            # pydantic-ai repeats its children's usage on the agent span: never added to totals
            "gen_ai.aggregated_usage.input_tokens": 2000,
            "gen_ai.aggregated_usage.output_tokens": 200,
        }
        with tracer.start_as_current_span("invoke_agent support", attributes=agent_attributes):
            tracer.start_span("chat gpt-4o-mini", attributes=chat_attributes()).end()
            with tracer.start_as_current_span("running tool", attributes={"gen_ai.operation.name": "execute_tool"}):
                pass
            with tracer.start_as_current_span("step 2"):  # an intermediate span with no GenAI attributes
                tracer.start_span("chat gpt-4o-mini", attributes=chat_attributes()).end()
        tracer.start_span("chat gpt-4o-mini", attributes=chat_attributes()).end()  # after the run
    processor.force_flush()

    assert query(db_path, "SELECT count(*), sum(cost_usd) FROM llm_calls") == [(3, Decimal("0.00063"))]
    rows = query(
        db_path,
        "SELECT run_kind, agent_name, conversation_id, calls, unpriced_calls, input_tokens, output_tokens, cost_usd,"
        " reported_input_tokens, reported_output_tokens FROM llm_cost_by_agent_run",
    )
    # Two calls of 1000 in / 100 out on gpt-4o-mini ($0.00021 each); the run's own claim kept apart.
    assert rows == [("invoke_agent", "support", "conv-1", 2, 0, 2000, 200, Decimal("0.00042"), 2000, 200)]
    stats = processor.stats()
    assert (stats.stored, stats.not_calls) == (3, 2)  # the agent span and the tool span are not calls


def test_a_sub_agent_counts_in_its_own_run_and_in_the_run_that_called_it(traced: Traced, db_path: str) -> None:
    provider, processor = traced
    tracer = provider.get_tracer("agents")
    outer = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"}
    inner = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "researcher"}
    with tracer.start_as_current_span("invoke_agent planner", attributes=outer):
        tracer.start_span("chat", attributes=chat_attributes()).end()
        with tracer.start_as_current_span("invoke_agent researcher", attributes=inner):
            tracer.start_span("chat", attributes=chat_attributes(gen_ai__usage__output_tokens=1000)).end()
    processor.force_flush()
    rows = query(db_path, "SELECT agent_name, calls, cost_usd FROM llm_cost_by_agent_run ORDER BY agent_name")
    # researcher: 1000 x $0.15 + 1000 x $0.60 per million = $0.00075; planner adds its own $0.00021
    assert rows == [("planner", 2, Decimal("0.00096")), ("researcher", 1, Decimal("0.00075"))]


def test_runs_in_other_traces_do_not_claim_calls(traced: Traced, db_path: str) -> None:
    provider, processor = traced
    tracer = provider.get_tracer("agents")
    with tracer.start_as_current_span("invoke_agent a", attributes={"gen_ai.operation.name": "invoke_agent"}):
        # a call at the same time but in a new trace (context=an empty one) is not part of the run
        tracer.start_span("chat", attributes=chat_attributes(), context=trace.set_span_in_context(
            trace.INVALID_SPAN)).end()  # fmt: skip
    processor.force_flush()
    assert query(db_path, "SELECT calls, cost_usd FROM llm_cost_by_agent_run") == [(0, None)]
