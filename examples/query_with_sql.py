"""Query the cost database with plain SQL: the views are the documented interface.

Run ``otel-llm-cost demo`` first, then ``python examples/query_with_sql.py [path.duckdb]``.
The file is opened read-only, so this works while no process is writing it.
"""

from __future__ import annotations

import os
import sys
from decimal import Decimal

import duckdb

path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OTEL_LLM_COST_DB", "llm-cost.duckdb")
con = duckdb.connect(path, read_only=True)
con.execute("SET TimeZone = 'UTC'")  # the views count UTC days

print("Cost per day over the last 7 days (unpriced calls are counted, never priced as $0):")
for day, calls, unpriced, cost in con.execute(
    """
    SELECT day, sum(calls), sum(unpriced_calls), sum(cost_usd)
    FROM llm_daily_cost
    WHERE day > current_date - INTERVAL 7 DAY
    GROUP BY day ORDER BY day
    """
).fetchall():
    shown = f"${cost:.4f}" if cost is not None else "n/a (no priced call)"
    print(f"  {day}  {calls:>6} calls  {unpriced:>4} unpriced  {shown:>11}")

print("\nThe three most expensive conversations:")
for conversation, user, calls, cost, models in con.execute(
    """
    SELECT conversation_id, user_id, calls, cost_usd, models
    FROM llm_cost_by_conversation
    ORDER BY cost_usd DESC NULLS LAST LIMIT 3
    """
).fetchall():
    shown = f"${cost:.4f}" if cost is not None else "n/a"
    print(f"  {conversation}  {user}  {calls} calls  {shown}  {', '.join(m for m in models if m)}")

print("\nWhat prompt caching saved, per model (cache reads billed at the cache rate, not the input rate):")
# DuckDB divides DECIMALs in floating point, so the division by a million happens in Python.
for model, cache_read, saved_per_million in con.execute(
    """
    SELECT c.priced_model, sum(c.cache_read_tokens),
           sum(c.cache_read_tokens * (p.input_mtok - p.cache_read_mtok))
    FROM llm_calls c JOIN model_prices p USING (price_id)
    WHERE c.cache_read_tokens > 0 AND NOT c.is_duplicate
    GROUP BY ALL ORDER BY 3 DESC
    """
).fetchall():
    saved = saved_per_million / Decimal(1_000_000)
    print(f"  {model:<20} {cache_read:>12,} cached tokens  saved ${saved:.4f}")

print("\nCalls without a price, and why:")
for provider, model, status, calls, tokens in con.execute(
    """
    SELECT provider, coalesce(response_model, request_model), pricing_status, count(*),
           coalesce(sum(input_tokens + output_tokens), 0)
    FROM llm_unpriced_calls GROUP BY ALL ORDER BY 4 DESC
    """
).fetchall():
    print(f"  {provider}/{model}: {calls} calls, {tokens:,} tokens ({status})")
con.close()
