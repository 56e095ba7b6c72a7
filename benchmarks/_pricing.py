"""Figure 4: pricing one call, ``Pricer().price(record)`` vs ``genai_prices.calc_price``.

Both price the same normalised :class:`CallRecord` objects (the model mix of ``_workload`` at days
around effective-dated price changes, with cache reads/writes, reasoning and >200k-token inputs).
Before any timing, every input is priced both ways and the totals must be equal as Decimals:
a mismatch is a hard failure of the run, not a footnote.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from _common import gc_paused, interleaved, median, ratio_summary
from _workload import MODELS, make_spans, pricing_start_times_ns
from genai_prices import Usage, calc_price

from otel_llm_cost.conventions import CallRecord, to_call_record
from otel_llm_cost.pricing import Pricer

_PRICE_PROVIDER = {spec.request_model: spec.price_provider for spec in MODELS}
_CHUNK = 100


@dataclass(frozen=True)
class _Reference:
    usage: dict[str, int]
    model_ref: str
    provider_id: str
    timestamp: datetime


def _reference_input(record: CallRecord) -> _Reference:
    """What a caller of genai-prices would pass for the same call."""
    usage = {
        "input_tokens": record.input_tokens,
        "cache_read_tokens": record.cache_read_tokens,
        "cache_write_tokens": record.cache_write_tokens,
        "output_tokens": record.output_tokens,
        "output_reasoning_tokens": record.reasoning_tokens,
        "cache_write_1h_tokens": getattr(record, "cache_write_1h_tokens", None),
    }
    assert record.request_model is not None
    return _Reference(
        usage={key: value for key, value in usage.items() if value is not None},
        # The Pricer tries the response model first, as the model that actually answered.
        model_ref=record.response_model or record.request_model,
        provider_id=_PRICE_PROVIDER[record.request_model],
        timestamp=datetime.fromtimestamp(record.start_time_ns / 1e9, tz=timezone.utc),
    )


def _calc_price(reference: _Reference) -> Decimal:
    result = calc_price(
        Usage(**reference.usage),
        reference.model_ref,
        provider_id=reference.provider_id,
        genai_request_timestamp=reference.timestamp,
    )
    return result.total_price


def verify(records: list[CallRecord], references: list[_Reference], pricer: Pricer) -> dict[str, Any]:
    """Price every input both ways; return the count and the first mismatches (Decimal equality)."""
    mismatches: list[dict[str, Any]] = []
    count = 0
    for record, reference in zip(records, references, strict=True):
        ours = pricer.price(record)
        try:
            theirs: Decimal | str = _calc_price(reference)
        except Exception as exc:  # a reference failure is a mismatch too
            theirs = f"{type(exc).__name__}: {exc}"
        if ours.computed_cost_usd is None or not isinstance(theirs, Decimal) or ours.computed_cost_usd != theirs:
            count += 1
            if len(mismatches) < 10:
                mismatches.append(
                    {
                        "model": reference.model_ref,
                        "provider": reference.provider_id,
                        "timestamp": reference.timestamp.isoformat(),
                        "usage": reference.usage,
                        "pricer": str(ours.computed_cost_usd),
                        "pricer_status": ours.pricing_status,
                        "pricer_detail": ours.pricing_detail,
                        "calc_price": str(theirs),
                    }
                )
    return {"inputs": len(records), "mismatches": count, "examples": mismatches}


def run(*, inputs: int, rounds: int, pricer_repeats: int, seed: int = 4) -> dict[str, Any]:
    spans = make_spans(inputs, seed=seed, start_times_ns=pricing_start_times_ns())
    records = [record for record in (to_call_record(span) for span in spans) if record is not None]
    references = [_reference_input(record) for record in records]
    models = sorted({(r.provider_id, r.model_ref) for r in references})
    long_context = sum(1 for r in references if r.usage.get("input_tokens", 0) > 200_000)

    # A cold Pricer resolves each (provider, model, day) once; report that one-off cost on its own.
    pricer = Pricer()
    with gc_paused():
        start = time.perf_counter_ns()
        for record in records:
            pricer.price(record)
        cold_ns = time.perf_counter_ns() - start
    identity = verify(records, references, pricer)

    ours_us: list[float] = []
    theirs_us: list[float] = []
    ratios: list[float] = []
    price = pricer.price
    for _, baseline_first in interleaved(rounds):
        # Alternate in chunks of _CHUNK inputs (A B B A ...): a burst of noise from a neighbour
        # lands on both sides instead of on whichever happened to be running.
        theirs_ns = ours_ns = 0
        with gc_paused():
            for chunk_index, offset in enumerate(range(0, len(records), _CHUNK)):
                chunk_records = records[offset : offset + _CHUNK]
                chunk_references = references[offset : offset + _CHUNK]
                for side in (
                    ("baseline", "candidate") if (chunk_index % 2 == 0) == baseline_first else ("candidate", "baseline")
                ):
                    start = time.perf_counter_ns()
                    if side == "baseline":
                        for reference in chunk_references:
                            _calc_price(reference)
                        theirs_ns += time.perf_counter_ns() - start
                    else:
                        for _ in range(pricer_repeats):
                            for record in chunk_records:
                                price(record)
                        ours_ns += time.perf_counter_ns() - start
        theirs_us.append(theirs_ns / len(references) / 1000)
        ours_us.append(ours_ns / (len(records) * pricer_repeats) / 1000)
        ratios.append(theirs_us[-1] / ours_us[-1])

    return {
        "inputs": len(records),
        "distinct_models": len(models),
        "long_context_inputs": long_context,
        "days": len(pricing_start_times_ns()),
        "pricer_us_per_span": median(ours_us),
        "calc_price_us_per_span": median(theirs_us),
        "speedup": ratio_summary(ratios),
        "pricer_cold_us_per_span": cold_ns / len(records) / 1000,
        "identity": identity,
    }
